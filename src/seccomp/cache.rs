//! A cache of compiled filters under `<root>/.seccomp-cache/<hash>`, keyed by a hash of
//! berth's version and the profile's JSON (crun does the same), so that a repeated
//! profile costs no compile. An entry also holds the profile text it was compiled from
//! and is used only when that text is identical: a hash collision cannot hand a container
//! another profile's filter. An entry ends with a checksum of everything before it, and
//! every count in it is checked against the bytes that are really there (and against the
//! kernel's BPF_MAXINSNS) before anything is allocated: a truncated, corrupted or hostile
//! entry is ignored, compiled afresh and rewritten, never trusted and never a crash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use seccompiler::sock_filter;

use super::{compile, Compiled, Error, BPF_MAXINSNS};

/// Changes whenever the same profile compiles to other programs (2: one chained program
/// with runc's ENOSYS stub), so entries of an older compiler of the same version are
/// never used.
const COMPILER_REVISION: u32 = 2;

fn entry_path(root: &Path, text: &str) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    COMPILER_REVISION.hash(&mut h);
    text.hash(&mut h);
    root.join(".seccomp-cache").join(format!("{:016x}", h.finish()))
}

/// At most this many stacked filters per profile (one per action of its rules).
const MAX_FILTERS: usize = 64;

fn checksum(data: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

fn encode(text: &str, c: &Compiled) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&c.flags.to_le_bytes());
    out.extend_from_slice(&c.notify.map_or(u32::MAX, |n| n as u32).to_le_bytes());
    out.extend_from_slice(&(c.filters.len() as u32).to_le_bytes());
    for f in &c.filters {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        for i in f {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_le_bytes());
        }
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn decode(data: &[u8], text: &str, metadata: Option<String>) -> Option<Compiled> {
    let (data, sum) = data.split_at_checked(data.len().checked_sub(8)?)?;
    if checksum(data) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut p = 0usize;
    let u32_at = |p: &mut usize| -> Option<u32> {
        let v = u32::from_le_bytes(data.get(*p..*p + 4)?.try_into().ok()?);
        *p += 4;
        Some(v)
    };
    let tlen = u32_at(&mut p)? as usize;
    if data.get(p..p + tlen)? != text.as_bytes() {
        return None;
    }
    p += tlen;
    let flags = u32_at(&mut p)?;
    let notify = u32_at(&mut p)?;
    let n = u32_at(&mut p)? as usize;
    // Counts are checked before they size anything: each filter takes at least 4 bytes,
    // each instruction 8.
    if n > MAX_FILTERS || n > (data.len() - p) / 4 {
        return None;
    }
    let mut filters = Vec::with_capacity(n);
    for _ in 0..n {
        let len = u32_at(&mut p)? as usize;
        if len == 0 || len > BPF_MAXINSNS || len > (data.len() - p) / 8 {
            return None;
        }
        let mut f = Vec::with_capacity(len);
        for _ in 0..len {
            let b = data.get(p..p + 8)?;
            f.push(sock_filter { code: u16::from_le_bytes([b[0], b[1]]), jt: b[2], jf: b[3], k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]) });
            p += 8;
        }
        filters.push(f);
    }
    (p == data.len()).then_some(Compiled { filters, flags, notify: (notify != u32::MAX).then_some(notify as usize), listener_metadata: metadata })
}

/// Whether `data` decodes as a cache entry for the profile `text` (for the fuzz targets).
#[doc(hidden)]
pub fn decode_entry(data: &[u8], text: &str) -> bool {
    decode(data, text, None).is_some()
}

/// `compile`, through the cache under `root`.
pub fn compile_cached(root: &Path, s: &LinuxSeccomp) -> Result<Compiled, Error> {
    let Ok(text) = serde_json::to_string(s) else { return compile(s) };
    let path = entry_path(root, &text);
    if let Ok(data) = std::fs::read(&path) {
        if let Some(c) = decode(&data, &text, s.listener_metadata().clone()) {
            return Ok(c);
        }
    }
    let c = compile(s)?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
        let _ = crate::util::fs::write_atomic(&path, &encode(&text, &c), 0o600);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let s: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap();
        let root = std::env::temp_dir().join(format!("berth-seccomp-cache-{}", std::process::id()));
        let first = compile_cached(&root, &s).unwrap();
        let text = serde_json::to_string(&s).unwrap();
        let path = entry_path(&root, &text);
        assert!(path.exists(), "the compiled filter was cached");
        let second = compile_cached(&root, &s).unwrap();
        assert_eq!(first.filters, second.filters);
        // An entry whose stored profile differs is not used.
        assert!(decode(&std::fs::read(&path).unwrap(), "{}", None).is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn corrupt_entries_are_refused_without_allocating_and_rewritten() {
        let s: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }))
        .unwrap();
        let text = serde_json::to_string(&s).unwrap();
        let good = encode(&text, &compile(&s).unwrap());
        assert!(decode(&good, &text, None).is_some());
        // Every truncation, and every single-byte change, is refused.
        for cut in 0..good.len() {
            assert!(decode(&good[..cut], &text, None).is_none(), "truncated at {cut}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            assert!(decode(&bad, &text, None).is_none(), "byte {i} changed");
        }
        // A count of 0xffff_ffff filters (what made a create try to allocate 103 GB),
        // with a checksum that matches: refused by the bounds, not by an abort.
        let mut hostile = Vec::new();
        hostile.extend_from_slice(&(text.len() as u32).to_le_bytes());
        hostile.extend_from_slice(text.as_bytes());
        hostile.extend_from_slice(&0u32.to_le_bytes());
        hostile.extend_from_slice(&u32::MAX.to_le_bytes());
        for n in [u32::MAX, 1] {
            let mut h = hostile.clone();
            h.extend_from_slice(&n.to_le_bytes());
            h.extend_from_slice(&u32::MAX.to_le_bytes());
            let sum = checksum(&h);
            h.extend_from_slice(&sum.to_le_bytes());
            assert!(decode(&h, &text, None).is_none());
        }
        // Through the cache: a corrupt entry is replaced by a good one.
        let root = std::env::temp_dir().join(format!("berth-seccomp-cache-bad-{}", std::process::id()));
        let path = entry_path(&root, &text);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"\xff\xff\xff\xffgarbage").unwrap();
        let c = compile_cached(&root, &s).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), encode(&text, &c), "the bad entry was rewritten");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
