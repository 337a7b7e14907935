//! TLS for a registry: the system's roots plus the CA certificates of the `certs.d`
//! folders docker and podman use (`/etc/containers/certs.d/HOST[:PORT]/*.crt`,
//! `/etc/docker/certs.d/...`, and `--cert-dir`), and a client certificate where a folder
//! holds a `*.cert` with its `*.key`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::Error;

/// The certs.d folders that apply to `host` (with its port), in docker's order of
/// precedence, `--cert-dir` first.
pub fn cert_dirs(host: &str, cert_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = cert_dir.map(Path::to_path_buf).into_iter().collect();
    for base in ["/etc/containers/certs.d", "/etc/docker/certs.d"] {
        v.push(Path::new(base).join(host));
    }
    v
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let data = std::fs::read(path).map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
    rustls_pemfile::certs(&mut &data[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))
}

pub fn client_config(host: &str, cert_dir: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    let mut client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> = None;
    for dir in cert_dirs(host, cert_dir) {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        let mut names: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in &names {
            match p.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    for c in read_certs(p)? {
                        roots.add(c).map_err(|e| Error::Tls(format!("{}: {e}", p.display())))?;
                    }
                }
                Some("cert") if client.is_none() => {
                    let key = p.with_extension("key");
                    let data = std::fs::read(&key).map_err(|e| Error::Tls(format!("{} needs {}: {e}", p.display(), key.display())))?;
                    let k = rustls_pemfile::private_key(&mut &data[..])
                        .map_err(|e| Error::Tls(format!("{}: {e}", key.display())))?
                        .ok_or_else(|| Error::Tls(format!("{}: no private key", key.display())))?;
                    client = Some((read_certs(p)?, k));
                }
                _ => {}
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| Error::Tls(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
