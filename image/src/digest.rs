//! Content digests (`sha256:<64 hex>`) and readers that compute them while a stream
//! passes through: every blob is checked as it arrives, every layer's uncompressed
//! stream against the config's diff_id.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a sha256 digest")]
pub struct BadDigest(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Only sha256 is accepted (what every registry and OCI image uses); its hex must be
    /// 64 lower-case characters, so that a digest is also a safe file name.
    pub fn parse(s: &str) -> Result<Digest, BadDigest> {
        match s.strip_prefix("sha256:") {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => Ok(Digest(s.to_string())),
            _ => Err(BadDigest(s.to_string())),
        }
    }

    pub fn of(data: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex(&Sha256::digest(data))))
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_hasher(h: Sha256) -> Digest {
        Digest(format!("sha256:{}", hex(&h.finalize())))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Passes a stream through, hashing it and counting its bytes.
pub struct Hashing<R> {
    inner: R,
    hash: Sha256,
    pub bytes: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing { inner, hash: Sha256::new(), bytes: 0 }
    }
}

impl<R> Hashing<R> {
    /// The digest of everything read (or written) so far.
    pub fn digest(&self) -> Digest {
        Digest(format!("sha256:{}", hex(&self.hash.clone().finalize())))
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<W> Hashing<W> {
    /// For a writer: layer.rs hashes what it writes (the uncompressed layer).
    pub fn new_writer(inner: W) -> Self {
        Hashing { inner, hash: Sha256::new(), bytes: 0 }
    }

    pub fn update(&mut self, b: &[u8]) {
        self.hash.update(b);
        self.bytes += b.len() as u64;
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked_and_computed() {
        let d = Digest::of(b"abc");
        assert_eq!(d.as_str(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(Digest::parse(d.as_str()).is_ok());
        for bad in ["sha256:ABC", "sha512:00", "sha256:../../etc", &format!("sha256:{}", "A".repeat(64))] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        let mut h = Hashing::new(&b"abc"[..]);
        let mut out = Vec::new();
        h.read_to_end(&mut out).unwrap();
        assert_eq!((h.digest(), h.bytes), (d, 3));
    }
}
