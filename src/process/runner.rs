//! The only module that starts processes (and the only one that imports duct).
//!
//! A [`Cmd`] is a plain value: program, arguments, what it is for (its purpose, the "what" of
//! every error), and whether it changes something ([`Effect::Mutate`], the default) or only
//! reads ([`Effect::Query`], which a command must say with [`Cmd::query`]): a forgotten marking
//! can only make a read skip under `--dry-run`, never make a change run. Commands build `Cmd`s with pure functions; the [`Runner`] runs them in one
//! of a few ways (capture, stream, passthrough, probe), echoing `+ cmd` first with `--verbose`,
//! printing and skipping mutations under `--dry-run`, redacting secrets everywhere, and stopping
//! the child (its whole process group) when the cancel token fires.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use crate::process::cancel::{Cancel, SIGINT_CODE};
use crate::report::error::{Error, ProcessError};

/// Shown in place of a secret in echoes, dry-run lines and errors.
pub const REDACTED: &str = "***";
/// How many trailing stderr lines an error shows.
const STDERR_TAIL_LINES: usize = 20;
/// How long a cancelled child gets to stop after SIGINT/SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);
/// How long a cleanup (`docker rm --force`) may take before we give up on it.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the runner looks at the cancel token while a child runs.
const POLL: Duration = Duration::from_millis(20);

/// Whether running a command changes anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Reads only: runs even under `--dry-run`.
    Query,
    /// Changes something: printed, not run, under `--dry-run`. The default.
    Mutate,
}

/// A command to run, as a value. Its `Debug` is its redacted `Display`: no secret can leak
/// through a `{:?}`.
#[derive(Clone)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    purpose: String,
    effect: Effect,
    stdin_secret: Option<Vec<u8>>,
    dir: Option<PathBuf>,
    /// Variables set for the child; never shown (values may be secrets).
    env: Vec<(OsString, OsString)>,
    timeout: Option<Duration>,
    /// Runs as long as the user wants (`logs --follow`, `test-local`'s log stream): no bound.
    unbounded: bool,
    hint: Option<String>,
}

/// The bound of a read (`docker inspect`, `az … show`) without one of its own.
pub const QUERY_BOUND: Duration = Duration::from_secs(120);
/// The bound of a change (`docker run`, `az … create`) without one of its own.
pub const CHANGE_BOUND: Duration = Duration::from_secs(30 * 60);
/// The bound of a streamed call (a build, a push, a pull) without one of its own.
pub const STREAM_BOUND: Duration = Duration::from_secs(2 * 60 * 60);
/// When a quiet call has run this long, it is named on stderr (then every [`PROGRESS_EVERY`]).
const PROGRESS_AFTER: Duration = Duration::from_secs(10);
const PROGRESS_EVERY: Duration = Duration::from_secs(30);
/// The exit code of a call stopped at its bound (as `timeout(1)` uses).
pub const TIMEOUT_CODE: i32 = 124;

impl Cmd {
    /// A run of `program` for `purpose` ("build the image"): a mutation until marked a query.
    pub fn new(program: impl Into<PathBuf>, purpose: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            purpose: purpose.into(),
            effect: Effect::Mutate,
            stdin_secret: None,
            dir: None,
            env: Vec::new(),
            timeout: None,
            unbounded: false,
            hint: None,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Cmd {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Feeds `secret` to the child's stdin, the only way a secret reaches a child (argv is
    /// visible to every user of the machine); it is never shown.
    pub fn stdin_secret(mut self, secret: impl Into<Vec<u8>>) -> Cmd {
        self.stdin_secret = Some(secret.into());
        self
    }

    /// Marks the command as one that only reads: it runs under `--dry-run` too.
    pub fn query(mut self) -> Cmd {
        self.effect = Effect::Query;
        self
    }

    /// Whether it changes something.
    #[cfg(test)]
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Sets a variable for the child. Its value is never displayed.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cmd {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.dir = Some(dir.into());
        self
    }

    /// Stops the child and fails once `t` has passed (instead of its kind's bound).
    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = Some(t);
        self
    }

    /// Runs until it ends or the user stops it: no bound (a log stream).
    pub fn unbounded(mut self) -> Cmd {
        self.unbounded = true;
        self
    }

    /// The hint to show when this step fails with output we do not recognise.
    pub fn hint(mut self, h: impl Into<String>) -> Cmd {
        self.hint = Some(h.into());
        self
    }

    /// The arguments as plain text, for tests.
    #[cfg(test)]
    pub fn shown_args(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn os_args(&self) -> Vec<&OsStr> {
        self.args.iter().map(OsString::as_os_str).collect()
    }

    /// Replaces the secret, wherever the child echoed it, with `***`.
    fn redact(&self, text: &str) -> String {
        match self
            .stdin_secret
            .as_ref()
            .map(|s| String::from_utf8_lossy(s).trim().to_string())
            .filter(|s| !s.is_empty())
        {
            Some(secret) => text.replace(&secret, REDACTED),
            None => text.to_string(),
        }
    }
}

/// A pasteable, shell-quoted command line with secrets shown as `***`.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", shell_quote(&self.program.to_string_lossy()))?;
        for a in &self.args {
            write!(f, " {}", shell_quote(&a.to_string_lossy()))?;
        }
        if self.stdin_secret.is_some() {
            write!(f, " <<< {REDACTED}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cmd({:?}: `{self}`)", self.purpose)
    }
}

/// Quotes `s` for a POSIX shell, leaving plain words as they are.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+=/:.,@%^".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a probe saw: never an error for a non-zero exit.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `None` when the program could not be started.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Probe {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Io {
    /// stdout and stderr captured.
    Capture,
    /// stdout sent to our stderr, stderr inherited: live progress, stdout kept for results.
    Stream,
    /// Both inherited (the child's stdout is our result, e.g. logs).
    Passthrough,
}

/// Runs [`Cmd`]s.
#[derive(Clone, Debug)]
pub struct Runner {
    pub verbose: bool,
    pub dry_run: bool,
    cancel: Cancel,
    /// `AZDEPLOY_MAX_CALL_SECS`: no outside call runs longer than this.
    max_call: Option<Duration>,
}

impl Runner {
    pub fn new(verbose: bool, dry_run: bool, cancel: Cancel) -> Runner {
        Runner {
            verbose,
            dry_run,
            cancel,
            max_call: None,
        }
    }

    /// Caps every call's bound at `max` (`AZDEPLOY_MAX_CALL_SECS`).
    pub fn max_call(mut self, max: Option<Duration>) -> Runner {
        self.max_call = max;
        self
    }

    /// How long `cmd` may run when it runs with `io`: its own timeout, else its kind's bound,
    /// capped by `AZDEPLOY_MAX_CALL_SECS`; `None` for an unbounded one.
    fn bound(&self, cmd: &Cmd, io: Io) -> Option<Duration> {
        if cmd.unbounded {
            return None;
        }
        let own = cmd.timeout.unwrap_or(match (io, cmd.effect) {
            (Io::Capture, Effect::Query) => QUERY_BOUND,
            (Io::Capture, Effect::Mutate) => CHANGE_BOUND,
            _ => STREAM_BOUND,
        });
        Some(self.max_call.map_or(own, |m| own.min(m)))
    }

    /// The cancel token, for loops that wait without a child running.
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// Runs and returns stdout, trailing newlines trimmed.
    ///
    /// # Errors
    /// `Error::Process` with the stderr tail on a non-zero exit.
    pub fn query(&self, cmd: &Cmd) -> Result<String, Error> {
        let out = self.checked(cmd, Io::Capture)?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim_end_matches(['\n', '\r'])
            .to_string())
    }

    /// Runs and parses stdout as JSON.
    pub fn query_json<T: serde::de::DeserializeOwned>(&self, cmd: &Cmd) -> Result<T, Error> {
        let text = self.query(cmd)?;
        serde_json::from_str(&text).map_err(|e| Error::Parse {
            purpose: cmd.purpose.clone(),
            command: cmd.to_string(),
            detail: e.to_string(),
        })
    }

    /// Runs with both streams captured; under `--dry-run` a mutation returns empty output.
    pub fn run(&self, cmd: &Cmd) -> Result<Output, Error> {
        self.checked(cmd, Io::Capture)
    }

    /// Runs with live output on stderr (buildx progress keeps its terminal and colours).
    pub fn stream(&self, cmd: &Cmd) -> Result<(), Error> {
        self.checked(cmd, Io::Stream).map(drop)
    }

    /// Runs with the child's stdout as ours.
    pub fn passthrough(&self, cmd: &Cmd) -> Result<(), Error> {
        self.checked(cmd, Io::Passthrough).map(drop)
    }

    /// Runs and reports what happened, whatever the exit status. Under `--dry-run` a mutation
    /// is printed and reported as a success with no output.
    ///
    /// # Errors
    /// Only `Error::Cancelled`.
    pub fn probe(&self, cmd: &Cmd) -> Result<Probe, Error> {
        if self.skip_in_dry_run(cmd) {
            return Ok(Probe {
                status: Some(success_status()),
                stdout: String::new(),
                stderr: String::new(),
                elapsed: Duration::ZERO,
            });
        }
        self.echo(cmd);
        self.probe_inner(cmd, true)
    }

    /// Starts `cmd` on its own and does not wait for it: a new session, stdin, stdout and
    /// stderr on /dev/null, so it outlives us however we end (the reaper that removes our test
    /// containers after a `kill -9`). Not started under `--dry-run`.
    pub fn spawn_detached(&self, cmd: &Cmd) -> Result<(), Error> {
        if self.dry_run {
            return Ok(());
        }
        self.echo(cmd);
        let mut expr = duct::cmd(&cmd.program, cmd.os_args())
            .unchecked()
            .env_remove("DOCKER_CLI_PLUGIN_SOCKET")
            .env_remove("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
            .stdin_null()
            .stdout_null()
            .stderr_null()
            .before_spawn(|c| {
                use std::os::unix::process::CommandExt;
                // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
                unsafe {
                    c.pre_exec(|| {
                        libc::setsid();
                        Ok(())
                    });
                }
                Ok(())
            });
        for (k, v) in &cmd.env {
            expr = expr.env(k, v);
        }
        expr.start().map(drop).map_err(|source| Error::Spawn {
            purpose: cmd.purpose.clone(),
            command: cmd.to_string(),
            source,
        })
    }

    /// Runs a cleanup step: ignores the cancel token (cleanups run *because* of a cancel) and
    /// `--dry-run` decides as for any mutation. Failures are returned, never raised.
    pub fn cleanup(&self, cmd: &Cmd) -> Probe {
        if self.skip_in_dry_run(cmd) {
            return Probe {
                status: None,
                stdout: String::new(),
                stderr: String::new(),
                elapsed: Duration::ZERO,
            };
        }
        self.echo(cmd);
        // A cleanup may not hang the exit: the user can no longer interrupt it (the first
        // signal is spent), so it gets a deadline of its own.
        let cmd = cmd.clone().timeout(CLEANUP_TIMEOUT);
        let start = Instant::now();
        match self.probe_inner(&cmd, false) {
            Ok(p) => p,
            Err(e) => Probe {
                status: None,
                stdout: String::new(),
                stderr: e.to_string(),
                elapsed: start.elapsed(),
            },
        }
    }

    fn probe_inner(&self, cmd: &Cmd, honor_cancel: bool) -> Result<Probe, Error> {
        let start = Instant::now();
        match self.spawn_wait(cmd, Io::Capture, honor_cancel) {
            Ok(out) => Ok(Probe {
                status: Some(out.status),
                stdout: cmd.redact(&String::from_utf8_lossy(&out.stdout)),
                stderr: cmd.redact(&String::from_utf8_lossy(&out.stderr)),
                elapsed: start.elapsed(),
            }),
            Err(Error::Spawn { source, .. }) => Ok(Probe {
                status: None,
                stdout: String::new(),
                stderr: source.to_string(),
                elapsed: start.elapsed(),
            }),
            Err(e) => Err(e),
        }
    }

    fn echo(&self, cmd: &Cmd) {
        if self.verbose {
            say!("+ {cmd}");
        }
    }

    /// Prints a mutation instead of running it under `--dry-run`.
    fn skip_in_dry_run(&self, cmd: &Cmd) -> bool {
        if self.dry_run && cmd.effect == Effect::Mutate {
            say!("[dry-run] {cmd}");
            return true;
        }
        false
    }

    fn checked(&self, cmd: &Cmd, io: Io) -> Result<Output, Error> {
        if self.skip_in_dry_run(cmd) {
            return Ok(Output {
                status: success_status(),
                stdout: Vec::new(),
                stderr: Vec::new(),
            });
        }
        self.echo(cmd);
        let out = self.spawn_wait(cmd, io, true)?;
        if out.status.success() {
            return Ok(out);
        }
        let stderr = cmd.redact(&String::from_utf8_lossy(&out.stderr));
        Err(Error::Process(Box::new(ProcessError {
            purpose: cmd.purpose.clone(),
            command: cmd.to_string(),
            status: out.status,
            stderr_tail: tail(&stderr, STDERR_TAIL_LINES),
            streamed: io != Io::Capture,
            fallback_hint: cmd.hint.clone(),
        })))
    }

    /// Starts the child in its own process group and waits, watching the token and timeout.
    fn spawn_wait(&self, cmd: &Cmd, io: Io, honor_cancel: bool) -> Result<Output, Error> {
        if honor_cancel {
            self.cancel.check()?;
        }
        let expr = match io {
            Io::Capture => expression(cmd).stdout_capture().stderr_capture(),
            Io::Stream => expression(cmd).stdout_to_stderr(),
            Io::Passthrough => expression(cmd),
        };
        let handle = expr.start().map_err(|source| Error::Spawn {
            purpose: cmd.purpose.clone(),
            command: cmd.to_string(),
            source,
        })?;
        self.wait_handle(cmd, &handle, honor_cancel, io)
    }

    /// Runs with the child's stdout and stderr shown live on our stderr *and* kept: the tail is
    /// returned, and on failure it is the error's stderr, so known messages get their hint
    /// (`unauthorized` from a push). The child loses its terminal (plain progress).
    pub fn stream_tail(&self, cmd: &Cmd) -> Result<String, Error> {
        if self.skip_in_dry_run(cmd) {
            return Ok(String::new());
        }
        self.echo(cmd);
        self.cancel.check()?;
        let reader = expression(cmd)
            .stderr_to_stdout()
            .reader()
            .map_err(|source| Error::Spawn {
                purpose: cmd.purpose.clone(),
                command: cmd.to_string(),
                source,
            })?;
        let start = Instant::now();
        let bound = self.bound(cmd, Io::Stream);
        let (status, text) = std::thread::scope(|s| -> Result<(ExitStatus, String), Error> {
            let copier = s.spawn(|| {
                use std::io::{Read, Write};
                let mut kept: Vec<u8> = Vec::new();
                let mut buf = [0u8; 8192];
                let mut r = &reader;
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let _ = std::io::stderr().write_all(&buf[..n]);
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 128 * 1024 {
                        kept.drain(..kept.len() - 64 * 1024);
                    }
                }
                String::from_utf8_lossy(&kept).into_owned()
            });
            loop {
                if let Some(out) = reader.try_wait().map_err(|source| Error::Spawn {
                    purpose: cmd.purpose.clone(),
                    command: cmd.to_string(),
                    source,
                })? {
                    let status = out.status;
                    let text = copier.join().unwrap_or_default();
                    return Ok((status, text));
                }
                if let Some(code) = self.cancel.code() {
                    signal_group(
                        &reader.pids(),
                        if code as usize == SIGINT_CODE {
                            libc::SIGINT
                        } else {
                            libc::SIGTERM
                        },
                    );
                    let end = Instant::now() + GRACE;
                    while Instant::now() < end && matches!(reader.try_wait(), Ok(None)) {
                        std::thread::sleep(POLL);
                    }
                    signal_group(&reader.pids(), libc::SIGKILL);
                    let _ = reader.kill();
                    return Err(Error::Cancelled(code));
                }
                if let Some(t) = bound.filter(|t| start.elapsed() >= *t) {
                    signal_group(&reader.pids(), libc::SIGTERM);
                    let end = Instant::now() + GRACE;
                    while Instant::now() < end && matches!(reader.try_wait(), Ok(None)) {
                        std::thread::sleep(POLL);
                    }
                    signal_group(&reader.pids(), libc::SIGKILL);
                    let _ = reader.kill();
                    return Err(timed_out(cmd, t));
                }
                std::thread::sleep(POLL);
            }
        })?;
        let text = cmd.redact(&text);
        if status.success() {
            return Ok(tail(&text, STDERR_TAIL_LINES));
        }
        self.cancel.check()?;
        Err(Error::Process(Box::new(ProcessError {
            purpose: cmd.purpose.clone(),
            command: cmd.to_string(),
            status,
            stderr_tail: tail(&text, STDERR_TAIL_LINES),
            // Shown live already; the tail is kept for the hint.
            streamed: true,
            fallback_hint: cmd.hint.clone(),
        })))
    }

    /// Runs with live output that is also kept, like [`Runner::stream_tail`], but a child on a
    /// terminal keeps one: its output goes through a pseudo-terminal that we copy to ours, so
    /// buildx still draws its live progress, and the tail is there for the diagnosis when it
    /// fails (`exec format error` and friends).
    pub fn stream_watch(&self, cmd: &Cmd) -> Result<String, Error> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return self.stream_tail(cmd);
        }
        self.stream_pty(cmd)
    }

    /// [`Runner::stream_watch`] through a pseudo-terminal.
    fn stream_pty(&self, cmd: &Cmd) -> Result<String, Error> {
        if self.skip_in_dry_run(cmd) {
            return Ok(String::new());
        }
        self.echo(cmd);
        self.cancel.check()?;
        let spawn_err = |source| Error::Spawn {
            purpose: cmd.purpose.clone(),
            command: cmd.to_string(),
            source,
        };
        let (master, slave) = crate::process::pty::open().map_err(spawn_err)?;
        let slave_err = slave.try_clone().map_err(spawn_err)?;
        let handle = {
            // The expression owns our copies of the terminal's child side; they close with it,
            // so the copier sees the end once the child and its children are gone.
            let expr = expression(cmd).stdout_file(slave).stderr_file(slave_err);
            expr.start().map_err(spawn_err)?
        };
        let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let copier = {
            let kept = kept.clone();
            std::thread::spawn(move || crate::process::pty::copy_to_stderr(master, &kept))
        };
        let out = self.wait_handle(cmd, &handle, true, Io::Stream);
        // A grandchild that kept the terminal open must not hang us: give the copier a moment.
        let end = Instant::now() + GRACE;
        while !copier.is_finished() && Instant::now() < end {
            std::thread::sleep(POLL);
        }
        let out = out?;
        let text = {
            let k = kept.lock().unwrap_or_else(|e| e.into_inner());
            cmd.redact(&String::from_utf8_lossy(&k).replace('\r', ""))
        };
        if out.status.success() {
            return Ok(tail(&text, STDERR_TAIL_LINES));
        }
        self.cancel.check()?;
        Err(Error::Process(Box::new(ProcessError {
            purpose: cmd.purpose.clone(),
            command: cmd.to_string(),
            status: out.status,
            stderr_tail: tail(&text, STDERR_TAIL_LINES),
            streamed: true,
            fallback_hint: cmd.hint.clone(),
        })))
    }

    /// Waits for a started child, watching the token and the timeout.
    fn wait_handle(
        &self,
        cmd: &Cmd,
        handle: &duct::Handle,
        honor_cancel: bool,
        io: Io,
    ) -> Result<Output, Error> {
        let start = Instant::now();
        let bound = self.bound(cmd, io);
        let mut next_note = PROGRESS_AFTER;
        loop {
            match handle.wait_timeout(POLL) {
                Ok(Some(out)) => {
                    let out = out.clone();
                    if honor_cancel && !out.status.success() {
                        // A child that failed because of the cancel is reported as cancelled.
                        self.cancel.check()?;
                    }
                    return Ok(out);
                }
                Ok(None) => {}
                Err(source) => {
                    return Err(Error::Spawn {
                        purpose: cmd.purpose.clone(),
                        command: cmd.to_string(),
                        source,
                    })
                }
            }
            if honor_cancel {
                if let Some(code) = self.cancel.code() {
                    stop_group(handle, child_signal(code));
                    return Err(Error::Cancelled(code));
                }
            }
            let elapsed = start.elapsed();
            if let Some(t) = bound.filter(|t| elapsed >= *t) {
                stop_group(handle, libc::SIGTERM);
                return Err(timed_out(cmd, t));
            }
            // A quiet call that takes long is named, so a hang is never silent.
            if io == Io::Capture && elapsed >= next_note {
                next_note += PROGRESS_EVERY;
                say!(
                    "still waiting for {}: {} s so far{} (`{cmd}`)",
                    cmd.purpose,
                    elapsed.as_secs(),
                    bound
                        .map(|t| format!(", stopped at {} s", t.as_secs()))
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// The error of a call stopped at its bound: what, how long, the command, and a hint for the
/// kind of program (exit code [`TIMEOUT_CODE`]).
fn timed_out(cmd: &Cmd, bound: Duration) -> Error {
    let program = cmd
        .program
        .file_name()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hint = cmd.hint.clone().unwrap_or_else(|| match program.as_str() {
        "az" => "az got no answer from Azure: check the network and `az account show`, then run it again (AZDEPLOY_MAX_CALL_SECS caps every call)".into(),
        p if p.starts_with("docker") => "the Docker engine did not finish: is it busy or hung? `docker info` says; restart it if it does not answer".into(),
        _ => "check the network and try again".into(),
    });
    let shown = if bound < Duration::from_secs(10) {
        format!("{:.1}", bound.as_secs_f64())
            .trim_end_matches(".0")
            .to_string()
    } else {
        bound.as_secs().to_string()
    };
    Error::Failed {
        message: format!(
            "failed to {}: stopped after {shown} s without an answer (its bound)\n  command: `{cmd}`",
            cmd.purpose
        ),
        hint: Some(hint),
        code: TIMEOUT_CODE,
    }
}

/// The duct expression for `cmd`: unchecked, stdin null or the secret, its own process group.
fn expression(cmd: &Cmd) -> duct::Expression {
    let mut expr = duct::cmd(&cmd.program, cmd.os_args())
        .unchecked()
        // Our docker-provided variables describe *our* run, not the child's.
        .env_remove("DOCKER_CLI_PLUGIN_SOCKET")
        .env_remove("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
        .before_spawn(|c| {
            use std::os::unix::process::CommandExt;
            // Own process group: a cancel reaches the child and its children (docker →
            // docker-buildx) together, and a terminal's Ctrl-C reaches them only through us.
            c.process_group(0);
            Ok(())
        });
    expr = match &cmd.stdin_secret {
        Some(bytes) => expr.stdin_bytes(bytes.clone()),
        None => expr.stdin_null(),
    };
    if let Some(dir) = &cmd.dir {
        expr = expr.dir(dir);
    }
    for (k, v) in &cmd.env {
        expr = expr.env(k, v);
    }
    expr
}

/// What a cancelled child gets: SIGINT after a Ctrl-C (or the plugin socket closing), as a
/// terminal would have sent it; SIGTERM otherwise.
fn child_signal(code: i32) -> libc::c_int {
    if code as usize == SIGINT_CODE {
        libc::SIGINT
    } else {
        libc::SIGTERM
    }
}

/// Sends `sig` to each of these process groups.
fn signal_group(pids: &[u32], sig: libc::c_int) {
    for pid in pids {
        // SAFETY: killpg only sends a signal; the group id is our child's pid (process_group(0)).
        unsafe { libc::killpg(*pid as libc::pid_t, sig) };
    }
}

/// Sends `sig` to the child's process group, waits up to [`GRACE`], then kills the group
/// (whatever of it is left once the leader is gone).
fn stop_group(handle: &duct::Handle, sig: libc::c_int) {
    signal_group(&handle.pids(), sig);
    let leader_gone = matches!(handle.wait_timeout(GRACE), Ok(Some(_)));
    signal_group(&handle.pids(), libc::SIGKILL);
    if !leader_gone {
        let _ = handle.wait();
    }
}

fn success_status() -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus::from_raw(0)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, purpose: &str) -> Cmd {
        Cmd::new("/bin/sh", purpose).arg("-c").arg(script).query()
    }

    #[test]
    fn every_call_is_bounded_and_a_call_past_its_bound_is_stopped() {
        let r = Runner::new(false, false, Cancel::new()).max_call(Some(Duration::from_secs(1)));
        let t = Instant::now();
        let e = r.query(&sh("sleep 30", "wait for nothing")).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert_eq!(e.exit_code(), TIMEOUT_CODE);
        assert!(
            e.to_string().starts_with("failed to wait for nothing: stopped after 1 s without an answer (its bound)\n  command: `/bin/sh -c 'sleep 30'`"),
            "{e}"
        );
        let e = r
            .stream_tail(&sh("sleep 30", "stream nothing"))
            .unwrap_err();
        assert_eq!(e.exit_code(), TIMEOUT_CODE);
        // The kinds' own bounds, and none for a follow.
        let plain = Runner::new(false, false, Cancel::new());
        assert_eq!(plain.bound(&sh("x", "x"), Io::Capture), Some(QUERY_BOUND));
        assert_eq!(
            plain.bound(&Cmd::new("x", "x"), Io::Capture),
            Some(CHANGE_BOUND)
        );
        assert_eq!(
            plain.bound(&Cmd::new("x", "x"), Io::Stream),
            Some(STREAM_BOUND)
        );
        assert_eq!(
            plain.bound(&Cmd::new("x", "x").unbounded(), Io::Passthrough),
            None
        );
        assert_eq!(
            r.bound(
                &Cmd::new("x", "x").timeout(Duration::from_secs(600)),
                Io::Capture
            ),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn display_is_pasteable_and_redacted() {
        let c = Cmd::new("docker", "log in")
            .args(["login", "my reg.io", "--format", "{{json .}}", "it's"])
            .stdin_secret("t0ken");
        assert_eq!(
            c.to_string(),
            r#"docker login 'my reg.io' --format '{{json .}}' 'it'\''s' <<< ***"#
        );
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("linux/amd64"), "linux/amd64");
    }

    #[test]
    fn failure_shows_purpose_command_status_and_stderr_tail() {
        let r = Runner::new(false, false, Cancel::new());
        let script = "for i in $(seq 1 30); do echo line$i >&2; done; exit 7";
        let err = r.query(&sh(script, "count the lines")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("failed to count the lines"), "{text}");
        assert!(text.contains("command: `/bin/sh -c "), "{text}");
        assert!(text.contains("exit status: 7"), "{text}");
        assert!(text.contains("line30") && text.contains("line11"), "{text}");
        assert!(!text.contains("line10\n"), "only the tail: {text}");
        assert_eq!(err.exit_code(), 7);
    }

    #[test]
    fn secrets_never_show_in_errors() {
        let r = Runner::new(true, false, Cancel::new());
        // The child echoes its stdin to stderr, then fails.
        let c = sh(
            r#"cat >&2; echo >&2; echo "got it" >&2; exit 1"#,
            "use a token",
        )
        .stdin_secret("stdinsecret-456");
        let text = r.run(&c).unwrap_err().to_string();
        assert!(!text.contains("stdinsecret-456"), "{text}");
        assert!(text.contains("    ***\n    got it"), "{text}");
    }

    #[test]
    fn debug_is_redacted_and_env_values_are_never_shown() {
        let c = Cmd::new("docker", "log in")
            .arg("login")
            .stdin_secret("t0ken")
            .env("API_KEY", "v4lue");
        let d = format!("{c:?}");
        assert!(!d.contains("t0ken") && !d.contains("v4lue"), "{d}");
        assert!(!c.to_string().contains("v4lue"));
        let r = Runner::new(false, false, Cancel::new());
        assert_eq!(
            r.query(&sh("echo $API_KEY", "read env").env("API_KEY", "v4lue"))
                .unwrap(),
            "v4lue"
        );
    }

    #[test]
    fn the_secret_reaches_stdin() {
        let r = Runner::new(false, false, Cancel::new());
        let out = r
            .query(&sh("cat", "read stdin").stdin_secret("hello"))
            .unwrap();
        assert_eq!(out, "hello");
    }

    #[test]
    fn dry_run_runs_queries_but_not_mutations() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let r = Runner::new(false, true, Cancel::new());
        // Not marked at all: a mutation by default.
        let touch = Cmd::new("/bin/sh", "touch")
            .arg("-c")
            .arg(format!("touch {}", marker.display()));
        assert_eq!(touch.effect(), Effect::Mutate);
        r.run(&touch).unwrap();
        r.stream(&touch).unwrap();
        r.stream_watch(&touch).unwrap();
        assert!(r.probe(&touch).unwrap().success());
        assert!(!marker.exists(), "a mutation ran under --dry-run");
        assert_eq!(r.query(&sh("echo hi", "say hi")).unwrap(), "hi");
        let cleaned = r.cleanup(&touch);
        assert!(cleaned.status.is_none() && !marker.exists());
    }

    #[test]
    fn cancel_stops_the_whole_group() {
        let cancel = Cancel::new();
        let r = Runner::new(false, false, cancel.clone());
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The grandchild ignores nothing; the group signal must reach it.
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let c2 = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            c2.cancel(crate::process::cancel::SIGTERM_CODE);
        });
        let t = Instant::now();
        let err = r.query(&sh(&script, "sleep")).unwrap_err();
        assert!(matches!(err, Error::Cancelled(143)), "{err:?}");
        assert!(t.elapsed() < Duration::from_secs(3));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Gone, or a zombie waiting for init to reap it.
        let alive = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            !stat.is_empty() && !stat.contains(") Z ")
        };
        let t = Instant::now();
        while alive() && t.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(), "grandchild {pid} survived the cancel");
        // A cleanup still runs after the cancel.
        assert!(r.cleanup(&sh("true", "clean")).success());
    }

    #[test]
    fn stream_tail_keeps_the_tail_for_hints() {
        let r = Runner::new(false, false, Cancel::new());
        let out = r
            .stream_tail(&sh("echo one; echo two >&2", "say two lines"))
            .unwrap();
        assert_eq!(out, "one\ntwo");
        let err = r
            .stream_tail(&sh(
                "echo 'unauthorized: authentication required' >&2; exit 1",
                "push",
            ))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("unauthorized: authentication required"),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("log in again"));
        let cancel = Cancel::new();
        let r = Runner::new(false, false, cancel.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            cancel.cancel(crate::process::cancel::SIGINT_CODE);
        });
        let t = Instant::now();
        assert!(matches!(
            r.stream_tail(&sh("sleep 30", "wait")),
            Err(Error::Cancelled(130))
        ));
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_child_on_a_pseudo_terminal_is_shown_and_its_tail_kept() {
        let r = Runner::new(false, false, Cancel::new());
        let t = Instant::now();
        let out = r
            .stream_pty(&sh(
                "echo one; [ -t 1 ] && [ -t 2 ] && echo on-a-tty >&2",
                "say",
            ))
            .unwrap();
        assert_eq!(out, "one\non-a-tty");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let err = r
            .stream_pty(&sh(
                "echo 'exec /bin/sh: exec format error'; exit 3",
                "build",
            ))
            .unwrap_err();
        match &err {
            Error::Process(p) => assert!(p.stderr_tail.contains("exec format error"), "{p}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(err.exit_code(), 3);
    }

    #[test]
    fn timeout_stops_the_child() {
        let r = Runner::new(false, false, Cancel::new());
        let c = sh("sleep 30", "wait for a slow thing").timeout(Duration::from_millis(200));
        let t = Instant::now();
        let err = r.query(&c).unwrap_err();
        assert!(
            err.to_string()
                .contains("stopped after 0.2 s without an answer"),
            "{err}"
        );
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn probe_never_fails_on_exit_status() {
        let r = Runner::new(false, false, Cancel::new());
        let p = r
            .probe(&sh("echo out; echo err >&2; exit 3", "probe"))
            .unwrap();
        assert_eq!(p.status.unwrap().code(), Some(3));
        assert_eq!((p.stdout.trim(), p.stderr.trim()), ("out", "err"));
        let missing = r.probe(&Cmd::new("/nonexistent/tool", "probe")).unwrap();
        assert!(missing.status.is_none() && !missing.success());
    }
}
