//! commit: a bundle's changes as a new image. The changes become one new layer
//! (layer.rs: from a snapshot's upper directory, or by comparing a `--copy` rootfs with
//! the image's own view), on top of the bundle's image; the config gets the layer's
//! diff_id, a history entry and the `--change` instructions; manifest, config and layer
//! go into the store as an image `bundle` and `push` can use.
//!
//! A container still running on the bundle is refused, unless `--pause`: its cgroup is
//! frozen for the commit and thawed after, whatever happens.

use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::digest::Digest;
use crate::layer;
use crate::manifest;
use crate::pull;
use crate::reference::Reference;
use crate::store::{self, Image, Layer, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} is not a bundle made by berth-image (no record of it in the store)")]
    NotABundle(PathBuf),
    #[error("container {0:?} is running on this bundle: stop it, or commit with --pause")]
    Running(String),
    #[error("--change {0:?}: {1}")]
    Change(String, String),
    #[error(transparent)]
    Layer(#[from] layer::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Pull(#[from] pull::Error),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("pausing container {id}: {reason}")]
    Pause { id: String, reason: String },
    #[error("the bundle's image: {0}")]
    Image(String),
}

pub struct Options {
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub pause: bool,
    /// berth's --root, where containers that may run on the bundle are found.
    pub berth_root: PathBuf,
    pub in_userns: bool,
}

/// Containers frozen for the commit; thawed when dropped.
struct Frozen(Vec<(berth::container::Runtime, String)>);

impl Drop for Frozen {
    fn drop(&mut self) {
        for (rt, id) in &self.0 {
            if let Ok(c) = berth::container::Container::load(rt, id) {
                let _ = c.state.cgroup.set_frozen(false);
            }
        }
    }
}

/// Finds the containers of `berth_root` whose bundle is `dir` and are not stopped:
/// refuses them, or with `pause` freezes them.
fn quiesce(dir: &Path, o: &Options) -> Result<Frozen, Error> {
    use berth::container::{Container, Runtime, Status};
    let rt = Runtime { root: o.berth_root.clone(), systemd_cgroup: false, rootless: Runtime::rootless_auto() };
    let mut frozen = Frozen(Vec::new());
    for id in berth::container::state::list_ids(&o.berth_root).unwrap_or_default() {
        let Ok(c) = Container::load(&rt, &id) else { continue };
        if std::fs::canonicalize(&c.state.bundle).ok().as_deref() != Some(dir) {
            continue;
        }
        match c.status() {
            Status::Stopped | Status::Paused => {}
            _ if !o.pause => return Err(Error::Running(id)),
            _ => {
                c.state.cgroup.set_frozen(true).map_err(|e| Error::Pause { id: id.clone(), reason: e.to_string() })?;
                frozen.0.push((rt.clone(), id));
            }
        }
    }
    Ok(frozen)
}

fn split_instruction(c: &str) -> (String, String) {
    let c = c.trim();
    let (i, rest) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
    (i.to_ascii_uppercase(), rest.trim().to_string())
}

/// JSON form (`["a","b"]`) or shell form (`a b` → `/bin/sh -c "a b"`), as in a Dockerfile.
fn command(change: &str, rest: &str) -> Result<Value, Error> {
    if rest.starts_with('[') {
        let v: Vec<String> = serde_json::from_str(rest).map_err(|e| Error::Change(change.into(), format!("not a JSON array of strings: {e}")))?;
        return Ok(json!(v));
    }
    Ok(json!(["/bin/sh", "-c", rest]))
}

/// Applies one `--change` instruction to the image config's `config` object.
pub fn apply_change(cfg: &mut serde_json::Map<String, Value>, change: &str) -> Result<(), Error> {
    let (instr, rest) = split_instruction(change);
    let bad = |why: &str| Error::Change(change.into(), why.into());
    if rest.is_empty() {
        return Err(bad("has no value"));
    }
    match instr.as_str() {
        "CMD" => {
            cfg.insert("Cmd".into(), command(change, &rest)?);
        }
        "ENTRYPOINT" => {
            cfg.insert("Entrypoint".into(), command(change, &rest)?);
        }
        "ENV" => {
            let (k, v) = rest.split_once('=').or_else(|| rest.split_once(char::is_whitespace)).ok_or_else(|| bad("expected NAME=VALUE"))?;
            let (k, v) = (k.trim(), v.trim());
            let env = cfg.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or_else(|| bad("the image's Env is not a list"))?;
            list.retain(|e| e.as_str().and_then(|s| s.split('=').next()) != Some(k));
            list.push(json!(format!("{k}={v}")));
        }
        "WORKDIR" => {
            cfg.insert("WorkingDir".into(), json!(rest));
        }
        "USER" => {
            cfg.insert("User".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            cfg.insert("StopSignal".into(), json!(rest));
        }
        "LABEL" => {
            let (k, v) = rest.split_once('=').ok_or_else(|| bad("expected KEY=VALUE"))?;
            let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
            if labels.is_null() {
                *labels = json!({});
            }
            labels.as_object_mut().ok_or_else(|| bad("the image's Labels is not an object"))?.insert(k.trim().into(), json!(v.trim().trim_matches('"')));
        }
        "EXPOSE" => {
            let ports = cfg.entry("ExposedPorts").or_insert_with(|| json!({}));
            if ports.is_null() {
                *ports = json!({});
            }
            let m = ports.as_object_mut().ok_or_else(|| bad("the image's ExposedPorts is not an object"))?;
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                m.insert(p, json!({}));
            }
        }
        "VOLUME" => {
            let vols = cfg.entry("Volumes").or_insert_with(|| json!({}));
            if vols.is_null() {
                *vols = json!({});
            }
            let m = vols.as_object_mut().ok_or_else(|| bad("the image's Volumes is not an object"))?;
            let list: Vec<String> = if rest.starts_with('[') { serde_json::from_str(&rest).map_err(|e| bad(&e.to_string()))? } else { rest.split_whitespace().map(str::to_string).collect() };
            for v in list {
                m.insert(v, json!({}));
            }
        }
        other => return Err(Error::Change(change.into(), format!("unknown instruction {other:?} (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL)"))),
    }
    Ok(())
}

/// The image's own view, read-only: an overlay of its unpacked layers (for comparing a
/// `--copy` rootfs with it). Unmounted and removed on drop.
struct LowerView {
    mnt: PathBuf,
    /// The empty lowest layer: it must outlive the mount (readdir fails without it).
    empty: PathBuf,
}

impl LowerView {
    fn mount(store: &Store, img: &Image) -> Result<LowerView, Error> {
        let mnt = store.tmp_path("lower");
        let empty = store.tmp_path("empty");
        for d in [&mnt, &empty] {
            std::fs::create_dir(d).map_err(|source| Error::Io { what: format!("create {}", d.display()), source })?;
        }
        let mut lowers: Vec<PathBuf> = img.layers.iter().rev().map(|l| store.layer_dir(&l.diff_id)).collect();
        // Read-only overlayfs needs two lower directories at least.
        lowers.push(empty.clone());
        crate::bundle::overlay(&lowers, None, false, &mnt).map_err(|source| Error::Io { what: "overlay of the image's layers".into(), source })?;
        Ok(LowerView { mnt, empty })
    }
}

impl Drop for LowerView {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.mnt);
        let _ = std::fs::remove_dir(&self.empty);
    }
}

pub fn commit(store: &Store, dir: &Path, dest: &Reference, o: &Options) -> Result<Image, Error> {
    let dir = std::fs::canonicalize(dir).map_err(|source| Error::Io { what: format!("bundle {}", dir.display()), source })?;
    let rec = store.load_bundle(&dir).ok_or_else(|| Error::NotABundle(dir.clone()))?;
    let base = store.load_image(&rec.image).map_err(|e| Error::Image(format!("{} ({e})", rec.image)))?;
    let _frozen = quiesce(&dir, o)?;
    // The layer.
    let tmp = store.tmp_path("commit");
    let io = |what: &str| {
        let what = what.to_string();
        move |source| Error::Io { what, source }
    };
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io("create the layer"))?;
    let result = (|| {
        let mut w = layer::Writer::new(BufWriter::with_capacity(256 << 10, file));
        if rec.copy {
            pull::ensure_unpacked(store, &base.layers, o.in_userns)?;
            let view = LowerView::mount(store, &base)?;
            layer::from_diff(&mut w, &view.mnt, &dir.join("rootfs"))?;
        } else {
            layer::from_upper(&mut w, &dir.join("upper"))?;
        }
        let (out, written) = w.finish().map_err(io("finish the layer"))?;
        out.into_inner().map_err(|e| io("write the layer")(e.into_error()))?.sync_all().map_err(io("write the layer"))?;
        std::fs::rename(&tmp, store.blob_path(&written.digest)).map_err(io("store the layer"))?;
        Ok(written)
    })();
    let written = match result {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let docker = base.media_type == manifest::DOCKER_MANIFEST;
    let layer_type = if docker { "application/vnd.docker.image.rootfs.diff.tar.gzip" } else { "application/vnd.oci.image.layer.v1.tar+gzip" };
    let new_layer = Layer { digest: written.digest.clone(), diff_id: written.diff_id.clone(), media_type: layer_type.into(), size: written.size };
    let mut layers = base.layers.clone();
    layers.push(new_layer);
    pull::ensure_unpacked(store, &layers, o.in_userns)?;
    // The config.
    let mut config: Value = serde_json::from_slice(&store.read_blob(&base.config, 8 << 20)?).map_err(|e| Error::Image(format!("config: {e}")))?;
    let now = berth::util::time::now_rfc3339_nano();
    {
        let c = config.as_object_mut().ok_or_else(|| Error::Image("config is not an object".into()))?;
        let inner = c.entry("config").or_insert_with(|| json!({}));
        if inner.is_null() {
            *inner = json!({});
        }
        let inner = inner.as_object_mut().ok_or_else(|| Error::Image("config.config is not an object".into()))?;
        for ch in &o.changes {
            apply_change(inner, ch)?;
        }
        c.insert("created".into(), json!(now));
        let rootfs = c.entry("rootfs").or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
        rootfs["diff_ids"].as_array_mut().ok_or_else(|| Error::Image("config.rootfs.diff_ids is not a list".into()))?.push(json!(written.diff_id));
        let history = c.entry("history").or_insert_with(|| json!([]));
        let mut entry = json!({"created": now, "created_by": format!("berth-image commit{}", o.changes.iter().map(|x| format!(" --change {x:?}")).collect::<String>())});
        if let Some(m) = &o.message {
            entry["comment"] = json!(m);
        }
        if let Some(h) = history.as_array_mut() {
            h.push(entry);
        }
    }
    let cbytes = serde_json::to_vec(&config).map_err(|e| Error::Image(e.to_string()))?;
    let cdigest = Digest::of(&cbytes);
    store.put_bytes(&cdigest, &cbytes, "config")?;
    // The manifest: the base's, with the new config and one more layer.
    let mut man: Value = serde_json::from_slice(&store.read_blob(&base.digest, 4 << 20)?).map_err(|e| Error::Image(format!("manifest: {e}")))?;
    man["config"]["digest"] = json!(cdigest);
    man["config"]["size"] = json!(cbytes.len());
    man["layers"].as_array_mut().ok_or_else(|| Error::Image("manifest.layers is not a list".into()))?.push(json!({"mediaType": layer_type, "digest": written.digest, "size": written.size}));
    if man.get("mediaType").is_none() {
        man["mediaType"] = json!(base.media_type);
    }
    let mbytes = serde_json::to_vec(&man).map_err(|e| Error::Image(e.to_string()))?;
    let mdigest = Digest::of(&mbytes);
    store.put_bytes(&mdigest, &mbytes, "manifest")?;
    let img = Image {
        reference: dest.to_string(),
        digest: mdigest,
        index_digest: None,
        media_type: base.media_type.clone(),
        platform: base.platform.clone(),
        config: cdigest,
        layers,
        pulled: now,
        origin: base.origin.clone().or(Some(base.reference.clone())),
    };
    store.save_image(&img)?;
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_as_a_dockerfile_has_them() {
        let mut c = serde_json::Map::new();
        c.insert("Env".into(), json!(["A=1", "PATH=/bin"]));
        for ch in ["CMD [\"/app\", \"--flag\"]", "entrypoint /bin/run me", "ENV A=2", "ENV B 3", "WORKDIR /srv", "USER app:app", "LABEL k=\"v\"", "EXPOSE 80 53/udp", "STOPSIGNAL SIGINT", "VOLUME /data"] {
            apply_change(&mut c, ch).unwrap();
        }
        let v = Value::Object(c.clone());
        assert_eq!(v["Cmd"], json!(["/app", "--flag"]));
        assert_eq!(v["Entrypoint"], json!(["/bin/sh", "-c", "/bin/run me"]));
        assert_eq!(v["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
        assert_eq!(v["WorkingDir"], "/srv");
        assert_eq!(v["User"], "app:app");
        assert_eq!(v["Labels"]["k"], "v");
        assert!(v["ExposedPorts"].get("80/tcp").is_some() && v["ExposedPorts"].get("53/udp").is_some());
        assert!(v["Volumes"].get("/data").is_some());
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "CMD [broken").is_err());
        assert!(apply_change(&mut c, "ENV").is_err());
    }
}
