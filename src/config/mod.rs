//! config.json: loading (errors name the JSON path of the bad field), validation of what
//! the runtime-spec requires before anything is created, and the default spec.

mod default_spec;
mod validate;

use std::path::{Path, PathBuf};

pub use default_spec::default_spec;
pub use oci_spec::runtime::Spec;
pub use validate::{sysctl_path, validate};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config.json: {field}: {reason}")]
    Parse { field: String, reason: String },
    #[error("config.json: {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0}")]
    Other(String),
}

pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Invalid { field: field.into(), reason: reason.into() }
}

/// Parses a JSON document into `T`; a failure names the path of the offending field
/// (e.g. `process.rlimits[0].type`) and serde's reason, without the Rust type names.
pub fn parse_json<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(parse_error)
}

/// A tracked parse's failure: the field's path (`(document)` for the document itself) and
/// serde's reason.
fn parse_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let field = e.path().to_string();
    let field = if field == "." { "(document)".to_string() } else { field };
    Error::Parse { field, reason: e.into_inner().to_string() }
}

/// The largest config.json or process.json berth reads. runc sets no limit; engines write
/// tens of KiB. Bigger input is refused with its size instead of being read without end.
pub const MAX_DOCUMENT: u64 = 64 << 20;

/// A JSON document from a path the user chose, which may name anything: a regular file is
/// read whole (one read, the fast path) if it is within MAX_DOCUMENT and refused with its
/// size if not; anything else (a fifo, `/dev/zero`) is parsed as a stream, which stops at
/// the first byte that is not JSON, as runc's decoder does, and at MAX_DOCUMENT.
fn read_document<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    use std::io::Read;
    let read_err = |source| Error::Read { path: path.to_path_buf(), source };
    let mut f = crate::util::fs::open_cloexec(path).map_err(read_err)?;
    let meta = f.metadata().map_err(read_err)?;
    let too_big = |size: String| Error::Other(format!("{}: {size} is over the {} MiB limit", path.display(), MAX_DOCUMENT >> 20));
    if meta.is_file() {
        if meta.len() > MAX_DOCUMENT {
            return Err(too_big(format!("{} bytes", meta.len())));
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut data).map_err(read_err)?;
        return parse_json(&data);
    }
    read_stream(f, too_big)
}

/// read_document's rare case, a document that is not a regular file. Not inlined: with it,
/// read_document's frame held a second copy of the whole deserializer's locals (20 KiB of
/// stack for config.json, on the deepest path of every container start).
#[inline(never)]
#[cold]
fn read_stream<T: serde::de::DeserializeOwned>(f: std::fs::File, too_big: impl Fn(String) -> Error) -> Result<T, Error> {
    use std::io::Read;
    let mut limited = std::io::BufReader::new(f.take(MAX_DOCUMENT + 1));
    let de = &mut serde_json::Deserializer::from_reader(&mut limited);
    match serde_path_to_error::deserialize(de) {
        Ok(v) => Ok(v),
        Err(_) if limited.get_ref().limit() == 0 => Err(too_big("the stream".into())),
        Err(e) => Err(parse_error(e)),
    }
}

/// Reads `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, Error> {
    let path = bundle.join("config.json");
    match read_document(&path) {
        // config.md (process.capabilities): "Any value which cannot be mapped to a relevant
        // kernel interface, or cannot be granted otherwise MUST be logged as a warning by
        // the runtime. Runtimes SHOULD NOT fail if the container configuration requests
        // capabilities that cannot be granted". Only on this (rare) error path is the
        // document read a second time, untyped, to drop those names.
        Err(Error::Parse { field, .. }) if field.starts_with("process.capabilities.") => {
            let mut v: serde_json::Value = read_document(&path)?;
            for name in drop_unknown_capabilities(&mut v) {
                crate::logging::warn(&format!("config.json: process.capabilities: {name:?} is not a capability this kernel interface knows; ignored"));
            }
            serde_path_to_error::deserialize(v).map_err(parse_error)
        }
        other => other,
    }
}

/// Removes from process.capabilities' five sets every name that is not a capability;
/// returns them.
fn drop_unknown_capabilities(v: &mut serde_json::Value) -> Vec<String> {
    let mut dropped = Vec::new();
    let Some(sets) = v.pointer_mut("/process/capabilities").and_then(|c| c.as_object_mut()) else { return dropped };
    for (_, set) in sets.iter_mut() {
        if let Some(list) = set.as_array_mut() {
            list.retain(|n| {
                let known = serde_json::from_value::<oci_spec::runtime::Capability>(n.clone()).is_ok();
                if !known {
                    dropped.push(n.as_str().unwrap_or_default().to_string());
                }
                known
            });
        }
    }
    dropped
}

/// Reads an `exec --process` file. As in runc, a process without `user` runs as 0:0.
pub fn load_process(path: &Path) -> Result<oci_spec::runtime::Process, Error> {
    let name = |e: Error| match e {
        Error::Parse { field, reason } => Error::Other(format!("--process {}: {field}: {reason}", path.display())),
        other => other,
    };
    process_from_value(read_document(path).map_err(name)?).map_err(name)
}

/// process.json text → Process, with the same defaults as `load_process`.
pub fn parse_process(data: &[u8]) -> Result<oci_spec::runtime::Process, Error> {
    process_from_value(parse_json(data)?)
}

fn process_from_value(mut v: serde_json::Value) -> Result<oci_spec::runtime::Process, Error> {
    if let Some(o) = v.as_object_mut() {
        o.entry("user").or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    serde_path_to_error::deserialize(v).map_err(parse_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_the_field() {
        let doc = br#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},
            "rlimits":[{"type":"RLIMIT_BOGUS","hard":1,"soft":1}]}}"#;
        match parse_json::<Spec>(doc) {
            Err(Error::Parse { field, reason }) => {
                assert_eq!(field, "process.rlimits[0].type");
                assert!(reason.contains("RLIMIT_BOGUS"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_capabilities_are_dropped_with_their_names() {
        let mut v = serde_json::json!({"process": {"capabilities": {"bounding": ["CAP_KILL", "CAP_NOT_A_THING"], "effective": ["CAP_FUTURE_2031"]}}});
        assert_eq!(drop_unknown_capabilities(&mut v), ["CAP_NOT_A_THING", "CAP_FUTURE_2031"]);
        assert_eq!(v["process"]["capabilities"]["bounding"], serde_json::json!(["CAP_KILL"]));
    }

    #[test]
    fn malformed_json_is_reported() {
        assert!(matches!(parse_json::<Spec>(b"{not json"), Err(Error::Parse { .. })));
    }
}

/// linux.timeOffsets as (clock, seconds, nanoseconds).
pub fn time_offsets(spec: &Spec) -> Vec<(String, i64, u32)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.secs().unwrap_or(0), v.nanosecs().unwrap_or(0))).collect())
        .unwrap_or_default()
}
