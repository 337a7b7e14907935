//! Foreground `run` of a container that exits at once must never hang (youki 0.7 loses
//! that race in ~6% of runs) and must leave nothing behind.

use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_integration_tests::T;

#[test]
fn two_hundred_one_shot_runs_no_hang_no_leftovers() {
    let mut t = T::new("stress");
    let b = t.bundle(&["true"]);
    b.write();
    let started = Instant::now();
    for i in 0..200 {
        let mut c = t.cmd();
        c.args(["run", "--bundle"]).arg(&b.dir).arg(format!("s{i}"));
        let mut child = c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("run #{i} hung for 10s");
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        assert!(status.success(), "run #{i} failed: {:?}", child.wait_with_output().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()));
    }
    assert!(t.berth(&["list", "-q"]).ok().stdout.is_empty());
    eprintln!("200 runs in {:?}", started.elapsed());
}
