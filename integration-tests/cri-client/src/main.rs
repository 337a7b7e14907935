//! The CRI scenario of the engine tests, as the kubelet would drive it: a pod sandbox and
//! containers joining its namespaces, ExecSync, UpdateContainerResources, stop and remove,
//! through containerd's CRI plugin with a runtime handler whose BinaryName is the runtime
//! under test. Effects are checked on the host (namespace links, cgroup files, the runtime's
//! state directory) and from inside (ExecSync).
//!
//! usage: berth-cri-client SOCKET IMAGE HANDLER CGROUP_PARENT RUNTIME_ROOT
//! Prints PASS/FAIL per step and "N passed, M failed"; exits 1 if any step failed.
//!
//! usage: berth-cri-client bench SOCKET IMAGE CGROUP_PARENT WARMUP RUNS HANDLER...
//! (make bench): the time from RunPodSandbox to a started container in it, for each
//! handler round-robin as bench/interleave.py does; prints `HANDLER median min max` (ms).

use std::collections::HashMap;
use std::path::Path;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient as Client;
use k8s_cri::v1::*;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

type Rt = Client<Channel>;

struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, name: &str, want: T, got: T) {
        if want == got {
            println!("PASS: {name}");
            self.passed += 1;
        } else {
            println!("FAIL: {name}: expected {want:?}, got {got:?}");
            self.failed += 1;
        }
    }
    fn ok<T, E: std::fmt::Display>(&mut self, name: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => {
                println!("PASS: {name}");
                self.passed += 1;
                Some(v)
            }
            Err(e) => {
                println!("FAIL: {name}: {e}");
                self.failed += 1;
                None
            }
        }
    }
}

struct Args {
    image: String,
    handler: String,
    cgroup_parent: String,
    runtime_root: String,
}

fn ns(pid: u32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("unreadable: {e}"))
}

/// The memory limit of a process's cgroup, read on the host (v1 memory controller or cgroup2).
fn memory_limit(pid: u32) -> String {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let file = cg.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
        if ctrl.split(',').any(|c| c == "memory") {
            Some(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))
        } else {
            None
        }
    });
    let file = file.or_else(|| {
        cg.lines().find_map(|l| l.strip_prefix("0::").map(|p| format!("/sys/fs/cgroup{p}/memory.max")))
    });
    match file {
        Some(f) => std::fs::read_to_string(&f).map(|s| s.trim().to_string()).unwrap_or_else(|e| format!("{f}: {e}")),
        None => "no memory cgroup".into(),
    }
}

/// The process's cgroup directories on the host (one per v1 hierarchy, or the cgroup2 one).
fn cgroup_dirs(pid: u32) -> Vec<String> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    cg.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            let ctrl = ctrl.split(',').find(|c| !c.is_empty() && !c.starts_with("name="))?;
            Some(format!("/sys/fs/cgroup/{ctrl}{path}"))
        })
        .filter(|d| Path::new(d).is_dir())
        .collect()
}

/// The "pid" in the verbose info containerd returns with a status.
fn info_pid(info: &HashMap<String, String>) -> Option<u32> {
    let s = info.get("info")?;
    let at = s.find("\"pid\":")? + 6;
    let digits: String = s[at..].trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn security_profile(t: security_profile::ProfileType) -> Option<SecurityProfile> {
    Some(SecurityProfile { profile_type: t as i32, localhost_ref: String::new() })
}

/// No CNI on this machine: pods use the host's network, as hostNetwork pods do; ipc is the pod's.
fn namespaces(pid: NamespaceMode) -> Option<NamespaceOption> {
    Some(NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: pid as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    })
}

fn sandbox_config(a: &Args) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "berth-pod".into(),
            uid: "berth-pod-uid".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        // Empty, as the kubelet sends it for hostNetwork pods: their UTS namespace is the host's.
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: a.cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: namespaces(NamespaceMode::Container),
                seccomp: security_profile(security_profile::ProfileType::RuntimeDefault),
                apparmor: security_profile(security_profile::ProfileType::Unconfined),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config(a: &Args, name: &str, pid_mode: NamespaceMode, memory: i64) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(ImageSpec { image: a.image.clone(), ..Default::default() }),
        command: vec!["sleep".into(), "1000".into()],
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources { memory_limit_in_bytes: memory, ..Default::default() }),
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: namespaces(pid_mode),
                seccomp: security_profile(security_profile::ProfileType::RuntimeDefault),
                apparmor: security_profile(security_profile::ProfileType::Unconfined),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

async fn container_status(c: &mut Rt, id: &str) -> Result<(i32, Option<u32>), tonic::Status> {
    let r = c
        .container_status(ContainerStatusRequest { container_id: id.into(), verbose: true })
        .await?
        .into_inner();
    Ok((r.status.map(|s| s.state).unwrap_or(-1), info_pid(&r.info)))
}

async fn exec(c: &mut Rt, id: &str, cmd: &[&str]) -> Result<ExecSyncResponse, tonic::Status> {
    let req = ExecSyncRequest { container_id: id.into(), cmd: cmd.iter().map(|s| s.to_string()).collect(), timeout: 30 };
    Ok(c.exec_sync(req).await?.into_inner())
}

async fn scenario(c: &mut Rt, a: &Args, r: &mut Report) {
    let v = c.version(VersionRequest { version: "v1".into() }).await;
    if let Some(v) = r.ok("Version", v) {
        r.eq("Version: runtime is containerd", "containerd", v.get_ref().runtime_name.as_str());
    }

    let run = RunPodSandboxRequest { config: Some(sandbox_config(a)), runtime_handler: a.handler.clone() };
    let Some(sb) = r.ok("RunPodSandbox", c.run_pod_sandbox(run).await) else { return };
    let sb = sb.into_inner().pod_sandbox_id;
    let st = c.pod_sandbox_status(PodSandboxStatusRequest { pod_sandbox_id: sb.clone(), verbose: true }).await;
    let (state, sb_pid) = match st {
        Ok(s) => {
            let s = s.into_inner();
            (s.status.map(|s| s.state).unwrap_or(-1), info_pid(&s.info))
        }
        Err(e) => (-1, {
            println!("  PodSandboxStatus: {e}");
            None
        }),
    };
    r.eq("sandbox READY", PodSandboxState::SandboxReady as i32, state);
    let Some(sb_pid) = sb_pid else {
        r.eq("sandbox pid in the verbose status", true, false);
        return;
    };
    let me = std::process::id();
    r.eq("sandbox: host network namespace (NODE)", ns(me, "net"), ns(sb_pid, "net"));
    r.eq("sandbox: host uts namespace (follows NODE network)", ns(me, "uts"), ns(sb_pid, "uts"));
    r.eq("sandbox: own ipc, pid and mount namespaces", true, ["ipc", "pid", "mnt"].iter().all(|k| ns(me, k) != ns(sb_pid, k)));
    r.eq(
        "sandbox: the handler's runtime keeps its state (runtime root)",
        true,
        Path::new(&a.runtime_root).join("k8s.io").join(&sb).is_dir(),
    );
    let sb_cgroups = cgroup_dirs(sb_pid);

    let mut ids = Vec::new();
    for (name, pid_mode) in [("app", NamespaceMode::Container), ("shared-pid", NamespaceMode::Pod)] {
        let req = CreateContainerRequest {
            pod_sandbox_id: sb.clone(),
            config: Some(container_config(a, name, pid_mode, 64 << 20)),
            sandbox_config: Some(sandbox_config(a)),
        };
        let Some(id) = r.ok(&format!("CreateContainer {name}"), c.create_container(req).await) else { continue };
        let id = id.into_inner().container_id;
        let started = c.start_container(StartContainerRequest { container_id: id.clone() }).await;
        r.ok(&format!("StartContainer {name}"), started);
        ids.push(id);
    }
    let [app, shared] = &ids[..] else { return };
    let (state, app_pid) = container_status(c, app).await.unwrap_or((-1, None));
    r.eq("ContainerStatus: RUNNING", ContainerState::ContainerRunning as i32, state);
    let (_, shared_pid) = container_status(c, shared).await.unwrap_or((-1, None));
    let (Some(app_pid), Some(shared_pid)) = (app_pid, shared_pid) else {
        r.eq("container pids in the verbose status", true, false);
        return;
    };
    for kind in ["ipc", "uts", "net"] {
        r.eq(&format!("container joined the sandbox's {kind} namespace"), ns(sb_pid, kind), ns(app_pid, kind));
    }
    r.eq("container (pid CONTAINER): own pid namespace", true, ns(sb_pid, "pid") != ns(app_pid, "pid"));
    r.eq("container (pid POD): the sandbox's pid namespace", ns(sb_pid, "pid"), ns(shared_pid, "pid"));
    r.eq("container: own mount namespace", true, ns(sb_pid, "mnt") != ns(app_pid, "mnt"));

    match exec(c, app, &["sh", "-c", "echo out; echo err >&2; exit 3"]).await {
        Ok(x) => {
            r.eq("ExecSync: stdout", "out\n", &String::from_utf8_lossy(&x.stdout));
            r.eq("ExecSync: stderr", "err\n", &String::from_utf8_lossy(&x.stderr));
            r.eq("ExecSync: exit code", 3, x.exit_code);
        }
        Err(e) => r.eq("ExecSync", "ok".to_string(), e.to_string()),
    }
    let x = exec(c, app, &["grep", "^Seccomp:", "/proc/self/status"]).await;
    let out = x.map(|x| String::from_utf8_lossy(&x.stdout).split_whitespace().last().unwrap_or("").to_string());
    r.eq("ExecSync: RuntimeDefault seccomp filter applied (mode 2)", "2".to_string(), out.unwrap_or_else(|e| e.to_string()));
    let x = exec(c, shared, &["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]).await;
    let out = x.map(|x| String::from_utf8_lossy(&x.stdout).trim().to_string());
    r.eq(
        "ExecSync (pid POD): pid 1 is the sandbox's process",
        "sleep 2147483647".to_string(),
        out.unwrap_or_else(|e| e.to_string()),
    );

    r.eq("memory limit in the container's cgroup", (64i64 << 20).to_string(), memory_limit(app_pid));
    let update = UpdateContainerResourcesRequest {
        container_id: app.clone(),
        linux: Some(LinuxContainerResources { memory_limit_in_bytes: 128 << 20, ..Default::default() }),
        ..Default::default()
    };
    if r.ok("UpdateContainerResources", c.update_container_resources(update).await).is_some() {
        r.eq("updated memory limit in the cgroup", (128i64 << 20).to_string(), memory_limit(app_pid));
    }
    let mut cgroups = cgroup_dirs(app_pid);
    cgroups.extend(cgroup_dirs(shared_pid));
    cgroups.extend(sb_cgroups);

    for id in &ids {
        let stop = c.stop_container(StopContainerRequest { container_id: id.clone(), timeout: 2 }).await;
        r.ok("StopContainer", stop);
        let (state, _) = container_status(c, id).await.unwrap_or((-1, None));
        r.eq("ContainerStatus: EXITED", ContainerState::ContainerExited as i32, state);
        r.ok("RemoveContainer", c.remove_container(RemoveContainerRequest { container_id: id.clone() }).await);
    }
    r.ok("StopPodSandbox", c.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: sb.clone() }).await);
    r.ok("RemovePodSandbox", c.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: sb.clone() }).await);
    let left = c.list_containers(ListContainersRequest { filter: None }).await.map(|l| l.into_inner().containers.len());
    r.eq("ListContainers: none left", 0, left.unwrap_or(usize::MAX));
    let left = c.list_pod_sandbox(ListPodSandboxRequest { filter: None }).await.map(|l| l.into_inner().items.len());
    r.eq("ListPodSandbox: none left", 0, left.unwrap_or(usize::MAX));
    let stale: Vec<&String> = cgroups.iter().filter(|d| Path::new(d).exists()).collect();
    r.eq("the pod's and containers' cgroups are gone", Vec::<&String>::new(), stale);
    r.eq(
        "the runtime's state for the sandbox is gone",
        false,
        Path::new(&a.runtime_root).join("k8s.io").join(&sb).exists(),
    );
}

/// One pod and one container up, timed; then both removed (not timed).
async fn pod_up(c: &mut Rt, a: &Args, n: usize) -> Result<std::time::Duration, tonic::Status> {
    let mut config = sandbox_config(a);
    if let Some(m) = config.metadata.as_mut() {
        m.name = format!("bench-{n}");
        m.uid = format!("bench-uid-{n}");
    }
    let t0 = std::time::Instant::now();
    let run = RunPodSandboxRequest { config: Some(config.clone()), runtime_handler: a.handler.clone() };
    let sb = c.run_pod_sandbox(run).await?.into_inner().pod_sandbox_id;
    let create = CreateContainerRequest {
        pod_sandbox_id: sb.clone(),
        config: Some(container_config(a, "app", NamespaceMode::Container, 0)),
        sandbox_config: Some(config),
    };
    let id = c.create_container(create).await?.into_inner().container_id;
    c.start_container(StartContainerRequest { container_id: id.clone() }).await?;
    let took = t0.elapsed();
    c.stop_container(StopContainerRequest { container_id: id.clone(), timeout: 0 }).await?;
    c.remove_container(RemoveContainerRequest { container_id: id }).await?;
    c.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: sb.clone() }).await?;
    c.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: sb }).await?;
    Ok(took)
}

async fn bench(c: &mut Rt, image: &str, cgroup_parent: &str, warm: usize, runs: usize, handlers: &[String]) -> Result<(), String> {
    let mut times = vec![Vec::new(); handlers.len()];
    let mut n = 0;
    for round in 0..warm + runs {
        for k in 0..handlers.len() {
            let i = (round + k) % handlers.len();
            let a = Args { image: image.into(), handler: handlers[i].clone(), cgroup_parent: cgroup_parent.into(), runtime_root: String::new() };
            n += 1;
            let t = pod_up(c, &a, n).await.map_err(|e| format!("{}: {e}", handlers[i]))?;
            if round >= warm {
                times[i].push(t.as_secs_f64() * 1000.0);
            }
        }
    }
    for (h, mut t) in handlers.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        let median = if t.len() % 2 == 1 { t[t.len() / 2] } else { (t[t.len() / 2 - 1] + t[t.len() / 2]) / 2.0 };
        println!("{h}\t{median:.2}\t{:.2}\t{:.2}", t[0], t[t.len() - 1]);
    }
    Ok(())
}

async fn connect(socket: String) -> Result<Rt, tonic::transport::Error> {
    let channel = Endpoint::from_static("http://[::]")
        .connect_with_connector(service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await?;
    Ok(Client::new(channel))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("bench") {
        let (Some([socket, image, cgroup_parent, warm, runs]), handlers) = (argv.get(2..7), argv.get(7..).unwrap_or_default()) else {
            eprintln!("usage: berth-cri-client bench SOCKET IMAGE CGROUP_PARENT WARMUP RUNS HANDLER...");
            std::process::exit(2);
        };
        let (Ok(warm), Ok(runs)) = (warm.parse(), runs.parse::<usize>()) else {
            eprintln!("berth-cri-client bench: WARMUP and RUNS are numbers");
            std::process::exit(2);
        };
        if runs == 0 || handlers.is_empty() {
            eprintln!("berth-cri-client bench: at least one run and one handler");
            std::process::exit(2);
        }
        let r = match connect(socket.clone()).await {
            Ok(mut c) => bench(&mut c, image, cgroup_parent, warm, runs, handlers).await,
            Err(e) => Err(format!("connect to the CRI socket: {e}")),
        };
        if let Err(e) = r {
            eprintln!("berth-cri-client bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    let [_, socket, image, handler, cgroup_parent, runtime_root] = &argv[..] else {
        eprintln!("usage: berth-cri-client SOCKET IMAGE HANDLER CGROUP_PARENT RUNTIME_ROOT");
        std::process::exit(2);
    };
    let a = Args {
        image: image.clone(),
        handler: handler.clone(),
        cgroup_parent: cgroup_parent.clone(),
        runtime_root: runtime_root.clone(),
    };
    let mut client = match connect(socket.clone()).await {
        Ok(c) => c,
        Err(e) => {
            println!("FAIL: connect to the CRI socket: {e}");
            println!("0 passed, 1 failed");
            std::process::exit(1);
        }
    };
    let mut r = Report { passed: 0, failed: 0 };
    scenario(&mut client, &a, &mut r).await;
    println!("{} passed, {} failed", r.passed, r.failed);
    std::process::exit(if r.failed == 0 { 0 } else { 1 });
}
