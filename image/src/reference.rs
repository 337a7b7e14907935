//! Image references, normalized as docker does: `alpine` is
//! `docker.io/library/alpine:latest`, `HOST[:PORT]/NS/REPO[:TAG][@sha256:...]`.

use std::fmt;

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference {0:?}: {1}")]
    Invalid(String, &'static str),
}

/// A normalized reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry as named (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path (`library/alpine`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

const DOCKER_HUB: &str = "docker.io";

fn valid_component(c: &str) -> bool {
    // docker's grammar: [a-z0-9]+ joined by one of `.`, `_`, `__`, or one or more `-`.
    if c.is_empty() || !c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
        return false;
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    !c.contains("..") && !c.contains("___") && !c.contains("._") && !c.contains("_.") && !c.contains(".-") && !c.contains("-.")
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty() && b.len() <= 128 && (b[0].is_ascii_alphanumeric() || b[0] == b'_') && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, Error> {
        let bad = |why| Error::Invalid(s.to_string(), why);
        if s.is_empty() || s.len() > 4096 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("empty, too long, or with spaces"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|_| bad("the digest is not sha256:<64 hex>"))?)),
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(bad("the tag has characters docker does not allow"));
            }
        }
        let (registry, repo) = match name.split_once('/') {
            Some((first, more)) if first.contains('.') || first.contains(':') || first == "localhost" => (first.to_string(), more.to_string()),
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" { DOCKER_HUB.to_string() } else { registry };
        let repository = if registry == DOCKER_HUB && !repo.contains('/') { format!("library/{repo}") } else { repo };
        if repository.is_empty() || !repository.split('/').all(valid_component) {
            return Err(bad("the repository must be lower-case [a-z0-9] words separated by '.', '_', '-' and '/'"));
        }
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_string()) } else { tag };
        Ok(Reference { registry, repository, tag, digest })
    }

    /// The host (and port) the distribution API is served from.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// What the manifest is fetched by: the digest when given, else the tag.
    pub fn object(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_as_docker_does() {
        let cases = [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3.19", "docker.io/library/alpine:3.19"),
            ("library/alpine", "docker.io/library/alpine:latest"),
            ("user/app", "docker.io/user/app:latest"),
            ("index.docker.io/user/app:1", "docker.io/user/app:1"),
            ("127.0.0.1:5000/ns/repo:tag", "127.0.0.1:5000/ns/repo:tag"),
            ("localhost/repo", "localhost/repo:latest"),
            ("quay.io/a/b/c", "quay.io/a/b/c:latest"),
            ("localhost:5000/repo", "localhost:5000/repo:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(Reference::parse(input).unwrap().to_string(), want, "{input}");
        }
        let d = "sha256:".to_string() + &"a".repeat(64);
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{d}"));
        assert_eq!(r.object(), d);
        assert_eq!(Reference::parse("alpine").unwrap().api_host(), "registry-1.docker.io");
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in ["", "UPPER", "a b", "repo:", "repo:bad tag", "a//b", "-a", "a@sha256:xyz", "a@md5:00", "localhost:5000/Repo", "a/b/"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }
}
