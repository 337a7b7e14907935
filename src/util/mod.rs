//! Small helpers shared by every module: time stamps, atomic files, /proc readers.

pub mod fs;
pub mod proc;
pub mod time;
