//! Processes on this machine: who we are (an owner a container's label can name) and whether an
//! owner still lives. A pid alone can be reused after its process died, so on Linux the owner
//! also carries the process's start time (`/proc/<pid>/stat`, field 22), and a pid that now
//! belongs to a process started at another time is a dead owner. Elsewhere (macOS) the pid
//! alone is checked.
//!
//! May import: nothing of the crate.

/// A process, as a container's label names it: `<host>/<pid>/<start>` (`start` empty where the
/// system does not tell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    pub start: String,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            pid,
            start: start_time(pid).unwrap_or_default(),
        }
    }

    /// The label value.
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.host, self.pid, self.start)
    }

    /// Reads a label value back; `None` for anything else.
    pub fn parse(label: &str) -> Option<Owner> {
        let mut parts = label.rsplitn(3, '/');
        let start = parts.next()?.to_string();
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        Some(Owner { host, pid, start })
    }

    /// Whether this owner lives on this machine.
    pub fn is_here(&self) -> bool {
        self.host == hostname()
    }

    /// Whether the owner still runs (on this machine): its pid exists and, where the system
    /// tells, started when the label says.
    pub fn alive(&self) -> bool {
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return false;
        };
        // Signal 0: only the permission and existence checks.
        let exists = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !exists {
            return false;
        }
        match (self.start.as_str(), start_time(self.pid)) {
            ("", _) | (_, None) => true,
            (want, Some(now)) => want == now,
        }
    }
}

/// This machine's name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// When `pid` started, in clock ticks since boot (Linux); `None` elsewhere or when unreadable.
#[cfg(target_os = "linux")]
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields count from its end.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19).map(str::to_string)
}

#[cfg(not(target_os = "linux"))]
fn start_time(_pid: u32) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_reads_back_and_we_are_alive() {
        let me = Owner::me();
        assert_eq!(Owner::parse(&me.label()), Some(me.clone()));
        assert!(me.is_here() && me.alive());
        let host_with_slash = Owner::parse("build/box/42/1234").unwrap();
        assert_eq!(
            (host_with_slash.host.as_str(), host_with_slash.pid),
            ("build/box", 42)
        );
        assert_eq!(Owner::parse("nonsense"), None);
    }

    #[test]
    fn a_dead_or_reused_pid_is_a_dead_owner() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = Owner {
            host: hostname(),
            pid,
            start: String::new(),
        };
        assert!(!gone.alive(), "pid {pid} was reaped");
        #[cfg(target_os = "linux")]
        {
            let reused = Owner {
                start: "1".into(),
                ..Owner::me()
            };
            assert!(!reused.alive(), "same pid, another start time");
        }
    }
}
