//! `peak_rss`: runs a command and reports its peak resident set size, for memanalyzer's
//! security tests (`tests/it/security.rs`, Linux only).
//!
//! ```text
//! cargo build --example peak_rss
//! ./target/debug/examples/peak_rss DIR PROGRAM [ARGS...]
//! ```
//!
//! PROGRAM gets this process's standard input; its standard output and error go to `DIR/stdout`
//! and `DIR/stderr`. When it ends, `DIR/result` holds `exit CODE MAXRSS_KIB` or
//! `signal NUMBER MAXRSS_KIB`, the peak from `wait4(2)`'s `ru_maxrss`. A PROGRAM still running
//! after three minutes is killed.
//!
//! Why a separate, small process: the peak the kernel reports for a child includes the address
//! space it was `exec`ed from, so a child started straight from a large test process would
//! inherit that process's peak. This program is small, and the pre-exec hook below makes
//! `Command` fork rather than `posix_spawn` (which shares the parent's address space until
//! `exec`), so the child starts from a copy of only this process's few pages. Both this program
//! and PROGRAM die with the thread that started them (PR_SET_PDEATHSIG).

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const HANG_GUARD: Duration = Duration::from_secs(180);

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), Some(program)) = (args.next(), args.next()) else {
        eprintln!("usage: peak_rss DIR PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    // SAFETY: prctl(PR_SET_PDEATHSIG) has no memory-safety preconditions.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };

    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::inherit())
        .stdout(File::create(dir.join("stdout")).expect("create DIR/stdout"))
        .stderr(File::create(dir.join("stderr")).expect("create DIR/stderr"));
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Dies with this thread, which waits for it below.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("start PROGRAM");
    let pid = child.id() as libc::pid_t;
    // Our own copy of stdin would keep a pipe open after PROGRAM has gone.
    let null = File::open("/dev/null").expect("open /dev/null");
    // SAFETY: dup2 onto our stdin descriptor, which nothing here reads.
    assert!(unsafe { libc::dup2(null.as_raw_fd(), 0) } == 0);
    drop(null);

    let deadline = Instant::now() + HANG_GUARD;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to a status and a rusage.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if rc == pid {
            break (status, usage);
        }
        let error = io::Error::last_os_error();
        assert!(
            rc == 0 || error.kind() == io::ErrorKind::Interrupted,
            "wait4: {error}"
        );
        if Instant::now() >= deadline {
            // SAFETY: kill(2) has no memory-safety preconditions; the child is not reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        thread::sleep(Duration::from_millis(2));
    };
    drop(child); // already reaped by wait4; dropping a Child neither waits nor kills
    let how = if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else {
        format!("signal {}", libc::WTERMSIG(status))
    };
    fs::write(dir.join("result"), format!("{how} {}", usage.ru_maxrss)).expect("write DIR/result");
    ExitCode::SUCCESS
}
