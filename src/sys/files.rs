//! Writing files so that nothing is lost: write a temporary file beside the target, then rename
//! it into place. A crash leaves either the old file or the new one, never half of either.

use std::io::Write;

use camino::Utf8Path;

use crate::report::error::Error;

/// A temporary directory, removed when dropped. Its name carries our pid
/// (`azdeploy-gate-<pid>-…`), so one left by a run that was killed is known and swept by the
/// next ([`sweep_temp`]).
pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, Error> {
    tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir()
        .map_err(|source| Error::Io {
            action: "create a temporary directory in",
            path: std::env::temp_dir().display().to_string(),
            source,
        })
}

/// Removes the temporary directories (`azdeploy-<kind>-<pid>-…` in the temp dir) of runs whose
/// process is gone (killed before their cleanup could run); returns how many.
pub fn sweep_temp() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name) else {
            continue;
        };
        let gone = !super::procs::Owner {
            host: String::new(),
            pid,
            start: String::new(),
        }
        .alive();
        if gone
            && e.file_type().is_ok_and(|t| t.is_dir())
            && std::fs::remove_dir_all(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// The pid in `azdeploy-<kind>-<pid>-<random>`.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("azdeploy-")?;
    let mut parts = rest.rsplitn(3, '-');
    let _random = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    let kind = parts.next()?;
    (!kind.is_empty()).then_some(pid)
}

/// What to do when the target exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Keep,
    Replace,
}

/// Writes `contents` to `path` atomically. With `Existing::Keep`, an existing file is an error
/// (checked at the rename, so a file created meanwhile is not clobbered either).
pub fn write_atomic(path: &Utf8Path, contents: &[u8], existing: Existing) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_str().is_empty() => d,
        _ => Utf8Path::new("."),
    };
    let io = |action, source| Error::Io {
        action,
        path: path.to_string(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".azdeploy-tmp-")
        .tempfile_in(dir)
        .map_err(|e| io("create a temporary file for", e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io("write", e))?;
    // A full file system does not always say so at the write (seen on gVisor's tmpfs): what
    // reached it is measured before the rename makes it the file.
    let kept = tmp.as_file().metadata().map_err(|e| io("write", e))?.len();
    if kept != contents.len() as u64 {
        return Err(io(
            "write",
            std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("only {kept} of {} bytes were written", contents.len()),
            ),
        ));
    }
    let result = match existing {
        Existing::Keep => tmp.persist_noclobber(path),
        Existing::Replace => tmp.persist(path),
    };
    result.map(drop).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::failed(
                format!("{path} already exists; not overwriting it"),
                "pass --force to replace it",
            )
        } else {
            io("write", e.error)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dirs_carry_the_pid_and_dead_runs_ones_are_swept() {
        let d = temp_dir("azdeploy-unit-").unwrap();
        let name = d.path().file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(temp_owner(&name), Some(std::process::id()));
        assert_eq!(temp_owner("azdeploy-gate-abc"), None);
        assert_eq!(temp_owner("other-gate-1-x"), None);
        let stale = std::env::temp_dir().join("azdeploy-unit-999999999-x1");
        std::fs::create_dir_all(stale.join("inside")).unwrap();
        assert!(sweep_temp() >= 1);
        assert!(
            !stale.exists() && d.path().exists(),
            "ours stays, the dead run's goes"
        );
    }

    #[test]
    fn keep_refuses_and_replace_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = camino::Utf8PathBuf::from_path_buf(d.path().join("f.json")).unwrap();
        write_atomic(&p, b"one", Existing::Keep).unwrap();
        let e = write_atomic(&p, b"two", Existing::Keep).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        write_atomic(&p, b"two", Existing::Replace).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let leftovers = std::fs::read_dir(d.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }
}
