//! cgroup2 device control. cgroup2 has no devices.allow/deny files: the kernel asks an
//! eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the cgroup. berth generates the
//! program from the same structured rules v1 writes as text (resources::device_rules), loads it
//! with bpf(2) and attaches it; on update the new program replaces the old ones.
//!
//! Semantics as the v1 controller (and runc's emulator): rules apply in order, the last
//! one matching a device wins; a wildcard rule (`a *:* rwm`) resets the default to its
//! own verdict and makes every earlier rule moot. The program checks the rules last
//! first and returns at the first match, else the default.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::Error;

pub use super::resources::DeviceRule as Rule;
use super::resources::{MKNOD, READ, WRITE};

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let o = off.to_le_bytes();
    let i = imm.to_le_bytes();
    [code, (src << 4) | dst, o[0], o[1], i[0], i[1], i[2], i[3]]
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// The program for `rules` (in config order).
pub fn program(rules: &[Rule]) -> Vec<[u8; 8]> {
    let mut default_allow = true;
    let mut start = 0;
    for (i, r) in rules.iter().enumerate() {
        if r.typ == 'a' && r.major.is_none() && r.minor.is_none() && r.access == (READ | WRITE | MKNOD) {
            default_allow = r.allow;
            start = i + 1;
        }
    }
    // ctx: u32 access_type (access << 16 | type), u32 major, u32 minor
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules[start..].iter().rev() {
        let dev_type = match r.typ {
            'b' => Some(1),
            'c' => Some(2),
            'a' => None,
            _ => continue, // not a device type the controller sees
        };
        let mut checks: Vec<Vec<[u8; 8]>> = Vec::new();
        if let Some(t) = dev_type {
            checks.push(vec![insn(JNE_K, 2, 0, 0, t)]);
        }
        if r.access != (READ | WRITE | MKNOD) {
            // The requested access must be within the rule's.
            checks.push(vec![insn(MOV32_X, 1, 3, 0, 0), insn(AND32_K, 1, 0, 0, (!r.access & 7) as i32), insn(JNE_K, 1, 0, 0, 0)]);
        }
        if let Some(m) = r.major {
            checks.push(vec![insn(JNE_K, 4, 0, 0, m as i32)]);
        }
        if let Some(m) = r.minor {
            checks.push(vec![insn(JNE_K, 5, 0, 0, m as i32)]);
        }
        let mut block: Vec<[u8; 8]> = checks.into_iter().flatten().collect();
        block.push(insn(MOV64_K, 0, 0, 0, r.allow as i32));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Every jump of the block goes to its end (the next rule).
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins[0] == JNE_K {
                let off = (len - i - 1) as i16;
                ins[2..4].copy_from_slice(&off.to_le_bytes());
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV64_K, 0, 0, 0, default_allow as i32));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

fn bpf(cmd: i64, attr: &mut [u8; 128]) -> std::io::Result<i64> {
    // SAFETY: bpf(2) with a zero-padded attr buffer of the size passed.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn put32(a: &mut [u8; 128], off: usize, v: u32) {
    a[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(a: &mut [u8; 128], off: usize, v: u64) {
    a[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_ATTACH: i64 = 8;
const BPF_PROG_DETACH: i64 = 9;
const BPF_PROG_GET_FD_BY_ID: i64 = 13;
const BPF_PROG_QUERY: i64 = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Loads the program. Without a verifier log first: with one, a valid program whose log
/// outgrows the buffer fails with ENOSPC (found with containerd's default spec, ~20
/// device rules, on a 4 KiB buffer). Only a refused program is loaded again, with a log,
/// for the reason.
fn load(prog: &[[u8; 8]]) -> Result<OwnedFd, Error> {
    let license = b"Apache-2.0\0";
    let attempt = |log: &mut [u8]| {
        let mut a = [0u8; 128];
        put32(&mut a, 0, BPF_PROG_TYPE_CGROUP_DEVICE);
        put32(&mut a, 4, prog.len() as u32);
        put64(&mut a, 8, prog.as_ptr() as u64);
        put64(&mut a, 16, license.as_ptr() as u64);
        if !log.is_empty() {
            put32(&mut a, 24, 1);
            put32(&mut a, 28, log.len() as u32);
            put64(&mut a, 32, log.as_mut_ptr() as u64);
        }
        bpf(BPF_PROG_LOAD, &mut a)
    };
    let fd = match attempt(&mut []) {
        Ok(fd) => fd,
        Err(e) => {
            let mut log = vec![0u8; 1 << 20];
            let _ = attempt(&mut log);
            let text = String::from_utf8_lossy(&log).trim_end_matches('\0').trim().to_string();
            let tail: Vec<&str> = text.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(Error::Unsupported(format!("devices: cannot load the cgroup2 device program: {e} ({})", tail.join("; "))));
        }
    };
    // SAFETY: a new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The programs of our kind attached to the cgroup now.
fn attached(cg: &OwnedFd) -> Vec<OwnedFd> {
    let mut ids = [0u32; 64];
    let mut a = [0u8; 128];
    put32(&mut a, 0, cg.as_raw_fd() as u32);
    put32(&mut a, 4, BPF_CGROUP_DEVICE);
    put64(&mut a, 16, ids.as_mut_ptr() as u64);
    put32(&mut a, 24, ids.len() as u32);
    if bpf(BPF_PROG_QUERY, &mut a).is_err() {
        return Vec::new();
    }
    let n = u32::from_le_bytes([a[24], a[25], a[26], a[27]]) as usize;
    ids[..n.min(ids.len())]
        .iter()
        .filter_map(|id| {
            let mut b = [0u8; 128];
            put32(&mut b, 0, *id);
            // SAFETY: a new fd on success.
            bpf(BPF_PROG_GET_FD_BY_ID, &mut b).ok().map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
        })
        .collect()
}

/// Loads the program for `rules` and makes it the only device program of the cgroup.
pub fn apply(dir: &Path, rules: &[Rule]) -> Result<(), Error> {
    let prog = load(&program(rules))?;
    let cg = crate::util::fs::open_cloexec(dir).map(OwnedFd::from).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let old = attached(&cg);
    let mut a = [0u8; 128];
    put32(&mut a, 0, cg.as_raw_fd() as u32);
    put32(&mut a, 4, prog.as_raw_fd() as u32);
    put32(&mut a, 8, BPF_CGROUP_DEVICE);
    put32(&mut a, 12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut a).map_err(|e| Error::Unsupported(format!("devices: cannot attach the device program to {}: {e}", dir.display())))?;
    // Only after the new one is in place: no window without device control.
    for p in old {
        let mut d = [0u8; 128];
        put32(&mut d, 0, cg.as_raw_fd() as u32);
        put32(&mut d, 4, p.as_raw_fd() as u32);
        put32(&mut d, 8, BPF_CGROUP_DEVICE);
        let _ = bpf(BPF_PROG_DETACH, &mut d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(typ: char, major: Option<i64>, minor: Option<i64>, allow: bool) -> Rule {
        Rule { typ, major, minor, access: READ | WRITE | MKNOD, allow }
    }

    /// The kernel's verifier takes a program of containerd's size and more (it failed
    /// with ENOSPC when loaded with a 4 KiB log).
    #[test]
    fn a_program_of_many_rules_loads() {
        let mut rules = vec![rule('a', None, None, false)];
        rules.extend((0..60).map(|i| rule('c', Some(i), Some(i), true)));
        rules.extend(super::super::resources::DEFAULT_ALLOWED.iter().copied());
        match load(&program(&rules)) {
            Ok(_) => {}
            // A kernel without BPF for this program type (not this machine's).
            Err(e) if e.to_string().contains("Operation not permitted") => {}
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn rules_print_as_v1_text_and_a_wildcard_resets_the_default() {
        assert_eq!(Rule { access: READ | WRITE, ..rule('c', Some(1), Some(3), true) }.to_string(), "c 1:3 rw");
        assert_eq!(rule('c', Some(136), None, true).to_string(), "c 136:* rwm");
        assert_eq!(rule('a', None, None, false).to_string(), "a *:* rwm");
        let rules = vec![rule('c', Some(1), Some(3), true), rule('a', None, None, false), rule('c', Some(1), Some(5), true)];
        let p = program(&rules);
        // prologue 6 + one rule (type, major, minor, mov, exit = 5) + default 2; the rule
        // before the wildcard is dropped, and the default is deny.
        assert_eq!(p.len(), 6 + 5 + 2);
        assert_eq!(p[p.len() - 2], insn(MOV64_K, 0, 0, 0, 0));
        // The first jump of the rule skips to the rule's end.
        assert_eq!(i16::from_le_bytes([p[6][2], p[6][3]]), 4);
    }
}
