//! Manifests and indexes, OCI and Docker: what kind a document is (by its `mediaType`,
//! else the Content-Type, else its structure), which platform's manifest an index
//! points at, and how each layer is compressed.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: Docker image manifest schema 1 is not supported (deprecated by docker; push the image again with a current client)")]
    Schema1(String),
    #[error("{what}: not a manifest or index: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{what}: unsupported media type {media_type:?}")]
    MediaType { what: String, media_type: String },
    #[error("no manifest for {want} in {what}; it has: {have}")]
    NoPlatform { want: String, what: String, have: String },
    #[error("invalid platform {0:?}: expected OS/ARCH[/VARIANT]")]
    BadPlatform(String),
    #[error("layer {digest}: encrypted layers ({media_type}) are not supported")]
    Encrypted { digest: String, media_type: String },
    #[error("layer {digest}: foreign (non-distributable) layers are not supported: {media_type}{urls}")]
    Foreign { digest: String, media_type: String, urls: String },
}

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

pub enum Document {
    Index(ImageIndex),
    Manifest(ImageManifest),
}

/// What a fetched document is. `what` names it in errors.
pub fn parse(data: &[u8], content_type: Option<&str>, what: &str) -> Result<Document, Error> {
    let invalid = |reason: String| Error::Invalid { what: what.into(), reason };
    let v: serde_json::Value = serde_json::from_slice(data).map_err(|e| invalid(e.to_string()))?;
    if v["schemaVersion"] == 1 || v.get("fsLayers").is_some() {
        return Err(Error::Schema1(what.into()));
    }
    let declared = v["mediaType"].as_str().map(str::to_string).or_else(|| content_type.map(str::to_string)).filter(|t| t != "application/json" && t != "text/plain");
    let kind = match declared.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => "index",
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => "manifest",
        Some(t) if t.starts_with("application/vnd.docker.distribution.manifest.v1") => return Err(Error::Schema1(what.into())),
        Some(t) => return Err(Error::MediaType { what: what.into(), media_type: t.into() }),
        // No media type anywhere (umoci writes none): go by structure.
        None if v.get("manifests").is_some() => "index",
        None if v.get("layers").is_some() => "manifest",
        None => return Err(invalid("neither a mediaType nor manifests or layers".into())),
    };
    if kind == "index" {
        serde_json::from_value(v).map(Document::Index).map_err(|e| invalid(e.to_string()))
    } else {
        serde_json::from_value(v).map(Document::Manifest).map_err(|e| invalid(e.to_string()))
    }
}

/// OS/ARCH[/VARIANT].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::BadPlatform(s.into()));
        }
        Ok(Platform { os: parts[0].into(), arch: parts[1].into(), variant: parts.get(2).map(|v| v.to_string()) })
    }

    /// The machine berth-image runs on, in OCI's names.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform { os: "linux".into(), arch: arch.into(), variant: None }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn platform_of(d: &Descriptor) -> Option<Platform> {
    let p = d.platform().as_ref()?;
    Some(Platform { os: p.os().to_string(), arch: p.architecture().to_string(), variant: p.variant().clone().filter(|v| !v.is_empty()) })
}

/// Index entries that are not images: buildkit's attestation manifests
/// (`unknown/unknown`, or the `vnd.docker.reference.type` annotation).
fn is_attestation(d: &Descriptor) -> bool {
    let annotated = d.annotations().as_ref().and_then(|a| a.get("vnd.docker.reference.type")).is_some_and(|t| t == "attestation-manifest");
    annotated || platform_of(d).is_some_and(|p| p.os == "unknown" && p.arch == "unknown")
}

/// The index entry for `want`: os and architecture must match; a variant asked for must
/// match; without one asked, an entry without a variant wins over one with (arm64's
/// `v8` counts as none). Attestation entries are skipped wherever they stand.
pub fn select<'a>(index: &'a ImageIndex, want: &Platform, what: &str) -> Result<&'a Descriptor, Error> {
    let entries: Vec<&Descriptor> = index.manifests().iter().filter(|d| !is_attestation(d)).collect();
    let norm = |v: &Option<String>, arch: &str| match (v.as_deref(), arch) {
        (Some("v8"), "arm64") => None,
        (v, _) => v.map(str::to_string),
    };
    let wanted_variant = norm(&want.variant, &want.arch);
    let same = |d: &&&Descriptor| platform_of(d).is_some_and(|p| p.os == want.os && p.arch == want.arch);
    let exact = entries.iter().filter(same).find(|d| platform_of(d).is_some_and(|p| norm(&p.variant, &p.arch) == wanted_variant));
    let any = if wanted_variant.is_none() { entries.iter().find(same) } else { None };
    if let Some(d) = exact.or(any) {
        return Ok(d);
    }
    let have: Vec<String> = entries.iter().map(|d| platform_of(d).map_or_else(|| "(no platform)".into(), |p| p.to_string())).collect();
    Err(Error::NoPlatform { want: want.to_string(), what: what.into(), have: if have.is_empty() { "no images".into() } else { have.join(", ") } })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// How a layer is compressed, from its descriptor; encrypted and foreign layers are
/// refused by name.
pub fn layer_compression(d: &Descriptor) -> Result<Compression, Error> {
    let t = d.media_type().to_string();
    let digest = d.digest().to_string();
    if t.contains("+encrypted") {
        return Err(Error::Encrypted { digest, media_type: t });
    }
    let urls = d.urls().as_ref().filter(|u| !u.is_empty());
    if t.contains("nondistributable") || t.contains("foreign") || urls.is_some() {
        let urls = urls.map_or_else(String::new, |u| format!(" (urls: {})", u.join(", ")));
        return Err(Error::Foreign { digest, media_type: t, urls });
    }
    Ok(match t.as_str() {
        "application/vnd.oci.image.layer.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => Compression::None,
        "application/vnd.oci.image.layer.v1.tar+gzip" | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Compression::Gzip,
        "application/vnd.oci.image.layer.v1.tar+zstd" | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Compression::Zstd,
        _ => return Err(Error::MediaType { what: format!("layer {digest}"), media_type: t }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: serde_json::Value) -> ImageIndex {
        serde_json::from_value(serde_json::json!({"schemaVersion": 2, "manifests": entries})).unwrap()
    }

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> serde_json::Value {
        let mut p = serde_json::json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        serde_json::json!({"mediaType": OCI_MANIFEST, "size": 1, "digest": format!("sha256:{}", format!("{n:02x}").repeat(32)), "platform": p})
    }

    #[test]
    fn platforms_match_os_arch_and_variant_and_attestations_are_skipped() {
        let att = serde_json::json!({"mediaType": OCI_MANIFEST, "size": 1, "digest": format!("sha256:{}", "ff".repeat(32)),
            "platform": {"os": "unknown", "architecture": "unknown"}, "annotations": {"vnd.docker.reference.type": "attestation-manifest"}});
        let idx = index(serde_json::json!([att, entry("linux", "arm", Some("v6"), 1), entry("linux", "arm", Some("v7"), 2), entry("linux", "arm64", Some("v8"), 3), entry("linux", "amd64", None, 4)]));
        let pick = |s: &str| select(&idx, &Platform::parse(s).unwrap(), "t").map(|d| d.digest().to_string()[7..9].to_string());
        assert_eq!(pick("linux/amd64").unwrap(), "04");
        assert_eq!(pick("linux/arm/v7").unwrap(), "02");
        assert_eq!(pick("linux/arm64").unwrap(), "03");
        assert_eq!(pick("linux/arm64/v8").unwrap(), "03");
        match pick("linux/s390x") {
            Err(Error::NoPlatform { have, .. }) => assert_eq!(have, "linux/arm/v6, linux/arm/v7, linux/arm64/v8, linux/amd64"),
            other => panic!("{other:?}"),
        }
        assert!(pick("linux/arm/v5").is_err());
    }

    #[test]
    fn documents_are_told_apart_by_type_or_structure() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
        assert!(matches!(parse(m, None, "x"), Ok(Document::Manifest(_))), "no mediaType anywhere: by structure");
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(parse(i, Some(OCI_INDEX), "x"), Ok(Document::Index(_))));
        let s1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(matches!(parse(s1, None, "x"), Err(Error::Schema1(_))));
        assert!(matches!(parse(m, Some("application/vnd.docker.distribution.manifest.v1+prettyjws"), "x"), Err(Error::Schema1(_))), "a schema 1 Content-Type is refused by name");
    }
}
