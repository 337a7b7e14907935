//! save and load: an image as an OCI image layout in a tar archive (`oci-layout`,
//! `index.json`, `blobs/sha256/…`), which skopeo (`oci-archive:`), umoci and podman read.
//! The reference is kept in the index entry's annotations (`org.opencontainers.image.
//! ref.name`, the tag, and `io.containerd.image.name`, the whole name). Loading checks
//! every blob against its digest before it enters the store.

use std::io::{self, Read};
use std::path::Path;

use serde_json::json;

use crate::digest::Digest;
use crate::manifest::{self, Document};
use crate::reference::Reference;
use crate::store::{self, Image, Layer, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}: not an OCI image layout archive ({1})")]
    Invalid(String, String),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
}

fn add(b: &mut tar::Builder<std::fs::File>, name: &str, data: &mut dyn Read, size: u64) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data)
}

pub fn save(store: &Store, img: &Image, file: &Path) -> Result<(), Error> {
    let io_e = |source| Error::Io { path: file.display().to_string(), source };
    let tmp = file.with_extension("partial");
    let out = std::fs::File::create(&tmp).map_err(io_e)?;
    let r = (|| -> Result<(), Error> {
        let mut b = tar::Builder::new(out);
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        add(&mut b, "oci-layout", &mut &layout[..], layout.len() as u64).map_err(io_e)?;
        let tag = Reference::parse(&img.reference).ok().and_then(|r| r.tag).unwrap_or_else(|| "latest".into());
        let msize = std::fs::metadata(store.blob_path(&img.digest)).map(|m| m.len()).unwrap_or(0);
        let index = json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": [{
            "mediaType": img.media_type, "digest": img.digest, "size": msize,
            "annotations": {"org.opencontainers.image.ref.name": tag, "io.containerd.image.name": img.reference}}]});
        let ib = serde_json::to_vec(&index).unwrap_or_default();
        add(&mut b, "index.json", &mut &ib[..], ib.len() as u64).map_err(io_e)?;
        let mut blobs: Vec<Digest> = vec![img.digest.clone(), img.config.clone()];
        blobs.extend(img.layers.iter().map(|l| l.digest.clone()));
        for d in blobs {
            let p = store.blob_path(&d);
            let mut f = std::fs::File::open(&p).map_err(|source| Error::Io { path: p.display().to_string(), source })?;
            let size = f.metadata().map_err(io_e)?.len();
            add(&mut b, &format!("blobs/sha256/{}", d.hex()), &mut f, size).map_err(io_e)?;
        }
        b.into_inner().map_err(io_e)?.sync_all().map_err(io_e)?;
        Ok(())
    })();
    match r {
        Ok(()) => std::fs::rename(&tmp, file).map_err(io_e),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Loads every image of the archive; returns their references.
pub fn load(store: &Store, file: &Path) -> Result<Vec<String>, Error> {
    let name = file.display().to_string();
    let io_e = |source| Error::Io { path: name.clone(), source };
    let mut index: Option<Vec<u8>> = None;
    let f = std::fs::File::open(file).map_err(io_e)?;
    let mut ar = tar::Archive::new(f);
    for e in ar.entries().map_err(io_e)? {
        let mut e = e.map_err(io_e)?;
        let path = e.path().map_err(io_e)?.to_string_lossy().trim_start_matches("./").to_string();
        if path == "index.json" {
            let mut v = Vec::new();
            e.by_ref().take(4 << 20).read_to_end(&mut v).map_err(io_e)?;
            index = Some(v);
        } else if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            let d = Digest::parse(&format!("sha256:{hex}")).map_err(|_| Error::Invalid(name.clone(), format!("blob name {path}")))?;
            if !store.has_blob(&d) {
                store.put_blob(&d, &mut e, &format!("{path} of {name}"))?;
            }
        }
    }
    let index = index.ok_or_else(|| Error::Invalid(name.clone(), "no index.json".into()))?;
    let Document::Index(idx) = manifest::parse(&index, Some(manifest::OCI_INDEX), &name)? else {
        return Err(Error::Invalid(name, "index.json is not an index".into()));
    };
    let mut refs = Vec::new();
    for m in idx.manifests() {
        let ann = m.annotations().clone().unwrap_or_default();
        let reference = ann
            .get("io.containerd.image.name")
            .cloned()
            .or_else(|| ann.get("org.opencontainers.image.ref.name").map(|t| format!("localhost/loaded:{t}")))
            .ok_or_else(|| Error::Invalid(name.clone(), "an index entry without a name".into()))?;
        let reference = Reference::parse(&reference).map_err(|e| Error::Invalid(name.clone(), e.to_string()))?.to_string();
        let md = Digest::parse(m.digest().as_ref()).map_err(|e| Error::Invalid(name.clone(), e.to_string()))?;
        let mdata = store.read_blob(&md, 4 << 20)?;
        let Document::Manifest(man) = manifest::parse(&mdata, Some(&m.media_type().to_string()), &reference)? else {
            return Err(Error::Invalid(name, "nested indexes are not supported".into()));
        };
        let cd = Digest::parse(man.config().digest().as_ref()).map_err(|e| Error::Invalid(name.clone(), e.to_string()))?;
        let config: oci_spec::image::ImageConfiguration = serde_json::from_slice(&store.read_blob(&cd, 8 << 20)?).map_err(|e| Error::Invalid(name.clone(), format!("config: {e}")))?;
        let mut layers = Vec::new();
        for (l, id) in man.layers().iter().zip(config.rootfs().diff_ids()) {
            let d = Digest::parse(l.digest().as_ref()).map_err(|e| Error::Invalid(name.clone(), e.to_string()))?;
            if !store.has_blob(&d) {
                return Err(Error::Invalid(name, format!("layer {d} is not in the archive")));
            }
            layers.push(Layer { digest: d, diff_id: Digest::parse(id).map_err(|e| Error::Invalid(name.clone(), e.to_string()))?, media_type: l.media_type().to_string(), size: l.size() });
        }
        let img = Image {
            reference: reference.clone(),
            digest: md,
            index_digest: None,
            media_type: m.media_type().to_string(),
            platform: format!("{}/{}", config.os(), config.architecture()),
            config: cd,
            layers,
            pulled: berth::util::time::now_rfc3339_nano(),
            origin: None,
        };
        store.save_image(&img)?;
        refs.push(reference);
    }
    Ok(refs)
}
