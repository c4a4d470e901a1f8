//! The gate that reads binaries, not labels: which program will the image start, and is that
//! file really built for the target's CPU?
//!
//! A label can lie (a base image imported with the wrong `--platform`, a re-tag, a broken
//! multi-arch push): BuildKit then labels the result with the target platform, and `docker image
//! inspect` and the registry agree with the label. So the gate resolves the image's
//! `ENTRYPOINT`/`CMD` in the image's own `PATH`, follows a `#!` script to its interpreter, copies
//! that one file out of a created (never started) container and reads its ELF header. Nothing
//! runs for the target. A match is remembered by image id, which is a content digest: the same
//! id is the same files.

use camino::Utf8PathBuf;

use crate::config::Platform;
use crate::ctx::Ctx;
use crate::engine::docker::{self, ImageInspect};
use crate::image::reference::ImageRef;
use crate::image::registry::ReadBack;
use crate::report::error::Error;

/// How many `#!` hops are followed (`streamlit` → `python3.12` is one).
const MAX_HOPS: usize = 4;
/// Read this much of each file: an ELF header or a `#!` line fits.
const HEAD: usize = 256;

/// What the first bytes of a file say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An ELF file: its `e_machine` as docker names it (`amd64`, `arm64`, …, or `machine N`),
    /// and as people do (`x86-64`, `AArch64`).
    Elf { arch: String, machine: String },
    /// A `#!` script: its interpreter and the first argument (`/usr/bin/env python3`).
    Script {
        interpreter: String,
        arg: Option<String>,
    },
    /// Anything else (not a program the kernel can start).
    Other,
}

/// Classifies a file by its first bytes (the ELF header through the `object` crate).
pub fn classify(head: &[u8]) -> Kind {
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut words = line.split_whitespace();
        return match words.next() {
            Some(i) => Kind::Script {
                interpreter: i.to_string(),
                arg: words.next().map(str::to_string),
            },
            None => Kind::Other,
        };
    }
    use object::read::elf::FileHeader;
    let machine = match object::FileKind::parse(head) {
        Ok(object::FileKind::Elf64) => object::elf::FileHeader64::<object::Endianness>::parse(head)
            .ok()
            .and_then(|h| Some((h.e_machine(h.endian().ok()?), h.endian().ok()?))),
        Ok(object::FileKind::Elf32) => object::elf::FileHeader32::<object::Endianness>::parse(head)
            .ok()
            .and_then(|h| Some((h.e_machine(h.endian().ok()?), h.endian().ok()?))),
        _ => None,
    };
    match machine {
        Some((m, endian)) => {
            let (arch, name) = elf_arch(m, endian == object::Endianness::Little);
            Kind::Elf {
                arch,
                machine: name,
            }
        }
        None => Kind::Other,
    }
}

/// Docker's architecture and a person's name for an ELF `e_machine`.
fn elf_arch(machine: u16, little: bool) -> (String, String) {
    use object::elf;
    let (arch, name) = match machine {
        elf::EM_X86_64 => ("amd64", "x86-64"),
        elf::EM_AARCH64 => ("arm64", "AArch64"),
        elf::EM_ARM => ("arm", "ARM"),
        elf::EM_386 => ("386", "Intel 80386"),
        elf::EM_RISCV => ("riscv64", "RISC-V"),
        elf::EM_PPC64 if little => ("ppc64le", "PowerPC64 (little-endian)"),
        elf::EM_PPC64 => ("ppc64", "PowerPC64"),
        elf::EM_S390 => ("s390x", "IBM S/390"),
        elf::EM_MIPS if little => ("mips64le", "MIPS (little-endian)"),
        elf::EM_MIPS => ("mips64", "MIPS"),
        elf::EM_LOONGARCH => ("loong64", "LoongArch"),
        other => return (format!("machine {other}"), format!("ELF machine {other}")),
    };
    (arch.to_string(), name.to_string())
}

/// The program the image starts: the first word of `ENTRYPOINT`, else of `CMD`.
pub fn program(inspect: &ImageInspect) -> Option<String> {
    let c = inspect.config.as_ref()?;
    let first = |v: &Option<Vec<String>>| v.as_ref().and_then(|v| v.first()).cloned();
    first(&c.entrypoint)
        .or_else(|| first(&c.cmd))
        .filter(|p| !p.is_empty())
}

/// Where `name` can be, in lookup order: itself when it has a slash (relative to the working
/// directory), else each directory of the image's `PATH` (docker's default when unset).
pub fn candidates(name: &str, path_env: Option<&str>, workdir: Option<&str>) -> Vec<String> {
    if name.contains('/') {
        if name.starts_with('/') {
            return vec![name.to_string()];
        }
        let wd = workdir.filter(|w| !w.is_empty()).unwrap_or("/");
        return vec![format!("{}/{name}", wd.trim_end_matches('/'))];
    }
    path_env
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| format!("{}/{name}", d.trim_end_matches('/')))
        .collect()
}

/// The image's `PATH` from its config's `Env`.
pub fn path_env(inspect: &ImageInspect) -> Option<String> {
    inspect
        .config
        .as_ref()?
        .env
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_string))
}

/// What the gate found: the file the image starts (after any `#!` hops) and its machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// The chain, e.g. `["/usr/local/bin/streamlit", "/usr/local/bin/python3.12"]`.
    pub chain: Vec<String>,
    /// Docker's architecture of the last file.
    pub arch: String,
    pub machine: String,
}

/// The verdict on an image's program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The program is for the target.
    Matches(Finding),
    /// It is not: the image would fail with `exec format error`.
    Wrong(Finding),
    /// The image names no program (no `ENTRYPOINT`/`CMD`): nothing to check.
    NoProgram,
    /// The program could not be read (missing, or not an executable format); why.
    Unreadable(String),
}

/// Checks the program of the local image `inspect` against `target`. `base` names the base
/// image the files came from, for the error.
pub fn check(
    ctx: &Ctx,
    inspect: &ImageInspect,
    target: &Platform,
    base: Option<&str>,
) -> Result<(), Error> {
    match verdict(ctx, inspect, target)? {
        Verdict::Matches(_) => Ok(()),
        Verdict::NoProgram => {
            say!("note: the image names no ENTRYPOINT or CMD, so no program's architecture could be checked");
            Ok(())
        }
        Verdict::Unreadable(why) => Err(Error::failed(
            format!("the architecture gate could not read the program the image starts: {why}"),
            "check ENTRYPOINT/CMD in the Dockerfile: the image must start a program that exists in it",
        )),
        Verdict::Wrong(f) => Err(wrong(&f, target, base, &inspect.platform())),
    }
}

/// The error for a program of the wrong machine.
pub fn wrong(f: &Finding, target: &Platform, base: Option<&str>, label: &str) -> Error {
    let file = f.chain.last().cloned().unwrap_or_default();
    let via = if f.chain.len() > 1 {
        format!(" (started as {})", f.chain[..f.chain.len() - 1].join(" → "))
    } else {
        String::new()
    };
    let from = match base {
        Some(b) => format!("it came from the base image {b}"),
        None => "its base image is not known here (the image was not built by this project)".into(),
    };
    Error::failed(
        format!(
            "the image is labelled {label}, but the program it starts, {file}{via}, is an {} executable ({}), not {target}: \
             it would fail with `exec format error` on Azure\n  {from}",
            f.machine, f.arch
        ),
        match base {
            Some(b) => format!(
                "the base image {b} holds {} programs under a {label} label: get a real {target} copy of it \
                 (`docker pull --platform {target} {b}`, or rebuild it with `docker buildx build --platform {target}`), then build again",
                f.machine
            ),
            None => format!("rebuild the image for {target} from a base that really is {target}, then push again"),
        },
    )
}

/// The verdict, remembered by image id (a content digest) once it matched.
pub fn verdict(ctx: &Ctx, inspect: &ImageInspect, target: &Platform) -> Result<Verdict, Error> {
    if let Some(f) = remembered(ctx, &inspect.id, target) {
        return Ok(Verdict::Matches(f));
    }
    let cached = cache_file(ctx, &inspect.id);
    let Some(program) = program(inspect) else {
        return Ok(Verdict::NoProgram);
    };
    let v = read_program(ctx, inspect, &program, target)?;
    if let (Verdict::Matches(f), Some(path)) = (&v, &cached) {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let text = serde_json::to_string(f).expect("JSON always serialises");
        let _ = crate::sys::files::write_atomic(
            path,
            text.as_bytes(),
            crate::sys::files::Existing::Replace,
        );
    }
    Ok(v)
}

/// Checks the program of an image in a registry (`reference`, read back as `back`): by its id
/// when this machine checked the same files before, else on the local copy with that id, else
/// on a copy pulled for the check (and removed after it).
pub fn check_pushed(
    ctx: &Ctx,
    reference: &ImageRef,
    back: &ReadBack,
    target: &Platform,
) -> Result<(), Error> {
    let (Some(id), Some(manifest)) = (&back.config, &back.manifest) else {
        return Err(Error::failed(
            format!("the registry has no {target} image under {reference} to check"),
            format!("push a {target} image: `docker azdeploy build` then `docker azdeploy push`"),
        ));
    };
    if remembered(ctx, id, target).is_some() {
        return Ok(());
    }
    let local = ctx.runner.probe(&docker::image_inspect(
        ctx.docker("look for the image here")?,
        id,
    ))?;
    if let Some(inspect) = local
        .success()
        .then(|| serde_json::from_str::<ImageInspect>(&local.stdout).ok())
        .flatten()
    {
        return check(ctx, &inspect, target, None);
    }
    let pinned = reference.pinned(manifest);
    say!("Pulling {pinned} to read the program it starts (the gate reads binaries, not labels)");
    // Pulled for a read and removed after it: both run under --dry-run too.
    ctx.runner.stream(
        &docker::pull(
            ctx.docker("pull the image to check its program")?,
            target,
            &pinned,
        )
        .query(),
    )?;
    struct Pulled<'a>(&'a Ctx, String);
    impl Drop for Pulled<'_> {
        fn drop(&mut self) {
            if let Ok(base) = self.0.docker("remove the image pulled for the check") {
                let _ = self
                    .0
                    .runner
                    .cleanup(&docker::untag(base, std::slice::from_ref(&self.1)).query());
            }
        }
    }
    let _pulled = Pulled(ctx, pinned.clone());
    let inspect: ImageInspect = ctx.runner.query_json(&docker::image_inspect(
        ctx.docker("inspect the pulled image")?,
        &pinned,
    ))?;
    check(ctx, &inspect, target, None)
}

/// A match remembered for this image id and target.
fn remembered(ctx: &Ctx, id: &str, target: &Platform) -> Option<Finding> {
    cache_file(ctx, id)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<Finding>(&t).ok())
        .filter(|f| f.arch == target.arch)
}

fn cache_file(ctx: &Ctx, id: &str) -> Option<Utf8PathBuf> {
    let hex = id.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| ctx.cache_dir())?
        .map(|d| d.join("gate").join(format!("{hex}.json")))
}

/// Removes the created container on every way out.
struct Created<'a> {
    ctx: &'a Ctx,
    id: String,
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        if let Ok(base) = self.ctx.docker("remove the gate's container") {
            // Undoing our own read: runs under --dry-run too.
            let _ = self
                .ctx
                .runner
                .cleanup(&docker::remove_read_container(base, &self.id));
        }
    }
}

/// Copies the program (and any interpreter) out of a created container and classifies it.
fn read_program(
    ctx: &Ctx,
    inspect: &ImageInspect,
    program: &str,
    target: &Platform,
) -> Result<Verdict, Error> {
    let id = ctx.runner.query(&docker::create_to_read(
        ctx.docker("create a container to read the image's program (nothing runs)")?,
        &format!("{}/{}", inspect.os, inspect.architecture),
        &inspect.id,
    ))?;
    let created = Created {
        ctx,
        id: id.trim().to_string(),
    };
    let dir = crate::sys::files::temp_dir("azdeploy-gate-")?;
    let path_env = path_env(inspect);
    let workdir = inspect.config.as_ref().and_then(|c| c.working_dir.clone());
    let mut chain: Vec<String> = Vec::new();
    let mut name = program.to_string();
    for hop in 0..MAX_HOPS {
        let Some((found, head)) = copy_first(
            ctx,
            &created.id,
            &candidates(&name, path_env.as_deref(), workdir.as_deref()),
            &dir.path().join(format!("f{hop}")),
        )?
        else {
            let looked = if chain.is_empty() {
                format!("`{name}` is not in the image (looked in its PATH)")
            } else {
                format!(
                    "{} names the interpreter `{name}`, which is not in the image",
                    chain.join(" → ")
                )
            };
            return Ok(Verdict::Unreadable(looked));
        };
        chain.push(found);
        match classify(&head) {
            Kind::Elf { arch, machine } => {
                let f = Finding {
                    chain,
                    arch: arch.clone(),
                    machine,
                };
                return Ok(if arch == target.arch {
                    Verdict::Matches(f)
                } else {
                    Verdict::Wrong(f)
                });
            }
            Kind::Script { interpreter, arg } => {
                // `#!/usr/bin/env python3`: the program is python3, found in PATH.
                name = match (interpreter.rsplit('/').next(), arg) {
                    (Some("env"), Some(a)) if !a.starts_with('-') => a,
                    _ => interpreter,
                };
            }
            Kind::Other => {
                return Ok(Verdict::Unreadable(format!(
                    "{} is neither an ELF program nor a #! script",
                    chain.join(" → ")
                )))
            }
        }
    }
    Ok(Verdict::Unreadable(format!(
        "more than {MAX_HOPS} #! interpreters: {}",
        chain.join(" → ")
    )))
}

/// `docker cp -L` of the first candidate that exists; its path in the image and first bytes.
fn copy_first(
    ctx: &Ctx,
    container: &str,
    candidates: &[String],
    dest: &std::path::Path,
) -> Result<Option<(String, Vec<u8>)>, Error> {
    for c in candidates {
        let cmd = docker::copy_out(
            ctx.docker("copy the image's program out to read its header")?,
            container,
            c,
            dest,
        );
        let p = ctx.runner.probe(&cmd)?;
        if !p.success() {
            if p.stderr.contains("Could not find the file") || p.stderr.contains("No such") {
                continue;
            }
            return Err(Error::failed(
                format!("failed to copy {c} out of the image: {}", p.stderr.trim()),
                "check the engine with `docker azdeploy doctor`",
            ));
        }
        if dest.is_dir() {
            let _ = std::fs::remove_dir_all(dest);
            continue;
        }
        use std::io::Read;
        let mut head = Vec::with_capacity(HEAD);
        std::fs::File::open(dest)
            .and_then(|f| f.take(HEAD as u64).read_to_end(&mut head))
            .map_err(|source| Error::Io {
                action: "read",
                path: dest.display().to_string(),
                source,
            })?;
        return Ok(Some((c.clone(), head)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_programs_are_classified_by_their_machine() {
        let x86 = crate::engine::probe_elf::for_arch("amd64", None).unwrap();
        assert_eq!(
            classify(x86),
            Kind::Elf {
                arch: "amd64".into(),
                machine: "x86-64".into()
            }
        );
        let arm = crate::engine::probe_elf::for_arch("arm64", None).unwrap();
        assert!(matches!(classify(arm), Kind::Elf { arch, .. } if arch == "arm64"));
        let armv7 = crate::engine::probe_elf::for_arch("arm", Some("v7")).unwrap();
        assert!(matches!(classify(armv7), Kind::Elf { arch, .. } if arch == "arm"));
        let s390 = crate::engine::probe_elf::for_arch("s390x", None).unwrap();
        assert!(matches!(classify(s390), Kind::Elf { arch, .. } if arch == "s390x"));
        let ppc = crate::engine::probe_elf::for_arch("ppc64le", None).unwrap();
        assert!(matches!(classify(ppc), Kind::Elf { arch, .. } if arch == "ppc64le"));
        // Only the header is read: a truncated file still classifies.
        assert!(matches!(classify(&x86[..64]), Kind::Elf { arch, .. } if arch == "amd64"));
        assert_eq!(classify(b"\x7fELF"), Kind::Other);
        assert_eq!(classify(b"MZ\x90\x00"), Kind::Other);
    }

    #[test]
    fn scripts_name_their_interpreter() {
        assert_eq!(
            classify(b"#!/usr/local/bin/python3.12\n# -*- coding: utf-8 -*-\nimport re\n"),
            Kind::Script {
                interpreter: "/usr/local/bin/python3.12".into(),
                arg: None
            }
        );
        assert_eq!(
            classify(b"#! /usr/bin/env python3 -u\n"),
            Kind::Script {
                interpreter: "/usr/bin/env".into(),
                arg: Some("python3".into())
            }
        );
        assert_eq!(classify(b"#!\n"), Kind::Other);
    }

    fn inspect(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>, env: &[&str]) -> ImageInspect {
        let v = |x: Option<&[&str]>| x.map(|a| a.iter().map(|s| s.to_string()).collect());
        ImageInspect {
            id: "sha256:x".into(),
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            size: None,
            config: Some(crate::engine::docker::ImageConfig {
                entrypoint: v(entrypoint),
                cmd: v(cmd),
                env: Some(env.iter().map(|s| s.to_string()).collect()),
                working_dir: Some("/home/app/src".into()),
            }),
        }
    }

    #[test]
    fn the_program_is_the_entrypoint_else_the_cmd_found_in_path() {
        let i = inspect(
            None,
            Some(&["streamlit", "run", "app.py"]),
            &["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"],
        );
        assert_eq!(program(&i).as_deref(), Some("streamlit"));
        assert_eq!(
            candidates("streamlit", path_env(&i).as_deref(), None),
            ["/usr/local/bin/streamlit", "/usr/bin/streamlit"]
        );
        let i = inspect(Some(&["/bin/busybox", "httpd"]), Some(&["-f"]), &[]);
        assert_eq!(program(&i).as_deref(), Some("/bin/busybox"));
        assert_eq!(candidates("/bin/busybox", None, None), ["/bin/busybox"]);
        assert_eq!(
            candidates("./run.sh", None, Some("/app/")),
            ["/app/./run.sh"]
        );
        // No PATH in the image: docker's default.
        assert_eq!(candidates("sh", None, None).len(), 6);
        assert_eq!(program(&inspect(None, None, &[])), None);
        assert_eq!(program(&inspect(Some(&[]), Some(&[""]), &[])), None);
    }

    #[test]
    fn a_wrong_machine_names_the_file_the_machine_and_the_base() {
        let f = Finding {
            chain: vec!["/bin/busybox".into()],
            arch: "arm64".into(),
            machine: "AArch64".into(),
        };
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let e = wrong(&f, &amd64, Some("mislabeled:1"), "linux/amd64");
        assert_eq!(
            e.to_string(),
            "the image is labelled linux/amd64, but the program it starts, /bin/busybox, is an AArch64 executable (arm64), not linux/amd64: \
             it would fail with `exec format error` on Azure\n  it came from the base image mislabeled:1"
        );
        assert!(e.hint().unwrap().starts_with(
            "the base image mislabeled:1 holds AArch64 programs under a linux/amd64 label"
        ));
        let f = Finding {
            chain: vec![
                "/usr/local/bin/streamlit".into(),
                "/usr/local/bin/python3.11".into(),
            ],
            ..f
        };
        let e = wrong(&f, &amd64, None, "linux/amd64");
        assert!(
            e.to_string()
                .contains("/usr/local/bin/python3.11 (started as /usr/local/bin/streamlit)"),
            "{e}"
        );
        assert!(e
            .hint()
            .unwrap()
            .contains("rebuild the image for linux/amd64"));
    }
}
