//! Image references, one way: `[host[:port]/]path[:tag][@digest]`, by the grammar of
//! distribution's `reference` package (what docker itself accepts), and the one rule for
//! telling a registry host from a repository path.

use std::fmt;
use std::str::FromStr;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry host (`myacr.azurecr.io`, `localhost:5000`), when the reference names one.
    pub host: Option<String>,
    /// The repository path: `shop`, `team/shop`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

/// Whether the first component of a reference is a registry host rather than part of the
/// path: it has a dot or a port, or is `localhost` (docker's rule).
pub fn is_registry_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// `sha256:` and 64 lowercase hex digits.
pub fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A docker tag: 1-128 letters, digits, `_`, `.`, `-`, not starting with `.` or `-`.
pub fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && !t.starts_with(['.', '-'])
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// One path component: `[a-z0-9]+` joined by `.`, `_`, `__` or dashes.
fn valid_component(p: &str) -> bool {
    let b = p.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && !p.contains("..")
        && !p.contains("___")
}

/// A registry host: letters, digits, dots and dashes, and an optional numeric port.
fn valid_host(h: &str) -> bool {
    let (name, port) = match h.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (h, None),
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        && !name.starts_with(['.', '-'])
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

impl FromStr for ImageRef {
    type Err = String;
    fn from_str(s: &str) -> Result<ImageRef, String> {
        let bad = |why: &str| format!("\"{s}\" is not an image reference: {why}");
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) if valid_digest(d) => (r, Some(d.to_string())),
            Some(_) => {
                return Err(bad(
                    "the digest must be sha256: and 64 lowercase hex digits",
                ))
            }
            None => (s, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad(&format!(
                    "the tag \"{t}\" must be 1-128 letters, digits, _ . - and not start with . or -"
                )));
            }
        }
        let (host, path) = match name.split_once('/') {
            Some((h, p)) if is_registry_host(h) => {
                if !valid_host(h) {
                    return Err(bad(&format!("\"{h}\" is not a registry host")));
                }
                (Some(h.to_string()), p)
            }
            _ => (None, name),
        };
        if !path.split('/').all(valid_component) {
            return Err(bad(
                "the name must be lowercase letters and digits, separated by . _ - or /",
            ));
        }
        Ok(ImageRef {
            host,
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

impl ImageRef {
    /// `host/path` (or just `path`): the repository, without tag or digest.
    pub fn repository(&self) -> String {
        match &self.host {
            Some(h) => format!("{h}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The same repository pinned to `digest` (no tag).
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
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

    const D: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn references_parse_like_docker() {
        let r: ImageRef = "shop:1.2".parse().unwrap();
        assert_eq!(
            (r.host, r.path.as_str(), r.tag.as_deref()),
            (None, "shop", Some("1.2"))
        );
        let r: ImageRef = "localhost:5000/team/shop".parse().unwrap();
        assert_eq!(
            (r.host.as_deref(), r.path.as_str(), r.tag),
            (Some("localhost:5000"), "team/shop", None)
        );
        let r: ImageRef = format!("myacr.azurecr.io/shop:abc-dirty@{D}")
            .parse()
            .unwrap();
        assert_eq!(r.tag.as_deref(), Some("abc-dirty"));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(
            r.to_string(),
            format!("myacr.azurecr.io/shop:abc-dirty@{D}")
        );
        assert_eq!(r.pinned("sha256:aa"), "myacr.azurecr.io/shop@sha256:aa");
        assert_eq!(r.repository(), "myacr.azurecr.io/shop");
        let r: ImageRef = "127.0.0.1:5000/x_y/z__w".parse().unwrap();
        assert_eq!(r.host.as_deref(), Some("127.0.0.1:5000"));
        // `team` has no dot or port: a path, not a host.
        let r: ImageRef = "team/shop".parse().unwrap();
        assert_eq!((r.host, r.path.as_str()), (None, "team/shop"));
    }

    #[test]
    fn bad_references_say_why() {
        for (bad, why) in [
            ("Shop:1", "lowercase"),
            ("shop:", "the tag"),
            ("shop:-x", "the tag"),
            ("shop:a b", "the tag"),
            (":1", "lowercase"),
            ("shop:1:2", "lowercase"),
            ("shop@sha256:123", "the digest"),
            ("shop@md5:aa", "the digest"),
            ("a..b", "lowercase"),
            ("team//app", "lowercase"),
            ("my_host.io:port/x", "registry host"),
            ("", "lowercase"),
        ] {
            let e = bad.parse::<ImageRef>().unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(valid_digest(D) && !valid_digest("sha256:ABC") && !valid_digest("2222"));
    }
}
