//! `memcpy` for berth's static musl build, in place of musl's.
//!
//! musl's x86_64 memcpy is a `rep movsq` with byte loops around it: each call pays the
//! string instruction's start-up (tens of cycles) whatever its size, and Rust calls
//! memcpy for every move of a value larger than a few words. `list` of 500 containers
//! made 13,000 calls (8 per container are moves of 170-220 byte records), which took
//! 7.5% of its time; a container start makes 3,300. Here copies of up to 256 bytes are
//! unaligned 16-byte loads and stores, larger ones `rep movsb` (fast on CPUs with ERMS,
//! and no slower than musl's elsewhere).
//!
//! memmove too: musl's jumps into its memcpy (`__memcpy_fwd`, in the same object), which
//! would bring that object, and a second memcpy, into the link. memmove copies forward
//! (as memcpy does: every byte loaded before a store can reach it) when the destination
//! is below the source, else backward.
//!
//! `no_builtins`: the compiler must not turn these loops back into calls to memcpy. Only
//! the musl build of the berth binary links it (the one that defines the symbol).
#![no_std]
#![no_builtins]

#[cfg(all(target_arch = "x86_64", target_env = "musl", not(test)))]
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    copy_forward(dst, src, n);
    dst
}

#[cfg(all(target_arch = "x86_64", target_env = "musl", not(test)))]
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // Below the source, or not overlapping.
        copy_forward(dst, src, n);
    } else {
        copy_backward(dst, src, n);
    }
    dst
}

/// Copies `n` bytes from `src` to `dst`, forward: regions may overlap when `dst` is below
/// `src`.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes.
#[inline(always)]
pub unsafe fn copy_forward(dst: *mut u8, src: *const u8, n: usize) {
    use core::ptr::{read_unaligned as ld, write_unaligned as st};
    if n <= 16 {
        // Two loads that cover the whole, then two stores (overlapping when n is not a
        // power of two).
        if n >= 8 {
            let (a, b) = (ld(src as *const u64), ld(src.add(n - 8) as *const u64));
            st(dst as *mut u64, a);
            st(dst.add(n - 8) as *mut u64, b);
        } else if n >= 4 {
            let (a, b) = (ld(src as *const u32), ld(src.add(n - 4) as *const u32));
            st(dst as *mut u32, a);
            st(dst.add(n - 4) as *mut u32, b);
        } else if n > 0 {
            let (a, b, c) = (*src, *src.add(n / 2), *src.add(n - 1));
            *dst = a;
            *dst.add(n / 2) = b;
            *dst.add(n - 1) = c;
        }
        return;
    }
    if n <= 32 {
        let (a, b) = (ld(src as *const u128), ld(src.add(n - 16) as *const u128));
        st(dst as *mut u128, a);
        st(dst.add(n - 16) as *mut u128, b);
        return;
    }
    if n <= 256 {
        // The last 32 bytes are loaded first: the loop's stores may reach them (dst below
        // src), its loads never reach a byte already stored.
        let (ta, tb) = (ld(src.add(n - 32) as *const u128), ld(src.add(n - 16) as *const u128));
        let mut i = 0;
        while i + 32 < n {
            let (a, b) = (ld(src.add(i) as *const u128), ld(src.add(i + 16) as *const u128));
            st(dst.add(i) as *mut u128, a);
            st(dst.add(i + 16) as *mut u128, b);
            i += 32;
        }
        st(dst.add(n - 32) as *mut u128, ta);
        st(dst.add(n - 16) as *mut u128, tb);
        return;
    }
    rep_movsb(dst, src, n);
}

/// Copies `n` bytes from `src` to `dst` where `dst` is above `src` and they overlap:
/// from the end down, every byte loaded before a store can reach it.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes.
pub unsafe fn copy_backward(dst: *mut u8, src: *const u8, n: usize) {
    use core::ptr::{read_unaligned as ld, write_unaligned as st};
    if n <= 32 {
        // copy_forward loads everything before it stores anything at these sizes.
        return copy_forward(dst, src, n);
    }
    // The first 16 bytes are loaded first: the loop's stores, from the end down, may reach
    // them.
    let head = ld(src as *const u128);
    let mut i = n;
    while i > 16 {
        i -= 16;
        let a = ld(src.add(i) as *const u128);
        st(dst.add(i) as *mut u128, a);
    }
    st(dst as *mut u128, head);
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rep_movsb(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller's; the direction flag is clear at every call (the ABI's rule).
    core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _, options(nostack, preserves_flags));
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
unsafe fn rep_movsb(dst: *mut u8, src: *const u8, n: usize) {
    for i in 0..n {
        *dst.add(i) = *src.add(i);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{copy_backward, copy_forward};
    use std::vec::Vec;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn copies_every_size_and_alignment_exactly() {
        let src = pattern(1200);
        for n in 0..1100 {
            for (so, d_off) in [(0, 0), (1, 0), (0, 3), (7, 9), (15, 1), (8, 8)] {
                let mut dst = std::vec![0xAAu8; 1200];
                // SAFETY: both buffers hold so/d_off + n bytes.
                unsafe { copy_forward(dst.as_mut_ptr().add(d_off), src.as_ptr().add(so), n) };
                assert_eq!(&dst[d_off..d_off + n], &src[so..so + n], "n={n} so={so} do={d_off}");
                assert!(dst[..d_off].iter().chain(&dst[d_off + n..]).all(|&b| b == 0xAA), "wrote outside: n={n}");
            }
        }
    }

    #[test]
    fn copies_forward_over_itself_as_musls_memmove_needs() {
        // memmove(dst, src, n) with dst below src calls memcpy: overlapping, forward.
        for n in 0..700 {
            for gap in [1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 100, 255] {
                let orig = pattern(n + gap);
                let mut buf = orig.clone();
                // SAFETY: dst = buf[0..n], src = buf[gap..gap + n], both inside buf.
                unsafe { copy_forward(buf.as_mut_ptr(), buf.as_ptr().add(gap), n) };
                assert_eq!(&buf[..n], &orig[gap..gap + n], "n={n} gap={gap}");
                assert_eq!(&buf[n.max(gap)..], &orig[n.max(gap)..], "bytes past the copy: n={n} gap={gap}");
            }
        }
    }

    #[test]
    fn copies_backward_over_itself_as_memmove_must() {
        for n in 0..700 {
            for gap in [1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 100, 255] {
                let orig = pattern(n + gap);
                let mut buf = orig.clone();
                // SAFETY: dst = buf[gap..gap + n], src = buf[0..n], both inside buf.
                unsafe { copy_backward(buf.as_mut_ptr().add(gap), buf.as_ptr(), n) };
                assert_eq!(&buf[gap..], &orig[..n], "n={n} gap={gap}");
                assert_eq!(&buf[..gap.min(n + gap)], &orig[..gap.min(n + gap)], "bytes before the copy: n={n} gap={gap}");
            }
        }
    }
}
