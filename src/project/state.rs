//! The project's `.azdeploy/` files: what one command leaves for the next. Each file is one
//! struct, written and read through it: the image `build` made ([`LastBuild`]), the figures
//! `test-local` measured ([`LastTest`]), the digest `push` printed ([`LastPush`]), and every
//! deploy and rollback ([`History`]). Written atomically; a missing or unreadable file reads as
//! "nothing yet", except the history, which is never silently replaced. A field a file lacks
//! (written by an older version) reads as its default.
//!
//! May import: `sys`, `report`.

use camino::Utf8Path;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::report::error::Error;
use crate::sys::files::{self, Existing};

/// A state file: its place under the project directory.
pub trait StateFile: Serialize + DeserializeOwned {
    const PATH: &'static str;
}

/// Reads a state file (`None` when missing or unreadable).
pub fn load<T: StateFile>(project: &Utf8Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(project.join(T::PATH)).ok()?).ok()
}

/// Writes a state file (creating `.azdeploy/`).
pub fn save<T: StateFile>(project: &Utf8Path, value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).expect("state always serialises");
    write(project, T::PATH, &text)
}

fn write(project: &Utf8Path, rel: &str, text: &str) -> Result<(), Error> {
    let path = project.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "create",
            path: dir.to_string(),
            source,
        })?;
    }
    files::write_atomic(&path, text.as_bytes(), Existing::Replace)
}

/// The last image `build` produced (locally, or pushed by `build --push` / `--remote acr`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastBuild {
    /// The reference printed (`name:tag`, or the registry's for a pushed build).
    pub image: String,
    pub refs: Vec<String>,
    /// The image id (absent for a build in ACR Tasks).
    #[serde(default)]
    pub id: Option<String>,
    /// The pushed manifest's digest, when pushed.
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub pushed: bool,
    pub platform: String,
    /// The base image the final stage came from, as the Dockerfile names it.
    #[serde(default)]
    pub base: Option<String>,
    /// `acr` for a build in ACR Tasks.
    #[serde(default)]
    pub remote: Option<String>,
    pub built_at: u64,
}

impl StateFile for LastBuild {
    const PATH: &'static str = ".azdeploy/last-build.json";
}

/// The last `test-local` run that came up healthy, and its figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastTest {
    pub healthy: bool,
    pub image: String,
    pub image_id: String,
    pub platform: String,
    pub emulated: bool,
    #[serde(default)]
    pub emulator: Option<String>,
    pub url: String,
    pub health_url: String,
    /// The port in the container that answered (what Azure's ingress must target).
    #[serde(default)]
    pub port: Option<u16>,
    /// Container start to what a user waits for: the first render finished (Streamlit), else
    /// the first healthy answer.
    pub cold_start_ms: u64,
    /// Container start to the first healthy answer.
    pub health_ms: Option<u64>,
    /// Container start to the first script run finished (Streamlit).
    pub first_render_ms: Option<u64>,
    /// The first script run alone: session opened to run finished (Streamlit).
    pub script_run_ms: Option<u64>,
    pub streamlit_version: Option<String>,
    /// The highest memory and CPU seen while the first run ran (Streamlit).
    pub peak_memory_bytes: Option<u64>,
    pub peak_cpu_percent: Option<f64>,
    #[serde(default)]
    pub ttfb_ms: Option<u64>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub cpu_percent: Option<f64>,
    #[serde(default)]
    pub image_size_bytes: Option<u64>,
    /// `check`, `detach` or `interactive`.
    pub mode: String,
    pub tested_at: u64,
}

impl StateFile for LastTest {
    const PATH: &'static str = ".azdeploy/last-test.json";
}

impl LastTest {
    /// Whether this run tested the image with id `image_id` and it came up healthy.
    pub fn passed(&self, image_id: &str) -> bool {
        self.healthy && !image_id.is_empty() && self.image_id == image_id
    }
}

/// The last push: the pinned reference `deploy` takes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastPush {
    /// The local image pushed (absent for a build in ACR Tasks).
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(rename = "ref")]
    pub reference: String,
    pub refs: Vec<String>,
    pub digest: String,
    /// `<ref>@<digest>`.
    pub pinned: String,
    pub registry: String,
    pub platforms: Vec<String>,
    #[serde(default)]
    pub remote: Option<String>,
    pub pushed_at: u64,
}

impl StateFile for LastPush {
    const PATH: &'static str = ".azdeploy/last-push.json";
}

/// One deploy or rollback, however it ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deployment {
    #[serde(default)]
    pub at: u64,
    pub app: String,
    pub image: String,
    #[serde(default)]
    pub revision: Option<String>,
    #[serde(default)]
    pub previous_image: Option<String>,
    /// `healthy`, `failed`, `rolled back`, `rollback failed`, `not waited (--no-wait)`,
    /// `cancelled`, or `error: …`.
    pub result: String,
    #[serde(default)]
    pub seconds_to_healthy: Option<f64>,
    /// `rollback` for a rollback; absent for a deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke_first_request_ms: Option<u64>,
}

impl Deployment {
    pub fn healthy(&self) -> bool {
        self.result == "healthy"
    }

    pub fn is_rollback(&self) -> bool {
        self.kind.as_deref() == Some("rollback")
    }
}

/// Every deployment from here, oldest first.
pub struct History;

impl History {
    pub const PATH: &'static str = ".azdeploy/history.json";

    /// The history; empty when there is none yet, an error when the file is there but is not
    /// one (it is not overwritten).
    pub fn load(project: &Utf8Path) -> Result<Vec<Deployment>, Error> {
        let path = project.join(Self::PATH);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path: path.to_string(),
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| {
            Error::failed(
                format!(
                    "{} is not a list of deployments ({e}); not overwriting it",
                    Self::PATH
                ),
                "fix it (or move it aside), then run the command again",
            )
        })
    }

    /// Appends `entry`.
    pub fn append(project: &Utf8Path, entry: Deployment) -> Result<(), Error> {
        let mut all = Self::load(project)?;
        all.push(entry);
        let text = serde_json::to_string_pretty(&all).expect("state always serialises");
        write(project, Self::PATH, &text)
    }
}

/// The image to go back to from `current` in `app`'s history: the newest image that was healthy,
/// is not the current one, and was not rolled back from since (so a second rollback goes further
/// back instead of returning to the image the first one left); failing that, the image that ran
/// before the current one was first deployed from here.
pub fn previous_image(history: &[Deployment], app: &str, current: &str) -> Option<String> {
    let records: Vec<&Deployment> = history.iter().filter(|r| r.app == app).collect();
    let mut left = std::collections::HashSet::new();
    for r in records.iter().rev() {
        if r.is_rollback() {
            if let Some(p) = &r.previous_image {
                left.insert(p.as_str());
            }
        }
        if r.healthy() && r.image != current && !left.contains(r.image.as_str()) {
            return Some(r.image.clone());
        }
    }
    records
        .iter()
        .find(|r| r.image == current)
        .and_then(|r| r.previous_image.clone())
        .filter(|p| p != current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_missing_ones_read_as_nothing() {
        let d = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(d.path()).unwrap();
        assert_eq!(load::<LastPush>(dir), None);
        let p = LastPush {
            reference: "r.io/shop:1".into(),
            digest: "sha256:aa".into(),
            pinned: "r.io/shop:1@sha256:aa".into(),
            ..Default::default()
        };
        save(dir, &p).unwrap();
        let text = std::fs::read_to_string(dir.join(LastPush::PATH)).unwrap();
        assert!(text.contains("\"ref\": \"r.io/shop:1\""), "{text}");
        assert_eq!(load::<LastPush>(dir), Some(p));
        std::fs::write(dir.join(LastBuild::PATH), "not json").unwrap();
        assert_eq!(load::<LastBuild>(dir), None);
    }

    #[test]
    fn the_history_appends_and_is_never_replaced_when_unreadable() {
        let d = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(d.path()).unwrap();
        assert!(History::load(dir).unwrap().is_empty());
        let e = Deployment {
            app: "web".into(),
            image: "r/a@sha256:1".into(),
            result: "healthy".into(),
            ..Default::default()
        };
        History::append(dir, e.clone()).unwrap();
        History::append(dir, e.clone()).unwrap();
        assert_eq!(History::load(dir).unwrap(), [e.clone(), e.clone()]);
        std::fs::write(dir.join(History::PATH), "{\"not\": \"a list\"}").unwrap();
        let err = History::append(dir, e).unwrap_err();
        assert!(err.to_string().contains("not overwriting it"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.join(History::PATH)).unwrap(),
            "{\"not\": \"a list\"}"
        );
    }

    #[test]
    fn the_previous_image_comes_from_the_history() {
        let h: Vec<Deployment> = serde_json::from_str(
            r#"[{"app": "web", "image": "r/a@sha256:1", "previous_image": "r/a@sha256:0", "result": "healthy"},
                {"app": "web", "image": "r/a@sha256:2", "previous_image": "r/a@sha256:1", "result": "healthy"},
                {"app": "staging", "image": "r/s@sha256:9", "previous_image": null, "result": "healthy"},
                {"app": "web", "image": "r/a@sha256:3", "previous_image": "r/a@sha256:2", "result": "failed"}]"#,
        )
        .unwrap();
        // :3 failed: back to :2, never to another app's image.
        assert_eq!(
            previous_image(&h, "web", "r/a@sha256:3").as_deref(),
            Some("r/a@sha256:2")
        );
        // On :2: back to :1, never to the failed :3.
        assert_eq!(
            previous_image(&h, "web", "r/a@sha256:2").as_deref(),
            Some("r/a@sha256:1")
        );
        // Only the current image was ever deployed from here: what ran before it.
        assert_eq!(
            previous_image(&h[..1], "web", "r/a@sha256:1").as_deref(),
            Some("r/a@sha256:0")
        );
        assert_eq!(previous_image(&[], "web", "r/a@sha256:9"), None);
        assert_eq!(previous_image(&h, "staging", "r/s@sha256:9"), None);
    }

    #[test]
    fn a_second_rollback_goes_further_back() {
        let h: Vec<Deployment> = serde_json::from_str(
            r#"[{"app": "web", "image": "A", "result": "healthy"},
                {"app": "web", "image": "B", "previous_image": "A", "result": "healthy"},
                {"app": "web", "image": "C", "previous_image": "B", "result": "healthy"},
                {"app": "web", "image": "B", "previous_image": "C", "kind": "rollback", "result": "healthy"}]"#,
        )
        .unwrap();
        assert_eq!(previous_image(&h, "web", "B").as_deref(), Some("A"));
    }
}
