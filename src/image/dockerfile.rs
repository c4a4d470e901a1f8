//! The one Dockerfile reader, and the checks that catch before a build what would fail on Azure.
//!
//! Pure: fed the Dockerfile's text. [`Dockerfile::parse`] reads its stages (`FROM [--flags]
//! image [AS name]`), `EXPOSE`d ports, global `ARG` defaults and the lines that start the app;
//! everything else here (the lint, the pinned stages, the final base image, the Python version)
//! is read from that. A lint [`Problem`] is an error when the image would certainly be wrong
//! (the final stage pinned to another platform), a warning otherwise.
//!
//! May import: `config`.

use crate::config::Platform;

/// One `FROM` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage<'a> {
    /// 1-based line number.
    pub line: usize,
    pub text: &'a str,
    /// `--platform=…`, as written.
    pub platform: Option<&'a str>,
    pub image: &'a str,
    /// `AS name`.
    pub alias: Option<&'a str>,
}

impl Stage<'_> {
    /// Pinned to a fixed platform (`$BUILDPLATFORM`/`$TARGETPLATFORM` are the normal idiom).
    pub fn pinned(&self) -> Option<&str> {
        self.platform.filter(|p| !p.contains('$'))
    }
}

/// What a Dockerfile says, as far as this tool reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile<'a> {
    pub stages: Vec<Stage<'a>>,
    /// `EXPOSE`d ports (the protocol suffix dropped), in order.
    pub exposed: Vec<u16>,
    /// `ARG NAME=default` before the first `FROM`.
    pub global_args: Vec<(String, String)>,
    /// `CMD`/`ENTRYPOINT` lines: (line number, text).
    pub starts: Vec<(usize, &'a str)>,
    /// `RUN` lines: (line number, the index of their stage, text).
    pub runs: Vec<(usize, usize, &'a str)>,
}

/// The instruction word of a line, uppercased, and the rest.
fn instruction(line: &str) -> Option<(String, &str)> {
    let t = line.trim();
    if t.starts_with('#') {
        return None;
    }
    let (word, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    Some((word.to_ascii_uppercase(), rest.trim()))
}

impl<'a> Dockerfile<'a> {
    pub fn parse(text: &'a str) -> Dockerfile<'a> {
        let mut d = Dockerfile {
            stages: Vec::new(),
            exposed: Vec::new(),
            global_args: Vec::new(),
            starts: Vec::new(),
            runs: Vec::new(),
        };
        for (i, l) in text.lines().enumerate() {
            let Some((word, rest)) = instruction(l) else {
                continue;
            };
            match word.as_str() {
                "FROM" => d.stages.extend(stage(i + 1, l.trim(), rest)),
                "EXPOSE" => d.exposed.extend(
                    rest.split_whitespace()
                        .filter_map(|p| p.split('/').next()?.parse::<u16>().ok()),
                ),
                "ARG" if d.stages.is_empty() => {
                    if let Some((k, v)) = rest.split_once('=') {
                        d.global_args
                            .push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
                    }
                }
                "CMD" | "ENTRYPOINT" => d.starts.push((i + 1, l.trim())),
                "RUN" if !d.stages.is_empty() => d.runs.push((i + 1, d.stages.len() - 1, l.trim())),
                _ => {}
            }
        }
        d
    }

    /// Stages pinned to a fixed platform other than `target`'s os/arch.
    /// Whether stage `i` is built on the build machine's own platform: `--platform=$BUILDPLATFORM`,
    /// or `FROM` a stage that is.
    pub fn on_build_platform(&self, i: usize) -> bool {
        let mut seen = 0;
        let mut stage = &self.stages[i];
        loop {
            if stage.platform.is_some_and(|p| p.contains("BUILDPLATFORM")) {
                return true;
            }
            if stage.platform.is_some() || seen > self.stages.len() {
                return false;
            }
            match self.stages.iter().find(|s| s.alias == Some(stage.image)) {
                Some(parent) => stage = parent,
                None => return false,
            }
            seen += 1;
        }
    }

    /// The lines of `RUN`s executed in a stage built for the target: under emulation when the
    /// target is not the build machine's architecture. Empty: the build runs nothing emulated.
    pub fn target_runs(&self) -> Vec<usize> {
        self.runs
            .iter()
            .filter(|(_, stage, _)| !self.on_build_platform(*stage))
            .map(|(line, _, _)| *line)
            .collect()
    }

    pub fn pinned_elsewhere(&self, target: &Platform) -> Vec<&Stage<'a>> {
        self.stages
            .iter()
            .filter(|s| {
                s.pinned().is_some_and(|p| {
                    !p.parse::<Platform>()
                        .is_ok_and(|pp| pp.os == target.os && pp.arch == target.arch)
                })
            })
            .collect()
    }

    /// Whether the final stage is pinned to a platform other than `target`'s.
    pub fn final_pinned_elsewhere(&self, target: &Platform) -> bool {
        self.stages
            .last()
            .is_some_and(|last| self.pinned_elsewhere(target).contains(&last))
    }

    /// The image the final stage is built from, with a stage name followed back to its own
    /// base and `${ARG}`s filled in from `args` (the build arguments) or the global `ARG`
    /// defaults: where the image's files come from.
    pub fn final_base(&self, args: &[(String, String)]) -> Option<String> {
        let mut image = self.stages.last()?.image;
        for _ in 0..self.stages.len() {
            match self
                .stages
                .iter()
                .find(|s| s.alias.is_some_and(|a| a.eq_ignore_ascii_case(image)))
            {
                Some(stage) => image = stage.image,
                None => break,
            }
        }
        let mut vars: Vec<(String, String)> = args.to_vec();
        vars.extend(self.global_args.iter().cloned());
        let mut out = image.to_string();
        for (k, _) in &vars {
            if let Some((_, v)) = vars.iter().find(|(n, _)| n == k) {
                out = out
                    .replace(&format!("${{{k}}}"), v)
                    .replace(&format!("${k}"), v);
            }
        }
        Some(out)
    }

    /// The Python version (`3.12`) of the final base when it is a `python:X.Y…` image.
    pub fn python_version(&self, args: &[(String, String)]) -> Option<String> {
        let base = self.final_base(args)?;
        let tag = base.rsplit('/').next()?.strip_prefix("python:")?;
        let v: String = tag
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = v.split('.').filter(|p| !p.is_empty());
        Some(format!("{}.{}", parts.next()?, parts.next()?))
    }

    /// Whether the app is started with Streamlit.
    pub fn starts_streamlit(&self) -> bool {
        self.starts.iter().any(|(_, t)| {
            t.contains("streamlit run") || t.contains("\"streamlit\"") || t.contains("streamlit.")
        })
    }
}

fn stage<'a>(line: usize, text: &'a str, rest: &'a str) -> Option<Stage<'a>> {
    let mut words = rest.split_whitespace();
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
    Some(Stage {
        line,
        text,
        platform,
        image,
        alias,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    pub error: bool,
    pub message: String,
    pub hint: String,
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

/// How the target is built here: natively, or under emulation (with what the benchmark
/// measured emulation to cost, as a factor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Here {
    Native,
    Emulated(Option<f64>),
}

/// Every problem found, in line order.
pub fn lint(d: &Dockerfile, target: &Platform, port: u16, here: Here) -> Vec<Problem> {
    let mut out = pinning(d, target);
    if let Here::Emulated(cost) = here {
        out.extend(pip_under_emulation(d, target, cost));
    }
    out.extend(arch_bases(d, target));
    if !d.stages.is_empty() && !d.exposed.contains(&port) {
        out.push(Problem {
            line: 0,
            error: false,
            message: format!("no `EXPOSE {port}` (the configured port)"),
            hint: format!("add `EXPOSE {port}`, or set \"port\" in azdeploy.json to the port the app listens on"),
        });
    }
    out.extend(streamlit(d, port));
    out.sort_by_key(|p| p.line);
    out
}

/// Stages pinned to another platform: an error for the final stage (the image would be the
/// wrong architecture), a warning for a build stage.
fn pinning(d: &Dockerfile, target: &Platform) -> Vec<Problem> {
    let last = d.stages.last().map(|s| s.line);
    d.pinned_elsewhere(target)
        .into_iter()
        .map(|s| {
            let p = s.pinned().unwrap_or_default();
            let final_stage = Some(s.line) == last;
            Problem {
                line: s.line,
                error: final_stage,
                message: format!(
                    "`{}` pins {} to {p}, but the target is {target}{}",
                    s.text,
                    if final_stage { "the final stage" } else { "a build stage" },
                    if final_stage { ": the image would be the wrong architecture" } else { "" }
                ),
                hint: format!(
                    "drop `--platform={p}` (or use `--platform=$BUILDPLATFORM` for a stage that only compiles)"
                ),
            }
        })
        .collect()
}

/// `pip install`/`pip wheel` in a stage built for the target runs under emulation here. Stages on
/// `$BUILDPLATFORM` run natively.
fn pip_under_emulation(d: &Dockerfile, target: &Platform, cost: Option<f64>) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    for (line, stage, text) in &d.runs {
        if d.on_build_platform(*stage)
            || !(text.contains("pip install") || text.contains("pip wheel"))
        {
            continue;
        }
        let slower = cost
            .map(|c| format!(": the benchmark measured that {c:.1}× slower than native"))
            .unwrap_or_default();
        out.push(Problem {
            line: *line,
            error: false,
            message: format!(
                "`{}` installs the dependencies in a stage for {target}, which runs under emulation on this machine{slower}",
                shorten(text, 60)
            ),
            hint: "`docker azdeploy init --dockerfile --force` writes a Dockerfile whose dependency stage runs on $BUILDPLATFORM (pip fetches the target's wheels, nothing emulated) when every requirement has a wheel; or build natively with `--remote acr`".into(),
        });
    }
    out
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    format!("{}…", text.chars().take(max - 1).collect::<String>())
}

/// Bases from a Docker Hub namespace for one other architecture (`arm64v8/…`).
fn arch_bases(d: &Dockerfile, target: &Platform) -> Vec<Problem> {
    let mut out = Vec::new();
    for s in &d.stages {
        for (ns, arch) in ARCH_NAMESPACES {
            if s.image.starts_with(ns) && *arch != target.arch {
                out.push(Problem {
                    line: s.line,
                    error: false,
                    message: format!("`{}` uses {ns}…, an image for {arch} only", s.text),
                    hint: format!(
                        "use the multi-platform image without the `{ns}` prefix, so {target} is picked"
                    ),
                });
            }
        }
    }
    out
}

/// Streamlit started so that Azure cannot reach it: bound to localhost, or another port.
fn streamlit(d: &Dockerfile, port: u16) -> Vec<Problem> {
    let mut out = Vec::new();
    for (line, t) in d.starts.iter().filter(|(_, t)| t.contains("streamlit")) {
        if !t.contains("--server.address=0.0.0.0") && !t.contains("--server.address 0.0.0.0") {
            out.push(Problem {
                line: *line,
                error: false,
                message: "Streamlit is started without `--server.address=0.0.0.0`".into(),
                hint: "add `--server.address=0.0.0.0` so the app answers outside the container"
                    .into(),
            });
        }
        if let Some(p) = streamlit_port(t).filter(|p| *p != port) {
            out.push(Problem {
                line: *line,
                error: false,
                message: format!("Streamlit listens on {p}, but the configured port is {port}"),
                hint: format!("use `--server.port={port}`, or set \"port\": {p} in azdeploy.json"),
            });
        }
    }
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

    fn lint_text(text: &str, target: &Platform, port: u16) -> Vec<Problem> {
        lint(&Dockerfile::parse(text), target, port, Here::Native)
    }

    #[test]
    fn a_pinned_final_stage_is_an_error_and_a_pinned_builder_a_warning() {
        let df = "FROM --platform=linux/arm64 golang AS build\nRUN make\n\
                  FROM --platform=$BUILDPLATFORM alpine AS tools\n\
                  FROM --platform=linux/arm64 python:3.12-slim\nEXPOSE 8501\n";
        let p = lint_text(df, &amd64(), 8501);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[0].line, p[0].error), (1, false));
        assert_eq!((p[1].line, p[1].error), (4, true));
        assert_eq!(
            p[1].message,
            "`FROM --platform=linux/arm64 python:3.12-slim` pins the final stage to linux/arm64, \
             but the target is linux/amd64: the image would be the wrong architecture"
        );
        assert!(Dockerfile::parse(df).final_pinned_elsewhere(&amd64()));
        let ok = "FROM --platform=linux/amd64 python\nEXPOSE 8501\n";
        assert!(lint_text(ok, &amd64(), 8501).is_empty());
        // `--platform=` after another flag is seen too.
        let late = "FROM --pull=always --platform=linux/arm64 base\nEXPOSE 8501\n";
        assert!(Dockerfile::parse(late).final_pinned_elsewhere(&amd64()));
    }

    #[test]
    fn arch_specific_bases_and_ports() {
        let df = "FROM arm64v8/python:3.12\nCMD [\"streamlit\", \"run\", \"app.py\", \"--server.port=8080\"]\n";
        let msgs: Vec<String> = lint_text(df, &amd64(), 8501)
            .into_iter()
            .map(|p| p.message)
            .collect();
        assert_eq!(
            msgs,
            [
                "no `EXPOSE 8501` (the configured port)",
                "`FROM arm64v8/python:3.12` uses arm64v8/…, an image for arm64 only",
                "Streamlit is started without `--server.address=0.0.0.0`",
                "Streamlit listens on 8080, but the configured port is 8501",
            ]
        );
        let good = "FROM python:3.12-slim\nEXPOSE 8501/tcp\n\
                    ENTRYPOINT [\"streamlit\", \"run\", \"app.py\", \"--server.address=0.0.0.0\", \"--server.port=8501\"]\n";
        assert!(lint_text(good, &amd64(), 8501).is_empty());
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert!(lint_text("FROM arm64v8/python\nEXPOSE 1\n", &arm64, 1).is_empty());
    }

    #[test]
    fn pip_in_a_target_stage_is_named_when_emulated() {
        let usual = "FROM python:3.12-slim AS builder\nRUN pip wheel -r r.txt\nFROM python:3.12-slim\nRUN pip install /wheels/*\nEXPOSE 8501\n";
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let d = Dockerfile::parse(usual);
        assert!(lint(&d, &arm64, 8501, Here::Native).is_empty());
        let p = lint(&d, &arm64, 8501, Here::Emulated(Some(4.7)));
        assert_eq!(
            p.iter().map(|p| p.line).collect::<Vec<_>>(),
            [2, 4],
            "{p:?}"
        );
        assert_eq!(
            p[0].message,
            "`RUN pip wheel -r r.txt` installs the dependencies in a stage for linux/arm64, which runs under emulation on this machine: the benchmark measured that 4.7× slower than native"
        );
        assert!(p[0].hint.contains("$BUILDPLATFORM") && !p[0].error);
        let no_emulation = "FROM --platform=$BUILDPLATFORM python AS deps\nRUN pip install --target /deps x\nFROM python\nCOPY --from=deps /deps/ /\nEXPOSE 8501\n";
        assert_eq!(
            Dockerfile::parse(no_emulation).target_runs(),
            Vec::<usize>::new()
        );
        let inherited = "FROM --platform=$BUILDPLATFORM python AS base\nFROM base AS deps\nRUN pip x\nFROM python\nRUN useradd app\n";
        assert_eq!(Dockerfile::parse(inherited).target_runs(), [5]);
        let pinned = "FROM --platform=linux/arm64 python\nRUN true\n";
        assert_eq!(Dockerfile::parse(pinned).target_runs(), [2]);
        assert!(lint(
            &Dockerfile::parse(no_emulation),
            &arm64,
            8501,
            Here::Emulated(None)
        )
        .is_empty());
    }

    #[test]
    fn the_final_base_follows_stage_names_and_args() {
        let none: &[(String, String)] = &[];
        let d =
            Dockerfile::parse("FROM python:3.12-slim AS b\nRUN x\nFROM b AS final\nFROM final\n");
        assert_eq!(d.final_base(none).as_deref(), Some("python:3.12-slim"));
        let text = "ARG PYTHON_IMAGE=python:3.12-slim\nFROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS b\nFROM ${PYTHON_IMAGE}\n";
        let d = Dockerfile::parse(text);
        assert_eq!(d.final_base(none).as_deref(), Some("python:3.12-slim"));
        assert_eq!(d.python_version(none).as_deref(), Some("3.12"));
        let args = [(
            "PYTHON_IMAGE".to_string(),
            "127.0.0.1:5001/python:3.11".to_string(),
        )];
        assert_eq!(
            d.final_base(&args).as_deref(),
            Some("127.0.0.1:5001/python:3.11")
        );
        assert_eq!(d.python_version(&args).as_deref(), Some("3.11"));
        assert_eq!(Dockerfile::parse("# nothing\n").final_base(none), None);
    }

    #[test]
    fn the_python_version_and_the_port() {
        let none: &[(String, String)] = &[];
        let v = |t: &str| Dockerfile::parse(t).python_version(none);
        assert_eq!(
            v("FROM python:3.11-slim AS b\nFROM b\n").as_deref(),
            Some("3.11")
        );
        assert_eq!(
            v("from docker.io/library/python:3.13.1-bookworm\n").as_deref(),
            Some("3.13")
        );
        assert_eq!(v("FROM debian:12\n"), None);
        assert_eq!(v("FROM python:latest\n"), None);
        let d = Dockerfile::parse(
            "FROM x\n# EXPOSE 1\nexpose 8080/tcp 9000\nCMD [\"streamlit\", \"run\", \"a.py\"]\n",
        );
        assert_eq!(d.exposed, [8080, 9000]);
        assert!(d.starts_streamlit());
    }
}
