// Linked with musl (the release build), berth brings its own allocator: musl's unmaps
// each freed page group at once, which made `list` of 500 containers 1.4-1.8x slower than
// with glibc (an mmap and a munmap per container read).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

// And its own memcpy, in place of musl's (mem/src/lib.rs). Named so that it is linked.
#[cfg(target_env = "musl")]
use berth_mem as _;

fn main() {
    std::process::exit(berth::cli::main())
}
