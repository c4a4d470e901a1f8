//! A pseudo-terminal for a child whose output we both show and keep (see
//! `Runner::stream_watch`): the child sees a terminal (buildx draws its live progress), and we
//! copy what it writes to our own terminal while keeping the last part for a diagnosis.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Mutex;

/// How much of the child's output is kept (the end of it).
const KEEP: usize = 64 * 1024;

/// A new pseudo-terminal the size of ours: (our side, the child's side).
pub fn open() -> std::io::Result<(File, File)> {
    // SAFETY: a zeroed winsize is valid; TIOCGWINSZ only writes into it (and failing leaves it
    // zeroed, which openpty accepts).
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into master and slave, which we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::addr_of_mut!(ws),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    Ok((File::from(master), File::from(slave)))
}

/// Copies the terminal's output to our stderr until the child side is closed (read fails with
/// EIO on Linux, or returns 0), keeping the last [`KEEP`] bytes in `kept`.
pub fn copy_to_stderr(mut master: File, kept: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let _ = std::io::stderr().write_all(&buf[..n]);
                let mut k = kept.lock().unwrap_or_else(|e| e.into_inner());
                k.extend_from_slice(&buf[..n]);
                if k.len() > 2 * KEEP {
                    let cut = k.len() - KEEP;
                    k.drain(..cut);
                }
            }
        }
    }
}
