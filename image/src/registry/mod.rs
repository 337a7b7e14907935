//! A client of the distribution API v2 (the OCI distribution spec): manifests and blobs
//! by GET (streamed), uploads for push; anonymous, HTTP Basic and Bearer-token access
//! (auth.rs), HTTPS with the system roots and certs.d (tls.rs), HTTP only when asked.

pub mod auth;
pub mod creds;
pub mod tls;

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::digest::Digest;
use crate::reference::Reference;
pub use creds::Credentials;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach registry {registry}: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("{who} refused access{detail}")]
    Unauthorized { who: String, detail: String },
    #[error("{what} not found in {registry} ({code})")]
    NotFound { registry: String, what: String, code: String },
    #[error("registry {registry}: {what}: HTTP {status}{detail}")]
    Status { registry: String, what: String, status: u16, detail: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Config(String),
    #[error("registry {registry}: {what}: {reason}")]
    Protocol { registry: String, what: String, reason: String },
}

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub plain_http: bool,
    pub cert_dir: Option<PathBuf>,
    pub creds: Option<Credentials>,
}

/// Accept header for manifests: every type berth-image reads, and schema 1 so that it can
/// be refused by name instead of a registry's conversion or a 404.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
];

/// The largest manifest read (the distribution spec suggests 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Debug, Default)]
enum Authz {
    #[default]
    Anonymous,
    Basic,
    /// Bearer tokens by scope.
    Bearer(HashMap<String, String>),
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    registry: String,
    creds: Option<Credentials>,
    authz: Mutex<Authz>,
}

/// A manifest as the registry sent it.
pub struct Fetched {
    pub data: Vec<u8>,
    pub content_type: Option<String>,
    pub digest: Digest,
}

fn transport(registry: &str, e: ureq::Transport) -> Error {
    let text = e.to_string();
    if text.contains("certificate") || text.contains("Certificate") || text.contains("tls") || text.contains("TLS") {
        return Error::Tls(format!("{registry}: {text}"));
    }
    Error::Unreachable { registry: registry.into(), reason: text }
}

/// The `errors[0].code` and message of a distribution error body, if any.
fn error_body(r: ureq::Response) -> (String, String) {
    let mut body = String::new();
    let _ = r.into_reader().take(64 << 10).read_to_string(&mut body);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let code = v["errors"][0]["code"].as_str().unwrap_or("").to_string();
    let msg = v["errors"][0]["message"].as_str().map_or_else(|| body.trim().chars().take(200).collect(), str::to_string);
    (code, msg)
}

impl Client {
    pub fn new(r: &Reference, o: &Options) -> Result<Client, Error> {
        let host = r.api_host().to_string();
        let mut b = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(120))
            .user_agent(concat!("berth-image/", env!("CARGO_PKG_VERSION")))
            .redirects(5);
        if !o.plain_http {
            b = b.tls_config(tls::client_config(&r.registry, o.cert_dir.as_deref())?);
        }
        let creds = creds::lookup(&r.registry, o.creds.as_ref())?;
        let scheme = if o.plain_http { "http" } else { "https" };
        Ok(Client { agent: b.build(), base: format!("{scheme}://{host}"), registry: r.registry.clone(), creds, authz: Mutex::new(Authz::Anonymous) })
    }

    fn authorization(&self, scope: &str) -> Option<String> {
        let a = self.authz.lock().ok()?;
        match &*a {
            Authz::Anonymous => None,
            Authz::Basic => self.creds.as_ref().map(Credentials::basic_header),
            Authz::Bearer(t) => t.get(scope).map(|t| format!("Bearer {t}")),
        }
    }

    /// Answers a 401: fetches a token for the challenge (or switches to Basic).
    fn authenticate(&self, challenge: Option<&str>, scope: &str) -> Result<(), Error> {
        let who = format!("registry {}", self.registry);
        let Some(ch) = challenge.and_then(auth::parse_challenge) else {
            return Err(Error::Unauthorized { who, detail: ": HTTP 401 without a challenge berth-image understands".into() });
        };
        match ch {
            auth::Challenge::Basic => {
                if self.creds.is_none() {
                    return Err(Error::Unauthorized { who, detail: ": it asks for credentials (--creds, or an auth file)".into() });
                }
                if let Ok(mut a) = self.authz.lock() {
                    *a = Authz::Basic;
                }
                Ok(())
            }
            auth::Challenge::Bearer { realm, service, scope: asked } => {
                let want = asked.unwrap_or_else(|| scope.to_string());
                let mut req = self.agent.get(&realm);
                if let Some(s) = &service {
                    req = req.query("service", s);
                }
                // Several scopes (a cross-repository mount asks for two) are several
                // `scope` parameters, as the token protocol has them.
                for s in want.split(' ').filter(|s| !s.is_empty()) {
                    req = req.query("scope", s);
                }
                if let Some(c) = &self.creds {
                    req = req.set("Authorization", &c.basic_header());
                }
                let realm_who = format!("token server {realm}");
                let resp = match req.call() {
                    Ok(r) => r,
                    Err(ureq::Error::Status(code @ (401 | 403), r)) => {
                        let (_, msg) = error_body(r);
                        let why = if self.creds.is_some() { "the credentials" } else { "anonymous access" };
                        return Err(Error::Unauthorized { who: realm_who, detail: format!(" ({why}, HTTP {code}): {msg}") });
                    }
                    Err(ureq::Error::Status(code, r)) => {
                        let (_, msg) = error_body(r);
                        return Err(Error::Status { registry: self.registry.clone(), what: format!("token from {realm}"), status: code, detail: format!(": {msg}") });
                    }
                    Err(ureq::Error::Transport(t)) => return Err(transport(&realm, t)),
                };
                let mut body = String::new();
                resp.into_reader().take(1 << 20).read_to_string(&mut body).map_err(|e| Error::Protocol { registry: self.registry.clone(), what: "token".into(), reason: e.to_string() })?;
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let token = auth::token_of(&v).ok_or_else(|| Error::Protocol { registry: self.registry.clone(), what: format!("token from {realm}"), reason: "no token in the answer".into() })?;
                if let Ok(mut a) = self.authz.lock() {
                    match &mut *a {
                        Authz::Bearer(t) => {
                            t.insert(scope.to_string(), token);
                        }
                        other => *other = Authz::Bearer(HashMap::from([(scope.to_string(), token)])),
                    }
                }
                Ok(())
            }
        }
    }

    /// One request, authenticated on demand: a 401 is answered once, then retried.
    /// `what` names the object in errors.
    pub fn call(&self, method: &str, path: &str, scope: &str, headers: &[(&str, &str)], what: &str, body: Option<&[u8]>) -> Result<ureq::Response, Error> {
        match body {
            Some(b) => self.call_with(method, path, scope, headers, what, &|| Ok(Box::new(io::Cursor::new(b.to_vec())) as Box<dyn Read>), Some(b.len() as u64)),
            None => self.call_with(method, path, scope, headers, what, &|| Ok(Box::new(io::empty()) as Box<dyn Read>), None),
        }
    }

    /// `call` with a body made by `body` (made again for the retry after a 401) of
    /// `len` bytes (None: no body). `path` may be a whole URL (an upload's Location).
    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        scope: &str,
        headers: &[(&str, &str)],
        what: &str,
        body: &dyn Fn() -> io::Result<Box<dyn Read>>,
        len: Option<u64>,
    ) -> Result<ureq::Response, Error> {
        let url = if path.starts_with("http://") || path.starts_with("https://") { path.to_string() } else { format!("{}{path}", self.base) };
        for attempt in 0..2 {
            let mut req = self.agent.request(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = self.authorization(scope) {
                req = req.set("Authorization", &a);
            }
            let r = match len {
                Some(n) => {
                    let reader = body().map_err(|e| Error::Protocol { registry: self.registry.clone(), what: what.into(), reason: e.to_string() })?;
                    req.set("Content-Length", &n.to_string()).send(reader)
                }
                None => req.call(),
            };
            match r {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if attempt == 0 => {
                    let ch = resp.header("www-authenticate").map(str::to_string);
                    self.authenticate(ch.as_deref(), scope)?;
                }
                Err(ureq::Error::Status(code @ (401 | 403), resp)) => {
                    let (_, msg) = error_body(resp);
                    let how = if self.creds.is_some() { "the credentials" } else { "anonymous access" };
                    return Err(Error::Unauthorized { who: format!("registry {}", self.registry), detail: format!(" to {what} ({how}, HTTP {code}): {msg}") });
                }
                Err(ureq::Error::Status(404, resp)) => {
                    let (code, _) = error_body(resp);
                    return Err(Error::NotFound { registry: self.registry.clone(), what: what.into(), code: if code.is_empty() { "HTTP 404".into() } else { code } });
                }
                Err(ureq::Error::Status(code, resp)) => {
                    let (c, msg) = error_body(resp);
                    return Err(Error::Status { registry: self.registry.clone(), what: what.into(), status: code, detail: format!(": {c} {msg}") });
                }
                Err(ureq::Error::Transport(t)) => return Err(transport(&self.registry, t)),
            }
        }
        Err(Error::Unauthorized { who: format!("registry {}", self.registry), detail: format!(" to {what}") })
    }

    pub fn pull_scope(repo: &str) -> String {
        format!("repository:{repo}:pull")
    }

    /// GET of a manifest (by tag or digest).
    pub fn manifest(&self, repo: &str, object: &str) -> Result<Fetched, Error> {
        let accept = MANIFEST_TYPES.join(", ");
        let what = format!("manifest {repo}:{object}");
        let resp = self.call("GET", &format!("/v2/{repo}/manifests/{object}"), &Self::pull_scope(repo), &[("Accept", &accept)], &what, None)?;
        let content_type = resp.header("content-type").map(|c| c.split(';').next().unwrap_or(c).trim().to_string());
        let mut data = Vec::new();
        resp.into_reader().take(MAX_MANIFEST + 1).read_to_end(&mut data).map_err(|e| Error::Protocol { registry: self.registry.clone(), what: what.clone(), reason: e.to_string() })?;
        if data.len() as u64 > MAX_MANIFEST {
            return Err(Error::Protocol { registry: self.registry.clone(), what, reason: format!("larger than {} MiB", MAX_MANIFEST >> 20) });
        }
        Ok(Fetched { digest: Digest::of(&data), data, content_type })
    }

    pub fn push_scope(repo: &str) -> String {
        format!("repository:{repo}:pull,push")
    }

    /// Whether the repository already has the blob (HEAD).
    pub fn has_blob(&self, repo: &str, d: &Digest) -> Result<bool, Error> {
        match self.call("HEAD", &format!("/v2/{repo}/blobs/{d}"), &Self::push_scope(repo), &[], &format!("blob {d} of {repo}"), None) {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A cross-repository mount of a blob the registry holds for `from`: true if the
    /// registry mounted it (201), false if it started an upload instead (202).
    pub fn mount_blob(&self, repo: &str, d: &Digest, from: &str) -> Result<bool, Error> {
        let scope = format!("{} {}", Self::push_scope(repo), Self::pull_scope(from));
        let r = self.call("POST", &format!("/v2/{repo}/blobs/uploads/?mount={d}&from={from}"), &scope, &[], &format!("mount of {d} from {from}"), Some(b""))?;
        Ok(r.status() == 201)
    }

    fn location(&self, r: &ureq::Response, what: &str) -> Result<String, Error> {
        let loc = r.header("location").ok_or_else(|| Error::Protocol { registry: self.registry.clone(), what: what.into(), reason: "no Location in the upload's answer".into() })?;
        Ok(if loc.starts_with('/') { format!("{}{loc}", self.base) } else { loc.to_string() })
    }

    /// Uploads the blob stored at `path`: in one PUT (monolithic), or, when `chunk` is
    /// smaller than it, in PATCHes of `chunk` bytes then a closing PUT.
    pub fn upload_blob(&self, repo: &str, d: &Digest, path: &std::path::Path, size: u64, chunk: Option<u64>) -> Result<(), Error> {
        let scope = Self::push_scope(repo);
        let what = format!("upload of {d} to {repo}");
        let proto = |reason: String| Error::Protocol { registry: self.registry.clone(), what: what.clone(), reason };
        let start = self.call("POST", &format!("/v2/{repo}/blobs/uploads/"), &scope, &[], &what, Some(b""))?;
        let mut loc = self.location(&start, &what)?;
        let with_digest = |loc: &str| format!("{loc}{}digest={d}", if loc.contains('?') { "&" } else { "?" });
        let open = |from: u64, len: u64| -> io::Result<Box<dyn Read>> {
            let mut f = std::fs::File::open(path)?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from))?;
            Ok(Box::new(f.take(len)))
        };
        match chunk.filter(|c| *c > 0 && *c < size) {
            None => {
                let r = self.call_with("PUT", &with_digest(&loc), &scope, &[("Content-Type", "application/octet-stream")], &what, &|| open(0, size), Some(size))?;
                if r.status() != 201 {
                    return Err(proto(format!("HTTP {} closing the upload", r.status())));
                }
            }
            Some(c) => {
                let mut from = 0;
                while from < size {
                    let n = c.min(size - from);
                    let range = format!("{from}-{}", from + n - 1);
                    let r = self.call_with("PATCH", &loc, &scope, &[("Content-Type", "application/octet-stream"), ("Content-Range", &range)], &what, &|| open(from, n), Some(n))?;
                    loc = self.location(&r, &what)?;
                    from += n;
                }
                let r = self.call_with("PUT", &with_digest(&loc), &scope, &[("Content-Type", "application/octet-stream")], &what, &|| Ok(Box::new(io::empty())), Some(0))?;
                if r.status() != 201 {
                    return Err(proto(format!("HTTP {} closing the upload", r.status())));
                }
            }
        }
        Ok(())
    }

    /// PUT of a manifest under a tag (or its digest).
    pub fn put_manifest(&self, repo: &str, reference: &str, data: &[u8], media_type: &str) -> Result<(), Error> {
        self.call("PUT", &format!("/v2/{repo}/manifests/{reference}"), &Self::push_scope(repo), &[("Content-Type", media_type)], &format!("manifest {repo}:{reference}"), Some(data))?;
        Ok(())
    }

    /// GET of a blob, as a stream (the caller checks its digest while reading).
    pub fn blob(&self, repo: &str, digest: &Digest) -> Result<Box<dyn Read + Send + Sync>, Error> {
        let resp = self.call("GET", &format!("/v2/{repo}/blobs/{digest}"), &Self::pull_scope(repo), &[], &format!("blob {digest} of {repo}"), None)?;
        Ok(resp.into_reader())
    }
}
