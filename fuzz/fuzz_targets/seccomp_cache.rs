//! The seccomp cache decoder on arbitrary file contents. The profile text an entry must
//! match is taken from the entry itself, so that inputs get past that check and reach
//! the counts, the filters and the checksum.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let n = data.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let text = data.get(4..4usize.saturating_add(n)).unwrap_or_default();
    let _ = berth::seccomp::decode_entry(data, &String::from_utf8_lossy(text));
});
