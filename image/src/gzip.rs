//! gzip decompression without the CRC-32 pass: every layer's uncompressed stream is
//! checked against its sha256 diff_id anyway (and the compressed one against its
//! digest), so gzip's own CRC would only repeat the check, at ~5% of a pull's CPU time.
//! The header is parsed as RFC 1952 says (FEXTRA, FNAME, FCOMMENT, FHCRC), the deflate
//! data inflated raw (zlib-rs through flate2), and several members follow each other,
//! as `MultiGzDecoder` reads them.

use std::io::{self, BufRead, Read};

use flate2::{Decompress, FlushDecompress, Status};

pub struct GzDecoder<R> {
    r: R,
    z: Decompress,
    /// Inside a member's deflate data (else before a header, or at the end).
    in_member: bool,
    done: bool,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {what}"))
}

impl<R: BufRead> GzDecoder<R> {
    pub fn new(r: R) -> Self {
        GzDecoder { r, z: Decompress::new(false), in_member: false, done: false }
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.r.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// Reads a member's header; false at a clean end of the stream.
    fn header(&mut self) -> io::Result<bool> {
        if self.r.fill_buf()?.is_empty() {
            return Ok(false);
        }
        let mut h = [0u8; 10];
        self.r.read_exact(&mut h).map_err(|_| bad("truncated header"))?;
        if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
            return Err(bad("not a gzip stream (or not deflate)"));
        }
        let flags = h[3];
        if flags & 4 != 0 {
            let len = u16::from_le_bytes([self.byte()?, self.byte()?]) as u64;
            io::copy(&mut (&mut self.r).take(len), &mut io::sink())?;
        }
        for flag in [8u8, 16] {
            if flags & flag != 0 {
                while self.byte()? != 0 {}
            }
        }
        if flags & 2 != 0 {
            self.byte()?;
            self.byte()?;
        }
        self.z.reset(false);
        Ok(true)
    }
}

impl<R: BufRead> Read for GzDecoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if !self.in_member {
                if !self.header()? {
                    self.done = true;
                    return Ok(0);
                }
                self.in_member = true;
            }
            let input = self.r.fill_buf()?;
            let eof = input.is_empty();
            let (before_in, before_out) = (self.z.total_in(), self.z.total_out());
            let status = self.z.decompress(input, out, if eof { FlushDecompress::Finish } else { FlushDecompress::None }).map_err(|e| bad(&e.to_string()))?;
            let consumed = (self.z.total_in() - before_in) as usize;
            let produced = (self.z.total_out() - before_out) as usize;
            self.r.consume(consumed);
            if status == Status::StreamEnd {
                // The trailer: CRC-32 (not checked, see above) and ISIZE.
                let mut t = [0u8; 8];
                self.r.read_exact(&mut t).map_err(|_| bad("truncated trailer"))?;
                self.in_member = false;
            } else if eof && produced == 0 && consumed == 0 {
                return Err(bad("truncated deflate data"));
            }
            if produced > 0 {
                return Ok(produced);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn members_follow_each_other_and_truncation_is_an_error() {
        let mut two = gz(b"hello ");
        two.extend(gz(&vec![b'x'; 300_000]));
        let mut out = Vec::new();
        GzDecoder::new(io::BufReader::new(&two[..])).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 6 + 300_000);
        assert!(out.starts_with(b"hello x"));
        let cut = &two[..two.len() - 20];
        assert!(GzDecoder::new(io::BufReader::new(cut)).read_to_end(&mut Vec::new()).is_err());
        assert!(GzDecoder::new(io::BufReader::new(&b"plain text"[..])).read_to_end(&mut Vec::new()).is_err());
        let mut empty = Vec::new();
        GzDecoder::new(io::BufReader::new(&b""[..])).read_to_end(&mut empty).unwrap();
        assert!(empty.is_empty());
    }
}
