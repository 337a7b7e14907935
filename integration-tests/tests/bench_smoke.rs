//! The benchmark harness runs (one quick berth-only pass). Benchmarks are measured by
//! `make bench`, never by a timed test.

use std::path::Path;
use std::process::Command;

use berth_integration_tests::{berth_bin, T};

#[test]
fn bench_harness_runs() {
    let _t = T::new("benchsmoke");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/run.sh");
    let out = Command::new("bash").arg(script).arg("--smoke").env("BERTH", berth_bin()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench --smoke failed: {}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    for row in ["| 1. run /bin/true |", "| 2. create+start+wait+delete |", "| 4a. state |", "| 5. peak RSS KiB |", "| 8. 2 parallel clients: ms per container |"] {
        assert!(stdout.contains(row), "report lacks {row}: {stdout}");
    }
}

/// bench/peak_rss.py counts pages exactly: a program that touches 400 KiB more reads
/// 400 KiB more (getrusage's ru_maxrss, which it replaced as row 5, moves in ~128 KiB
/// steps on this kernel and fails this). busybox is static: no loader, no library placed
/// at a random address, so nothing but the buffer differs between the three runs.
#[test]
fn peak_rss_counts_every_page() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/peak_rss.py");
    let peak = |bs: &str| -> i64 {
        let out = Command::new("python3")
            .arg(&script)
            .args(["busybox", "dd", "if=/dev/zero", "of=/dev/null", "count=1"])
            .arg(format!("bs={bs}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "peak_rss.py failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let (a, b, c) = (peak("400K"), peak("800K"), peak("1200K"));
    for (lo, hi) in [(a, b), (b, c)] {
        assert!((hi - lo - 400).abs() <= 8, "400 KiB more touched, peak {lo} -> {hi} KiB");
    }
}
