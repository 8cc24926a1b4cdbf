//! Running memanalyzer with its standard output on a new pseudo-terminal, as a person at a
//! terminal does: for colour and for the screen `-watch` redraws.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use super::run::memanalyzer_path;

/// Runs `memanalyzer ARGS…` with stdout on a new pseudo-terminal, TERM=xterm-256color and the
/// colour variables in `env` (no others); returns what it wrote there. `Err` when this machine
/// has no pseudo-terminals. Asserts success and an empty stderr.
pub fn run_on_terminal(args: &[&str], env: &[(&str, &str)]) -> Result<Vec<u8>, String> {
    let (mut master, slave) = {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors into the provided integers.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "no pseudo-terminal ({})",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: both descriptors were just opened and are owned here.
        unsafe {
            (
                File::from(OwnedFd::from_raw_fd(master)),
                OwnedFd::from_raw_fd(slave),
            )
        }
    };
    let mut cmd = Command::new(memanalyzer_path());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped());
    for variable in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"] {
        cmd.env_remove(variable);
    }
    cmd.env("TERM", "xterm-256color");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let child = cmd.spawn().expect("spawn memanalyzer");
    drop(cmd); // Closes our copy of the slave, so the master reads EIO once the child is done.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => return out, // EIO: every slave descriptor is closed.
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    let output = child.wait_with_output().expect("wait for memanalyzer");
    assert!(output.status.success(), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    Ok(reader.join().expect("pty reader"))
}
