//! Dockerfile checks that catch, before a build, what would fail on Azure.
//!
//! Pure: fed the Dockerfile's text and the target. A `Problem` is an error when the image would
//! certainly be wrong (the final stage pinned to another platform), a warning otherwise.

use crate::config::Platform;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    pub error: bool,
    pub message: String,
    pub hint: String,
}

/// One `FROM` line: its number, platform pin and image.
struct From<'a> {
    line: usize,
    text: &'a str,
    platform: Option<&'a str>,
    image: &'a str,
    /// `AS name`.
    alias: Option<&'a str>,
}

fn froms(dockerfile: &str) -> Vec<From<'_>> {
    dockerfile
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let text = l.trim();
            let mut words = text.split_whitespace();
            if !words.next()?.eq_ignore_ascii_case("FROM") {
                return None;
            }
            let mut platform = None;
            let mut image = words.next()?;
            while let Some(flag) = image.strip_prefix("--") {
                if let Some(p) = flag.strip_prefix("platform=") {
                    platform = Some(p);
                }
                image = words.next()?;
            }
            let alias = match (words.next(), words.next()) {
                (Some(a), Some(name)) if a.eq_ignore_ascii_case("AS") => Some(name),
                _ => None,
            };
            Some(From {
                line: i + 1,
                text,
                platform,
                image,
                alias,
            })
        })
        .collect()
}

/// The image the final stage is built from (`FROM image [AS name]` of the last stage), with a
/// stage name followed back to its own base and `${ARG}`s filled in from `args` (the build
/// arguments) or the `ARG` defaults before the first `FROM`: where the image's files come from.
pub fn final_base(dockerfile: &str, args: &[(String, String)]) -> Option<String> {
    let stages = froms(dockerfile);
    let mut image = stages.last()?.image;
    // `FROM builder` where builder is an earlier stage: that stage's base.
    for _ in 0..stages.len() {
        match stages
            .iter()
            .find(|f| f.alias.is_some_and(|a| a.eq_ignore_ascii_case(image)))
        {
            Some(stage) => image = stage.image,
            None => break,
        }
    }
    let mut vars: Vec<(String, String)> = dockerfile
        .lines()
        .map(str::trim)
        .take_while(|l| !l.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("FROM")))
        .filter_map(|l| {
            let rest = l.strip_prefix("ARG ").or_else(|| l.strip_prefix("arg "))?;
            let (k, v) = rest.trim().split_once('=')?;
            Some((k.to_string(), v.trim_matches('"').to_string()))
        })
        .collect();
    vars.splice(0..0, args.iter().cloned());
    let value = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut out = image.to_string();
    for (k, _) in &vars {
        if let Some(v) = value(k) {
            out = out
                .replace(&format!("${{{k}}}"), &v)
                .replace(&format!("${k}"), &v);
        }
    }
    Some(out)
}

/// Docker Hub namespaces that hold images for one architecture only.
const ARCH_NAMESPACES: &[(&str, &str)] = &[
    ("arm64v8/", "arm64"),
    ("arm32v7/", "arm"),
    ("arm32v6/", "arm"),
    ("arm32v5/", "arm"),
    ("amd64/", "amd64"),
    ("i386/", "386"),
    ("ppc64le/", "ppc64le"),
    ("s390x/", "s390x"),
    ("riscv64/", "riscv64"),
];

/// Every problem found, in line order.
pub fn lint(dockerfile: &str, target: &Platform, port: u16) -> Vec<Problem> {
    let mut out = Vec::new();
    let stages = froms(dockerfile);
    let last = stages.len().saturating_sub(1);
    for (i, f) in stages.iter().enumerate() {
        if let Some(p) = f.platform.filter(|p| !p.contains('$')) {
            let pinned: Option<Platform> = p.parse().ok();
            let same = pinned
                .as_ref()
                .is_some_and(|pp| pp.os == target.os && pp.arch == target.arch);
            if !same {
                let final_stage = i == last;
                out.push(Problem {
                    line: f.line,
                    error: final_stage,
                    message: format!(
                        "`{}` pins {} to {p}, but the target is {target}{}",
                        f.text,
                        if final_stage { "the final stage" } else { "a build stage" },
                        if final_stage { ": the image would be the wrong architecture" } else { "" }
                    ),
                    hint: format!(
                        "drop `--platform={p}` (or use `--platform=$BUILDPLATFORM` for a stage that only compiles)"
                    ),
                });
            }
        }
        for (ns, arch) in ARCH_NAMESPACES {
            if f.image.starts_with(ns) && *arch != target.arch {
                out.push(Problem {
                    line: f.line,
                    error: false,
                    message: format!("`{}` uses {ns}…, an image for {arch} only", f.text),
                    hint: format!(
                        "use the multi-platform image without the `{ns}` prefix, so {target} is picked"
                    ),
                });
            }
        }
    }
    let exposes: Vec<u16> = dockerfile
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            w.next()
                .filter(|k| k.eq_ignore_ascii_case("EXPOSE"))
                .map(|_| {
                    w.filter_map(|p| p.split('/').next()?.parse().ok())
                        .collect::<Vec<u16>>()
                })
        })
        .flatten()
        .collect();
    if !stages.is_empty() && !exposes.contains(&port) {
        out.push(Problem {
            line: 0,
            error: false,
            message: format!("no `EXPOSE {port}` (the configured port)"),
            hint: format!("add `EXPOSE {port}`, or set \"port\" in azdeploy.json to the port the app listens on"),
        });
    }
    for (i, l) in dockerfile.lines().enumerate() {
        let t = l.trim();
        let starts_app = ["CMD", "ENTRYPOINT"]
            .iter()
            .any(|k| t.get(..k.len()).is_some_and(|w| w.eq_ignore_ascii_case(k)));
        if !starts_app || !t.contains("streamlit") {
            continue;
        }
        if !t.contains("--server.address=0.0.0.0") && !t.contains("--server.address 0.0.0.0") {
            out.push(Problem {
                line: i + 1,
                error: false,
                message: "Streamlit is started without `--server.address=0.0.0.0`".into(),
                hint: "add `--server.address=0.0.0.0` so the app answers outside the container"
                    .into(),
            });
        }
        if let Some(p) = streamlit_port(t) {
            if p != port {
                out.push(Problem {
                    line: i + 1,
                    error: false,
                    message: format!("Streamlit listens on {p}, but the configured port is {port}"),
                    hint: format!(
                        "use `--server.port={port}`, or set \"port\": {p} in azdeploy.json"
                    ),
                });
            }
        }
    }
    out.sort_by_key(|p| p.line);
    out
}

fn streamlit_port(line: &str) -> Option<u16> {
    let i = line.find("--server.port")?;
    let rest = &line[i + "--server.port".len()..];
    let rest = rest.trim_start_matches(['=', ' ', '"', ',', '\'']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> Platform {
        "linux/amd64".parse().unwrap()
    }

    #[test]
    fn a_pinned_final_stage_is_an_error_and_a_pinned_builder_a_warning() {
        let df = "FROM --platform=linux/arm64 golang AS build\nRUN make\n\
                  FROM --platform=$BUILDPLATFORM alpine AS tools\n\
                  FROM --platform=linux/arm64 python:3.12-slim\nEXPOSE 8501\n";
        let p = lint(df, &amd64(), 8501);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[0].line, p[0].error), (1, false));
        assert_eq!((p[1].line, p[1].error), (4, true));
        assert!(p[1].message.contains("final stage"), "{}", p[1].message);
        assert!(lint(
            "FROM --platform=linux/amd64 python\nEXPOSE 8501\n",
            &amd64(),
            8501
        )
        .is_empty());
    }

    #[test]
    fn the_final_base_follows_stage_names() {
        let none: &[(String, String)] = &[];
        assert_eq!(
            final_base(
                "FROM python:3.12-slim AS b\nRUN x\nFROM b AS final\nFROM final\n",
                none
            )
            .as_deref(),
            Some("python:3.12-slim")
        );
        let df = "ARG PYTHON_IMAGE=python:3.12-slim\nFROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS b\nFROM ${PYTHON_IMAGE}\n";
        assert_eq!(final_base(df, none).as_deref(), Some("python:3.12-slim"));
        let args = [(
            "PYTHON_IMAGE".to_string(),
            "127.0.0.1:5001/python:3.11".to_string(),
        )];
        assert_eq!(
            final_base(df, &args).as_deref(),
            Some("127.0.0.1:5001/python:3.11")
        );
        assert_eq!(final_base("# nothing\n", none), None);
    }

    #[test]
    fn arch_specific_bases_and_ports() {
        let df = "FROM arm64v8/python:3.12\nCMD [\"streamlit\", \"run\", \"app.py\", \"--server.port=8080\"]\n";
        let p = lint(df, &amd64(), 8501);
        let msgs: Vec<&str> = p.iter().map(|p| p.message.as_str()).collect();
        assert!(msgs.iter().any(|m| m.contains("arm64v8/…")), "{msgs:?}");
        assert!(
            msgs.iter().any(|m| m.contains("no `EXPOSE 8501`")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("without `--server.address=0.0.0.0`")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("listens on 8080")),
            "{msgs:?}"
        );
        assert!(p.iter().all(|p| !p.error));
        let good = "FROM python:3.12-slim\nEXPOSE 8501/tcp\n\
                    ENTRYPOINT [\"streamlit\", \"run\", \"app.py\", \"--server.address=0.0.0.0\", \"--server.port=8501\"]\n";
        assert!(lint(good, &amd64(), 8501).is_empty());
        assert!(lint(
            "FROM arm64v8/python\nEXPOSE 1\n",
            &"linux/arm64".parse().unwrap(),
            1
        )
        .is_empty());
    }
}
