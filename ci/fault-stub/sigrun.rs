//! What a Rust caller sees when its child is stopped by a signal, for
//! ci/capture-fault-fixtures.sh:
//!
//!     sigrun SIGNAL SECONDS STDOUT_FILE STDERR_FILE -- CMD [ARGS...]
//!
//! Spawns CMD (stdin null, stdout/stderr to the files), sends it SIGNAL (INT, TERM or KILL, with
//! the `kill` utility; std has no other way to send one) after SECONDS, waits, and prints the
//! `std::process::ExitStatus` as the plugin would get it: Display, code(), signal().
//! Exits with the shell's convention (code, or 128 + signal). std only: `rustc -O sigrun.rs`.
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    assert!(a.len() > 6 && a[5] == "--", "usage: sigrun SIGNAL SECONDS OUT ERR -- CMD...");
    let (sig, secs, out, err) = (&a[1], a[2].parse::<f64>().unwrap(), &a[3], &a[4]);
    let mut child = Command::new(&a[6])
        .args(&a[7..])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(std::fs::File::create(err).unwrap())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_secs_f64(secs));
    if let Ok(Some(st)) = child.try_wait() {
        println!("exited before the signal: {st}");
    } else {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }
    let st = child.wait().expect("wait");
    println!(
        "ExitStatus Display=<{st}> success()=<{}> code()=<{:?}> signal()=<{:?}> core_dumped()=<{}>",
        st.success(),
        st.code(),
        st.signal(),
        st.core_dumped()
    );
    std::process::exit(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
}
