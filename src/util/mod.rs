//! Small helpers shared by every module: Go's error texts, time stamps, atomic files, /proc readers, the
//! verified procfs handle and the fd-based mount API.

pub mod errno;
pub mod fs;
pub mod mount;
pub mod proc;
pub mod procfs;
pub mod testpoint;
pub mod time;
