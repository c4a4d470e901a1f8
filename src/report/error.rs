//! The one error type, its hint line and its exit code.
//!
//! Every error prints as: `error: <what failed>`, indented detail lines (the exact command, its
//! exit status, the tail of its stderr; or the file, line and column), then `hint: <how to fix>`
//! where we know one. `main` does the printing; nothing else decides exit codes.

use std::fmt;
use std::process::ExitStatus;

use crate::report::hints;

/// Exit code for usage errors, as docker and its Go plugins use for flag errors.
pub const USAGE_CODE: i32 = 125;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line input found after parsing (a value clap cannot check on its own).
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },

    /// A bad setting in the config file or an `AZDEPLOY_*` variable.
    #[error("invalid setting `{key}` in {origin}: {message}")]
    Config {
        origin: String,
        key: String,
        message: String,
        /// A fix better than the generic one.
        hint: Option<String>,
    },

    /// A program we need is not installed (or not where an override says).
    #[error("{tool} not found{detail}")]
    ToolMissing {
        tool: &'static str,
        detail: String,
        hint: String,
    },

    /// A child could not be started at all.
    #[error("failed to {purpose}\n  command: `{command}` (never executed)\n  cause: {source}")]
    Spawn {
        purpose: String,
        command: String,
        source: std::io::Error,
    },

    /// A child ran and failed.
    #[error("{0}")]
    Process(Box<ProcessError>),

    /// A child succeeded but printed something we cannot read.
    #[error(
        "failed to {purpose}: could not read its output\n  command: `{command}`\n  cause: {detail}"
    )]
    Parse {
        purpose: String,
        command: String,
        detail: String,
    },

    /// A file operation failed.
    #[error("failed to {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },

    /// Anything else, with its own hint and exit code.
    #[error("{message}")]
    Failed {
        message: String,
        hint: Option<String>,
        code: i32,
    },

    /// The command already reported what went wrong (a doctor table): exit with this code.
    #[error("")]
    Reported(i32),

    /// Cancelled by SIGINT, SIGTERM or the docker CLI closing the plugin socket.
    #[error("cancelled")]
    Cancelled(i32),
}

/// A child process that exited unsuccessfully.
#[derive(Debug)]
pub struct ProcessError {
    /// What we were doing, in the user's terms ("build the image with docker buildx").
    pub purpose: String,
    /// The pasteable command line, secrets redacted.
    pub command: String,
    pub status: ExitStatus,
    /// The last lines of the child's stderr (empty when it was streamed to the terminal).
    pub stderr_tail: String,
    /// The child's output went straight to the terminal.
    pub streamed: bool,
    /// A hint the caller knows for this step, used when the stderr matches nothing known.
    pub fallback_hint: Option<String>,
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to {}", self.purpose)?;
        write!(f, "\n  command: `{}`", self.command)?;
        write!(f, "\n  {}", describe_status(&self.status))?;
        if self.streamed {
            write!(f, "\n  (its output is above)")?;
        } else if !self.stderr_tail.trim().is_empty() {
            write!(f, "\n  stderr:")?;
            for line in self.stderr_tail.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

/// "exit status: 1" or "killed by signal 9 (SIGKILL)".
pub fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status: {code}");
    }
    match status.signal() {
        Some(sig) => format!("killed by signal {sig} ({})", signal_name(sig)),
        None => "unknown exit status".to_string(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

impl Error {
    /// A plain failure with a hint, exit code 1.
    pub fn failed(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Failed {
            message: message.into(),
            hint: Some(hint.into()),
            code: 1,
        }
    }

    /// A usage error (exit 125) with a hint.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// The one-sentence fix, when we know it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Usage { hint, .. } | Error::Failed { hint, .. } => hint.clone(),
            Error::Config { hint, .. } => Some(hint.clone().unwrap_or_else(|| {
                "fix the value, then run `docker azdeploy config` to see the resolved settings"
                    .into()
            })),
            Error::ToolMissing { hint, .. } => Some(hint.clone()),
            Error::Spawn { .. } => {
                Some("check that the program is installed and executable".into())
            }
            Error::Process(p) => hints::for_output(&p.stderr_tail)
                .or_else(|| killed_hint(&p.status))
                .or_else(|| p.fallback_hint.clone()),
            Error::Parse { .. } => {
                Some("check the tool's version with `docker azdeploy doctor`".into())
            }
            Error::Io { path, source, .. } => io_hint(path, source),
            Error::Cancelled(_) | Error::Reported(_) => None,
        }
    }

    /// The process exit code: a child's simple exit code passes through.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage { .. } | Error::Config { .. } => USAGE_CODE,
            Error::Failed { code, .. } => *code,
            Error::Cancelled(code) | Error::Reported(code) => *code,
            Error::Process(p) => match p.status.code() {
                Some(c) if (1..=125).contains(&c) => c,
                _ => 1,
            },
            _ => 1,
        }
    }
}

/// A child that died of a signal nobody here sent (we report our own stops as cancels or
/// timeouts): the OOM killer, or someone's `kill`.
fn killed_hint(status: &ExitStatus) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    let sig = status.signal()?;
    Some(format!(
        "it was killed from outside ({}: out of memory, or stopped by hand): run it again; after a deploy or push, `docker azdeploy status` shows what Azure has",
        signal_name(sig)
    ))
}

/// The fix for a file operation that failed, by its cause.
fn io_hint(path: &str, source: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind;
    let dir = std::path::Path::new(path)
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| path.to_string());
    // By kind as well as by code: a wrapped error (tempfile adds the path) has no raw code.
    let code = source.raw_os_error();
    let full = matches!(code, Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || matches!(source.kind(), ErrorKind::StorageFull | ErrorKind::WriteZero);
    let denied = matches!(code, Some(libc::EACCES) | Some(libc::EPERM))
        || source.kind() == ErrorKind::PermissionDenied;
    let read_only = code == Some(libc::EROFS) || source.kind() == ErrorKind::ReadOnlyFilesystem;
    if full {
        Some(format!(
            "the disk holding {dir} is full: free some space (`df -h {dir}`; `docker system df` shows what Docker keeps), then run it again"
        ))
    } else if denied {
        Some(format!(
            "no permission to write in {dir}: check its owner (`ls -ld {dir}`)"
        ))
    } else if read_only {
        Some(format!("{dir} is on a read-only file system"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn process_error_shows_purpose_command_status_and_stderr() {
        let e = Error::Process(Box::new(ProcessError {
            purpose: "look up the engine version".into(),
            command: "docker version --format '{{json .}}'".into(),
            status: ExitStatus::from_raw(1 << 8),
            stderr_tail: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n".into(),
            streamed: false,
            fallback_hint: None,
        }));
        let text = e.to_string();
        assert!(
            text.starts_with("failed to look up the engine version\n"),
            "{text}"
        );
        assert!(
            text.contains("  command: `docker version --format '{{json .}}'`"),
            "{text}"
        );
        assert!(text.contains("  exit status: 1"), "{text}");
        assert!(
            text.contains("    Cannot connect to the Docker daemon"),
            "{text}"
        );
        assert!(e.hint().unwrap().contains("start the Docker engine"));
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn a_full_disk_says_where_and_how() {
        let e = Error::Io {
            action: "write",
            path: "/work/app/.azdeploy/last-test.json".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert!(e.to_string().contains("No space left on device"), "{e}");
        assert_eq!(
            e.hint().unwrap(),
            "the disk holding /work/app/.azdeploy is full: free some space (`df -h /work/app/.azdeploy`; `docker system df` shows what Docker keeps), then run it again"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn signals_are_named_and_codes_pass_through() {
        assert_eq!(
            describe_status(&ExitStatus::from_raw(9)),
            "killed by signal 9 (SIGKILL)"
        );
        let p = |raw| {
            Error::Process(Box::new(ProcessError {
                purpose: "x".into(),
                command: "x".into(),
                status: ExitStatus::from_raw(raw),
                stderr_tail: String::new(),
                streamed: true,
                fallback_hint: Some("fallback".into()),
            }))
        };
        assert_eq!(p(3 << 8).exit_code(), 3);
        assert_eq!(p(9).exit_code(), 1);
        assert!(p(9)
            .hint()
            .unwrap()
            .starts_with("it was killed from outside (SIGKILL"));
        assert_eq!(p(3 << 8).hint().as_deref(), Some("fallback"));
        assert!(p(3 << 8).to_string().contains("(its output is above)"));
    }
}
