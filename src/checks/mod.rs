//! The checks behind `doctor` and the preflight of `build` and `test-local`: each returns
//! findings (ok / warn / fail / skip, a detail, and a hint for anything not ok), never an error,
//! except `Error::Cancelled`. One file per domain: the engine, emulation, the Dockerfile, Azure,
//! wheels; `preflight` runs the fast subset before a build.
//!
//! May import: `azure`, `python`, `image`, `engine`, `project`, `ctx`, `config`, `process`, `sys`,
//! `report`.

use serde::Serialize;

pub mod app;
pub mod azure;
pub mod dockerfile;
pub mod emulation;
pub mod engine;
pub mod preflight;
pub mod wheels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
    /// How long the check took (set by whoever ran it).
    pub ms: u64,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            hint: None,
            ms: 0,
        }
    }
    pub fn skip(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Skip,
            detail: detail.into(),
            hint: None,
            ms: 0,
        }
    }
    pub fn warn(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
            ms: 0,
        }
    }
    pub fn fail(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
            ms: 0,
        }
    }
}

pub fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
}

/// The table: one line per check, hints indented under the line they belong to.
pub fn render(checks: &[Check]) -> String {
    use crate::report::output;
    let mut rows = vec![vec!["CHECK".to_string(), "STATUS".into(), "DETAIL".into()]];
    for c in checks {
        rows.push(vec![
            c.name.clone(),
            c.status.word().into(),
            c.detail.clone(),
        ]);
    }
    let table = output::table(&rows);
    let indent = rows.iter().map(|r| r[0].len()).max().unwrap_or(0) + 2 + "STATUS".len() + 2;
    let mut out = String::new();
    for (i, line) in table.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if let Some(h) = i.checked_sub(1).and_then(|j| checks[j].hint.as_ref()) {
            let pad = " ".repeat(indent);
            let width = 100usize.max(indent + 40);
            out.push_str(&output::wrap(
                &format!("{pad}hint: {h}"),
                width,
                &format!("{pad}      "),
            ));
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

/// Prints each warning and its hint on stderr.
pub fn say_warnings(checks: &[Check]) {
    for c in checks.iter().filter(|c| c.status == Status::Warn) {
        say!("warning: {}: {}", c.name, c.detail);
        if let Some(h) = &c.hint {
            say!("  hint: {h}");
        }
    }
}
