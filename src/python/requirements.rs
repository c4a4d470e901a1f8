//! Which requirements have no binary wheel for the target platform, asked of pip itself.
//!
//! For each line of requirements.txt, `pip download --no-deps --only-binary=:all:` with the
//! target's manylinux tags and Python version: a package that has no such wheel will be compiled
//! from source inside the (possibly emulated) build. A second question (`pip index versions`)
//! tells "only a source distribution (or other platforms)" from "not on the index at all". Works
//! offline against `--find-links DIR` (with `--no-index`) or any `--index-url`.

use crate::config::Platform;
use crate::process::runner::Cmd;

/// One requirement line, as pip takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The normalised project name (`Foo_Bar` → `foo-bar`).
    pub name: String,
    /// The specifier as written (without comments).
    pub spec: String,
}

/// The requirement lines of a requirements.txt (options, includes and comments skipped).
pub fn parse_requirements(text: &str) -> Vec<Requirement> {
    text.lines()
        .filter_map(|l| {
            let l = l.split(" #").next()?.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with('-') {
                return None;
            }
            let end = l
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
                .unwrap_or(l.len());
            let name = normalise(&l[..end]);
            (!name.is_empty()).then(|| Requirement {
                name,
                spec: l.to_string(),
            })
        })
        .collect()
}

/// PEP 503 normalisation: lowercase, runs of `-_.` become `-`.
pub fn normalise(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if "-_.".contains(c) {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out.trim_matches('-').to_string()
}

/// The manylinux tags pip should accept for `target` (glibc 2.17 up to Debian bookworm's 2.36,
/// as in `python:3.x-slim`); `None` for platforms without manylinux wheels.
pub fn platform_tags(target: &Platform) -> Option<Vec<String>> {
    let arch = match target.arch.as_str() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        _ => return None,
    };
    let mut tags = vec![format!("manylinux2014_{arch}")];
    for minor in [17, 28, 31, 34, 35, 36] {
        tags.push(format!("manylinux_2_{minor}_{arch}"));
    }
    Some(tags)
}

/// Where pip looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// pip's own configuration (PyPI or the user's pip.conf).
    Default,
    /// `--index-url URL`.
    Url(String),
    /// `--no-index --find-links DIR`: offline.
    Links(String),
}

impl Index {
    fn args(&self) -> Vec<String> {
        match self {
            Index::Default => vec![],
            Index::Url(u) => vec!["--index-url".into(), u.clone()],
            Index::Links(d) => vec!["--no-index".into(), "--find-links".into(), d.clone()],
        }
    }
}

/// `python -m pip download --no-deps --only-binary=:all: --platform … <spec>` into `dest`.
pub fn binary_check(
    python: Cmd,
    req: &Requirement,
    tags: &[String],
    python_version: &str,
    index: &Index,
    dest: &str,
) -> Cmd {
    let mut c = python.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
    ]);
    for t in tags {
        c = c.args(["--platform", t]);
    }
    c.args([
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "-d",
        dest,
    ])
    .args(index.args())
    .arg(&req.spec)
    .query()
}

/// `python -m pip index versions <name>`: every version pip can see (any kind of distribution
/// this machine could use, sdists included).
pub fn versions(python: Cmd, req: &Requirement, index: &Index) -> Cmd {
    python
        .args([
            "-m",
            "pip",
            "index",
            "versions",
            "--disable-pip-version-check",
        ])
        .args(index.args())
        .arg(&req.name)
        .query()
}

/// pip's output says the index could not be reached.
pub fn unreachable(stderr: &str) -> bool {
    [
        "Could not fetch URL",
        "NewConnectionError",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "Max retries exceeded",
    ]
    .iter()
    .any(|n| stderr.contains(n))
}

/// `Available versions: 3.0, 2.9` → the first (newest) one.
pub fn newest_version(stdout: &str) -> Option<String> {
    let list = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Available versions: "))?;
    list.split(',').next().map(|v| v.trim().to_string())
}

/// Packages whose x86-64 builds need AVX, which Rosetta does not emulate (`Illegal instruction`).
pub const AVX_PACKAGES: &[(&str, &str)] = &[
    (
        "polars",
        "use `polars-lts-cpu` (built without AVX2), or emulate with QEMU instead of Rosetta",
    ),
    (
        "tensorflow",
        "emulate with QEMU instead of Rosetta, or build on a native amd64 builder",
    ),
    (
        "tensorflow-cpu",
        "emulate with QEMU instead of Rosetta, or build on a native amd64 builder",
    ),
    (
        "tensorflow-intel",
        "emulate with QEMU instead of Rosetta, or build on a native amd64 builder",
    ),
    (
        "jaxlib",
        "emulate with QEMU instead of Rosetta, or build on a native amd64 builder",
    ),
];

/// The requirements that will hit Rosetta's missing AVX, with the fix for each.
pub fn avx_traps(reqs: &[Requirement]) -> Vec<(String, &'static str)> {
    reqs.iter()
        .filter_map(|r| {
            AVX_PACKAGES
                .iter()
                .find(|(n, _)| *n == r.name)
                .map(|(_, fix)| (r.spec.clone(), *fix))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_lines() {
        let r = parse_requirements(
            "# app\nstreamlit==1.39.0\nPandas>=2 ; python_version > '3.8'  # data\n-r base.txt\n--index-url x\nscikit_learn\n\n",
        );
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["streamlit", "pandas", "scikit-learn"]);
        assert_eq!(r[1].spec, "Pandas>=2 ; python_version > '3.8'");
        assert_eq!(normalise("Foo__Bar.baz"), "foo-bar-baz");
    }

    #[test]
    fn tags_and_argv() {
        let tags = platform_tags(&"linux/amd64".parse().unwrap()).unwrap();
        assert!(tags.contains(&"manylinux2014_x86_64".to_string()));
        assert!(tags.contains(&"manylinux_2_36_x86_64".to_string()));
        assert!(platform_tags(&"linux/s390x".parse().unwrap()).is_none());
        let req = &parse_requirements("numpy==2.1")[0];
        let c = binary_check(
            Cmd::new("python3", "x"),
            req,
            &tags[..1],
            "3.12",
            &Index::Links("/w".into()),
            "/d",
        );
        assert_eq!(
            c.shown_args().join(" "),
            "-m pip download --no-deps --only-binary=:all: --disable-pip-version-check --platform manylinux2014_x86_64 \
             --python-version 3.12 --implementation cp -d /d --no-index --find-links /w numpy==2.1"
        );
    }

    #[test]
    fn pip_output() {
        assert_eq!(
            newest_version("sdistonly (3.0)\nAvailable versions: 3.0, 2.9\n").as_deref(),
            Some("3.0")
        );
        assert!(unreachable("WARNING: Retrying ... NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection>: Failed to establish a new connection')"));
        assert!(!unreachable("ERROR: No matching distribution found for x"));
    }

    #[test]
    fn avx() {
        let r = parse_requirements("Polars==1.9\nstreamlit\n");
        let t = avx_traps(&r);
        assert_eq!(t.len(), 1);
        assert!(t[0].1.contains("polars-lts-cpu"));
    }
}
