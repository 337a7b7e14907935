//! Registry credentials, looked up as podman and docker do: `--creds USER:PASS`, then
//! `$REGISTRY_AUTH_FILE`, containers' `auth.json` (`$XDG_RUNTIME_DIR/containers/auth.json`,
//! `/run/containers/<uid>/auth.json`, `~/.config/containers/auth.json`), then docker's
//! `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. In those files an `auths`
//! entry holds base64 `user:password`; `credHelpers` (per registry) and `credsStore` (the
//! default) name a `docker-credential-NAME` helper, run with `get`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;

use super::Error;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.user)
    }
}

impl Credentials {
    pub fn parse(s: &str) -> Result<Credentials, Error> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials { user: u.into(), password: p.into() }),
            _ => Err(Error::Config("--creds must be USER:PASSWORD".into())),
        }
    }

    pub fn basic_header(&self) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.user, self.password)))
    }
}

fn auth_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE") {
        v.push(PathBuf::from(f));
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        v.push(PathBuf::from(d).join("containers/auth.json"));
    }
    // SAFETY: getuid cannot fail.
    v.push(PathBuf::from(format!("/run/containers/{}/auth.json", unsafe { libc::getuid() })));
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(h) = &home {
        v.push(h.join(".config/containers/auth.json"));
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => v.push(PathBuf::from(d).join("config.json")),
        None => {
            if let Some(h) = &home {
                v.push(h.join(".docker/config.json"));
            }
        }
    }
    v
}

/// `https://index.docker.io/v1/`, `host:5000`, `http://host/path` → the host (and port),
/// with docker's aliases of Docker Hub folded into `docker.io`.
fn key_host(k: &str) -> String {
    let k = k.split_once("://").map_or(k, |(_, r)| r);
    let h = k.split('/').next().unwrap_or(k);
    match h {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        other => other.to_string(),
    }
}

fn helper(name: &str, registry: &str) -> Result<Option<Credentials>, Error> {
    let prog = format!("docker-credential-{name}");
    let server = if registry == "docker.io" { "https://index.docker.io/v1/".to_string() } else { registry.to_string() };
    let mut child = match Command::new(&prog).arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => return Err(Error::Config(format!("credential helper {prog}: {e}"))),
    };
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Error::Config(format!("credential helper {prog}: {e}")))?;
    if !out.status.success() {
        // "credentials not found in native keychain": no credentials, not an error.
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| Error::Config(format!("credential helper {prog}: {e}")))?;
    let (u, p) = (v["Username"].as_str().unwrap_or_default(), v["Secret"].as_str().unwrap_or_default());
    Ok((!p.is_empty()).then(|| Credentials { user: u.into(), password: p.into() }))
}

/// The credentials for `registry` (as the reference names it), or None.
pub fn lookup(registry: &str, explicit: Option<&Credentials>) -> Result<Option<Credentials>, Error> {
    if let Some(c) = explicit {
        return Ok(Some(c.clone()));
    }
    for f in auth_files() {
        let Ok(data) = std::fs::read(&f) else { continue };
        let v: serde_json::Value = serde_json::from_slice(&data).map_err(|e| Error::Config(format!("{}: {e}", f.display())))?;
        if let Some(name) = v["credHelpers"].as_object().and_then(|m| m.iter().find(|(k, _)| key_host(k) == registry)).and_then(|(_, n)| n.as_str()) {
            if let Some(c) = helper(name, registry)? {
                return Ok(Some(c));
            }
        }
        if let Some(auths) = v["auths"].as_object() {
            for (k, entry) in auths {
                if key_host(k) != registry {
                    continue;
                }
                if let Some(b) = entry["auth"].as_str().filter(|s| !s.is_empty()) {
                    let raw = base64::engine::general_purpose::STANDARD.decode(b.trim()).map_err(|e| Error::Config(format!("{}: auths.{k}.auth: {e}", f.display())))?;
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    return Credentials::parse(&text).map(Some).map_err(|_| Error::Config(format!("{}: auths.{k}.auth is not user:password", f.display())));
                }
            }
        }
        if let Some(name) = v["credsStore"].as_str() {
            if let Some(c) = helper(name, registry)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_hosts_as_docker_writes_them() {
        assert_eq!(key_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(key_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(key_host("http://reg.example:8080/x"), "reg.example:8080");
        assert!(Credentials::parse("nouser").is_err());
        assert_eq!(Credentials::parse("a:b:c").unwrap().password, "b:c");
        assert_eq!(format!("{:?}", Credentials::parse("u:secret").unwrap()), "Credentials(u, <secret>)");
    }
}
