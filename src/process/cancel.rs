//! One cancel path for the whole process.
//!
//! Three sources set the same token: SIGINT (exit 130), SIGTERM (exit 143), and the docker CLI
//! closing `DOCKER_CLI_PLUGIN_SOCKET` (EOF, or `ECONNREFUSED` at connect: exit 130), which is how
//! docker tells a plugin to stop when its stdout is not a terminal. Signal handlers only store a
//! number; nobody here calls `process::exit`. The runner polls the token while children run, and
//! long waits sleep through [`Cancel::sleep`], so a cancel unwinds as `Error::Cancelled` and every
//! cleanup guard runs before `main` exits with the code. We never die by a signal: docker would
//! then report 255.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::report::error::Error;

/// Exit code after SIGINT or the plugin socket closing.
pub const SIGINT_CODE: usize = 130;
/// Exit code after SIGTERM.
pub const SIGTERM_CODE: usize = 143;

/// A shared cancel flag: 0 while running, else the exit code to end with.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicUsize>);

impl Cancel {
    /// A token nothing will set (tests, and commands that never wait).
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Traps SIGINT, SIGTERM, SIGHUP (a closed terminal) and SIGQUIT, and watches the plugin
    /// socket named in `socket` (the value of `DOCKER_CLI_PLUGIN_SOCKET`), all feeding this
    /// token. The first cancel wins; a second *signal* while cleanups run ends the process at
    /// once with the first code (the user insisted; docker's own third signal is a SIGKILL).
    pub fn install(socket: Option<&str>) -> std::io::Result<Cancel> {
        let token = Cancel::new();
        for (sig, code) in [
            (signal_hook::consts::SIGINT, SIGINT_CODE),
            (signal_hook::consts::SIGTERM, SIGTERM_CODE),
            (
                signal_hook::consts::SIGHUP,
                128 + signal_hook::consts::SIGHUP as usize,
            ),
            (
                signal_hook::consts::SIGQUIT,
                128 + signal_hook::consts::SIGQUIT as usize,
            ),
        ] {
            let flag = token.0.clone();
            let signals = Arc::new(AtomicUsize::new(0));
            let handler = move || {
                // Only atomics and _exit here: both are async-signal-safe.
                let _ = flag.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
                if signals.fetch_add(1, Ordering::SeqCst) >= 1 {
                    // SAFETY: _exit is async-signal-safe and ends the process at once.
                    unsafe { libc::_exit(flag.load(Ordering::SeqCst) as i32) };
                }
            };
            // SAFETY: the handler only touches atomics and calls _exit (see above).
            unsafe { signal_hook::low_level::register(sig, handler) }?;
        }
        if let Some(name) = socket.filter(|s| !s.is_empty()) {
            watch_socket(name, token.clone());
        }
        Ok(token)
    }

    /// Marks the process cancelled with `code`, unless it already is.
    pub fn cancel(&self, code: usize) {
        let _ = self
            .0
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The exit code to end with, once cancelled.
    pub fn code(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n as i32),
        }
    }

    /// `Err(Cancelled)` once cancelled.
    pub fn check(&self) -> Result<(), Error> {
        match self.code() {
            Some(code) => Err(Error::Cancelled(code)),
            None => Ok(()),
        }
    }

    /// Sleeps for `d`, waking early (with `Err(Cancelled)`) when cancelled.
    pub fn sleep(&self, d: Duration) -> Result<(), Error> {
        let end = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(10)));
        }
    }
}

/// Connects to docker's plugin socket now, then reads it on a thread: EOF means cancel.
fn watch_socket(name: &str, token: Cancel) {
    let stream = match connect(name) {
        Ok(s) => s,
        // The listener is already gone: docker was told to stop before we got here.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            token.cancel(SIGINT_CODE);
            return;
        }
        // Anything else: run unsupervised, as docker's own Go plugins do.
        Err(_) => return,
    };
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stream = stream;
        let mut buf = [0u8; 64];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue, // docker never sends bytes; ignore any
            }
        }
        token.cancel(SIGINT_CODE);
    });
}

#[cfg(target_os = "linux")]
fn connect(name: &str) -> std::io::Result<std::os::unix::net::UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    match name.strip_prefix('@') {
        // Linux: an abstract socket; `@` stands for the leading NUL byte.
        Some(abstract_name) => {
            let addr = SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
            UnixStream::connect_addr(&addr)
        }
        None => UnixStream::connect(name),
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn connect(name: &str) -> std::io::Result<std::os::unix::net::UnixStream> {
    // macOS: a socket file in $TMPDIR.
    std::os::unix::net::UnixStream::connect(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_code_wins_and_sleep_wakes() {
        let c = Cancel::new();
        assert!(c.check().is_ok());
        assert!(c.sleep(Duration::from_millis(5)).is_ok());
        c.cancel(SIGTERM_CODE);
        c.cancel(SIGINT_CODE);
        assert_eq!(c.code(), Some(143));
        let t = Instant::now();
        assert!(matches!(
            c.sleep(Duration::from_secs(10)),
            Err(Error::Cancelled(143))
        ));
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn socket_eof_cancels_and_refused_cancels_at_once() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixListener};
        let name = format!("azdeploy_test_{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixListener::bind_addr(&addr).unwrap();
        let token = Cancel::new();
        watch_socket(&format!("@{name}"), token.clone());
        let (conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(token.code(), None, "an open socket is no cancel");
        drop(conn);
        drop(listener);
        let t = Instant::now();
        while token.code().is_none() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(token.code(), Some(130));

        let late = Cancel::new();
        watch_socket(&format!("@{name}"), late.clone());
        assert_eq!(
            late.code(),
            Some(130),
            "ECONNREFUSED means already cancelled"
        );
    }
}
