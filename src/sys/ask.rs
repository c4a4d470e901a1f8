//! Asking before a change that creates something billable: `--yes` answers for CI; on a
//! terminal the question is asked on stderr and answered on stdin; anywhere else the answer is
//! no, with a hint naming `--yes`. The read waits in a thread so Ctrl-C still cancels at once.
//!
//! May import: `report`.

use std::io::{BufRead, IsTerminal};
use std::sync::mpsc;
use std::time::Duration;

use crate::report::error::Error;

/// Whether the user agreed. `cancelled` is polled while the question waits (a signal or the
/// docker CLI going away); it returns the error to stop with.
pub fn confirm(
    question: &str,
    yes: bool,
    cancelled: impl Fn() -> Result<(), Error>,
) -> Result<(), Error> {
    if yes {
        say!("{question} yes (--yes)");
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            format!("{question} no answer: stdin is not a terminal, nothing was created"),
            "pass --yes to agree without a question (CI), or run it in a terminal",
        ));
    }
    say_inline!("{question} [y/N] ");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    loop {
        cancelled()?;
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(line)) if is_yes(&line) => return Ok(()),
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::failed(
                    "not confirmed: nothing was created",
                    "answer y to go ahead, or pass --yes",
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

fn is_yes(line: &str) -> bool {
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        for y in ["y\n", "Y", " yes \n", "YES"] {
            assert!(is_yes(y), "{y:?}");
        }
        for n in ["", "\n", "n", "no", "yep", "sure"] {
            assert!(!is_yes(n), "{n:?}");
        }
        assert!(confirm("Create?", true, || Ok(())).is_ok());
    }
}
