//! push: a stored image to a registry. Each blob (layers, then config) is skipped where
//! the registry already has it (HEAD), mounted from the image's own repository where
//! that is on the same registry (a cross-repository mount), else uploaded: in one PUT,
//! or in PATCH chunks of `--chunk-size`. The manifest goes last, byte for byte as stored,
//! so its digest is the image's.

use crate::digest::Digest;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::{self, Client};
use crate::store::{self, Image, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("blob {0} of the image is not in the store")]
    Missing(Digest),
}

/// What happened to each blob.
#[derive(Debug, Default)]
pub struct Report {
    pub uploaded: usize,
    pub mounted: usize,
    pub skipped: usize,
}

pub fn push(store: &Store, img: &Image, dest: &Reference, opts: &registry::Options, chunk: Option<u64>, progress: &Progress) -> Result<Report, Error> {
    let client = Client::new(dest, opts)?;
    let src = img.origin.as_deref().and_then(|o| Reference::parse(o).ok());
    let same_registry = src.as_ref().filter(|s| s.registry == dest.registry && s.repository != dest.repository).map(|s| s.repository.clone());
    let mut report = Report::default();
    let mut blobs: Vec<(Digest, u64)> = img.layers.iter().map(|l| (l.digest.clone(), l.size)).collect();
    let config_size = std::fs::metadata(store.blob_path(&img.config)).map(|m| m.len()).unwrap_or(0);
    blobs.push((img.config.clone(), config_size));
    for (d, size) in blobs {
        let path = store.blob_path(&d);
        if !path.is_file() {
            return Err(Error::Missing(d));
        }
        if client.has_blob(&dest.repository, &d)? {
            report.skipped += 1;
            progress.done(&d, size, "exists");
            continue;
        }
        if let Some(from) = &same_registry {
            if client.mount_blob(&dest.repository, &d, from)? {
                report.mounted += 1;
                progress.done(&d, size, "mounted");
                continue;
            }
        }
        client.upload_blob(&dest.repository, &d, &path, size, chunk)?;
        report.uploaded += 1;
        progress.done(&d, size, "pushed");
    }
    let manifest = store.read_blob(&img.digest, 4 << 20)?;
    let reference = match (&dest.digest, &dest.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => img.digest.to_string(),
    };
    client.put_manifest(&dest.repository, &reference, &manifest, &img.media_type)?;
    Ok(report)
}
