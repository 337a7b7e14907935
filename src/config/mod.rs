//! config.json: loading (errors name the JSON path of the bad field), validation of what
//! the runtime-spec requires before anything is created, and the default spec.

mod default_spec;
mod validate;

use std::fs;
use std::path::{Path, PathBuf};

pub use default_spec::default_spec;
pub use oci_spec::runtime::Spec;
pub use validate::validate;

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
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { "(document)".to_string() } else { field };
        Error::Parse { field, reason: e.into_inner().to_string() }
    })
}

/// Reads `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, Error> {
    let path = bundle.join("config.json");
    let data = fs::read(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
    parse_json(&data)
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
    fn malformed_json_is_reported() {
        assert!(matches!(parse_json::<Spec>(b"{not json"), Err(Error::Parse { .. })));
    }
}
