//! process.capabilities: the five sets, applied with the caps crate.
//!
//! Order (as runc): drop the bounding set first while CAP_SETPCAP is still held, then keep
//! capabilities across the uid change (PR_SET_KEEPCAPS), then set effective, permitted,
//! inheritable and ambient to exactly what the config lists.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

#[derive(Debug, thiserror::Error)]
#[error("process.capabilities: cannot set the {set} set: {reason}")]
pub struct Error {
    set: &'static str,
    reason: String,
}

/// Converts names to caps' type. Capabilities this kernel does not know are skipped with
/// a warning, as runc does, so one config works on older and newer kernels.
fn convert(set: &Option<Capabilities>) -> CapsHashSet {
    let known: HashSet<Capability> = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") { name } else { format!("CAP_{name}") };
        match Capability::from_str(&name) {
            Ok(cap) if known.contains(&cap) => {
                out.insert(cap);
            }
            _ => crate::logging::warn(&format!("capability {name} is not supported by this kernel; ignored")),
        }
    }
    out
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

pub struct Plan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl Plan {
    pub fn new(c: &LinuxCapabilities) -> Plan {
        Plan {
            bounding: convert(c.bounding()),
            effective: convert(c.effective()),
            permitted: convert(c.permitted()),
            inheritable: convert(c.inheritable()),
            ambient: convert(c.ambient()),
        }
    }

    pub fn drop_bounding(&self) -> Result<(), Error> {
        for cap in caps::all() {
            if !self.bounding.contains(&cap) {
                if let Err(e) = caps::drop(None, CapSet::Bounding, cap) {
                    // A capability unknown to this kernel is not in the bounding set anyway.
                    if caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                        return Err(Error { set: "bounding", reason: e.to_string() });
                    }
                }
            }
        }
        Ok(())
    }

    pub fn apply(&self) -> Result<(), Error> {
        // One capset for the three sets: set one at a time, an intermediate state would
        // break the kernel's rule that effective stays within permitted.
        let mask = |v: &CapsHashSet| v.iter().fold(0u64, |m, c| m | (1u64 << c.index()));
        let (e, p, i) = (mask(&self.effective), mask(&self.permitted), mask(&self.inheritable));
        let header = CapHeader { version: 0x2008_0522, pid: 0 };
        let data = [
            CapData { effective: e as u32, permitted: p as u32, inheritable: i as u32 },
            CapData { effective: (e >> 32) as u32, permitted: (p >> 32) as u32, inheritable: (i >> 32) as u32 },
        ];
        // SAFETY: capset with a v3 header and two data elements, as the ABI requires.
        if unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) } != 0 {
            return Err(Error { set: "effective/permitted/inheritable", reason: std::io::Error::last_os_error().to_string() });
        }
        caps::clear(None, CapSet::Ambient).map_err(|e| Error { set: "ambient", reason: e.to_string() })?;
        for cap in &self.ambient {
            // Ambient needs the capability in permitted and inheritable; runc ignores the others.
            if self.permitted.contains(cap) && self.inheritable.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap).map_err(|e| Error { set: "ambient", reason: e.to_string() })?;
            }
        }
        Ok(())
    }
}
