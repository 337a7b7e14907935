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

/// 1,008 create/start/delete cycles by 16 clients at a time (each its own container
/// ids; issue 21's scale: no failure or leak at 1,000 containers), on one --root: no
/// failure, and the leak check (T's drop) finds no state, cgroup, mount or process left.
/// The cycle runs a shell that exits at once, so start and delete race with the
/// container's own exit. `make bench` times the same shape (row 8).
#[test]
fn a_thousand_containers_by_sixteen_clients_leave_nothing() {
    let mut t = T::new("parallel");
    let b = t.bundle(&["sh", "-c", "exit 0"]);
    b.write();
    let started = Instant::now();
    let clients = 16;
    let per = 63;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (t, b) = (&t, &b);
                s.spawn(move || -> Result<(), String> {
                    for i in 0..per {
                        let id = format!("p{c}-{i}");
                        // The init inherits create's stdio and outlives it: errors go
                        // through a file, not a pipe create's caller would wait on.
                        let err = t.tmp.join(format!("err-{id}"));
                        let mut cmd = t.cmd();
                        cmd.args(["create", "--bundle"]).arg(&b.dir).arg(&id);
                        let st = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&err).unwrap()).status().unwrap();
                        if !st.success() {
                            return Err(format!("create {id}: {}", std::fs::read_to_string(&err).unwrap_or_default()));
                        }
                        for args in [vec!["start", id.as_str()], vec!["delete", "-f", id.as_str()]] {
                            let o = t.cmd().args(&args).stdin(Stdio::null()).output().unwrap();
                            if !o.status.success() {
                                return Err(format!("{args:?}: {}", String::from_utf8_lossy(&o.stderr)));
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let errors: Vec<String> = handles.into_iter().filter_map(|h| h.join().unwrap().err()).collect();
        assert!(errors.is_empty(), "{} of {clients} clients failed: {errors:?}", errors.len());
    });
    assert!(t.berth(&["list", "-q"]).ok().stdout.is_empty());
    eprintln!("{} cycles by {clients} clients in {:?}", clients * per, started.elapsed());
}
