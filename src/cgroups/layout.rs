//! Which cgroup hierarchies this host has, read from /proc/self/mountinfo.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// v1: the controllers bound to this hierarchy (and `name=...`); v2: empty.
    pub controllers: Vec<String>,
    pub v2: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    pub fn detect() -> Layout {
        let mountinfo = crate::util::procfs::ProcFs::host().and_then(|p| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut p.open("self/mountinfo", libc::O_RDONLY)?, &mut s).map(|_| s)
        });
        match mountinfo {
            Ok(s) => Layout::parse(&s),
            Err(_) => Layout::default(),
        }
    }

    /// Parses mountinfo. On a pure v2 host there is one cgroup2 hierarchy; on a v1 or
    /// hybrid host, every v1 hierarchy plus the cgroup2 mount beside them, if any.
    pub fn parse(mountinfo: &str) -> Layout {
        let mut hierarchies = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else { continue };
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 3 {
                continue;
            }
            let mountpoint = PathBuf::from(crate::util::mount::unescape_mountinfo(l[4]));
            match r[0] {
                "cgroup2" => hierarchies.push(Hierarchy { mountpoint, controllers: vec![], v2: true }),
                "cgroup" => {
                    let controllers: Vec<String> = r[2]
                        .split(',')
                        .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent") && *o != "clone_children" && *o != "noprefix" && *o != "xattr")
                        .map(str::to_string)
                        .collect();
                    if !controllers.is_empty() && !hierarchies.iter().any(|h: &Hierarchy| h.controllers == controllers) {
                        hierarchies.push(Hierarchy { mountpoint, controllers, v2: false });
                    }
                }
                _ => {}
            }
        }
        Layout { hierarchies }
    }

    pub fn is_v2_only(&self) -> bool {
        !self.hierarchies.is_empty() && self.hierarchies.iter().all(|h| h.v2)
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_host() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n\
                  31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                  32 25 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                  33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                  34 25 0:30 / /x\\040y rw - tmpfs tmpfs rw\n";
        let l = Layout::parse(mi);
        assert_eq!(l.hierarchies.len(), 4);
        assert_eq!(l.hierarchies[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(l.hierarchies[2].controllers, vec!["name=systemd"]);
        assert!(l.hierarchies[3].v2);
        assert!(!l.is_v2_only());
        assert_eq!(crate::util::mount::unescape_mountinfo("/x\\040y"), "/x y");
    }
}
