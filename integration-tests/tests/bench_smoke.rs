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
