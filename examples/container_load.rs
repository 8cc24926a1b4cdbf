//! `container_load`: a process that joins a cgroup and then holds each kind of memory the
//! container view tells apart, for memanalyzer's `-cgroup` tests (`tests/it/container.rs`, Linux
//! only, as root):
//!
//! ```text
//! container_load --join /sys/fs/cgroup/memory/test --anon-mb 48 \
//!     --cache-file /var/tmp/x --cache-mb 64 --tmpfs-file /dev/shm/x --tmpfs-mb 32 --socket-kb 256
//! ```
//!
//! It joins the cgroup first (writes its PID to `cgroup.procs`), so every page below is charged
//! there: anonymous memory it writes, page cache of a file it writes and syncs, a tmpfs file, and
//! socket buffers holding data sent over a loopback TCP connection that nobody reads. Then it
//! prints `ready pid=N` and waits for its standard input to close, and removes its files.

use std::fs::{self, File};
use std::io::{self, BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Default)]
struct Args {
    join: Option<PathBuf>,
    anon_mb: usize,
    cache_file: Option<PathBuf>,
    cache_mb: usize,
    tmpfs_file: Option<PathBuf>,
    tmpfs_mb: usize,
    socket_kb: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args::default();
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let value = words
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--join" => args.join = Some(value.clone().into()),
            "--anon-mb" => args.anon_mb = number()?,
            "--cache-file" => args.cache_file = Some(value.clone().into()),
            "--cache-mb" => args.cache_mb = number()?,
            "--tmpfs-file" => args.tmpfs_file = Some(value.clone().into()),
            "--tmpfs-mb" => args.tmpfs_mb = number()?,
            "--socket-kb" => args.socket_kb = number()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// Writes `mib` MiB of non-zero bytes to `path` and syncs it, so its pages stay in the page
/// cache (or tmpfs), charged to this process's cgroup.
fn write_file(path: &PathBuf, mib: usize) -> io::Result<()> {
    let mut file = File::create(path)?;
    let chunk = vec![0x5a_u8; 1 << 20];
    for _ in 0..mib {
        file.write_all(&chunk)?;
    }
    file.sync_all()
}

/// Sends `kib` KiB into a loopback connection whose other end never reads: the data waits in
/// socket buffers. Returns both ends, which must stay open.
fn fill_socket(kib: usize) -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let sender = TcpStream::connect(listener.local_addr()?)?;
    let (receiver, _) = listener.accept()?;
    sender.set_nonblocking(true)?;
    let chunk = vec![0xa5_u8; 4096];
    let mut sent = 0;
    while sent < kib * 1024 {
        match (&sender).write(&chunk) {
            Ok(written) => sent += written,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) => return Err(error),
        }
    }
    Ok((sender, receiver))
}

fn run(args: &Args) -> io::Result<()> {
    if let Some(cgroup) = &args.join {
        fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string())?;
    }
    let mut anon = vec![0u8; args.anon_mb << 20];
    for page in anon.chunks_mut(4096) {
        page[0] = 1;
    }
    if let Some(path) = &args.cache_file {
        write_file(path, args.cache_mb)?;
    }
    if let Some(path) = &args.tmpfs_file {
        write_file(path, args.tmpfs_mb)?;
    }
    let _sockets = if args.socket_kb > 0 {
        Some(fill_socket(args.socket_kb)?)
    } else {
        None
    };
    println!("ready pid={}", std::process::id());
    io::stdout().flush()?;
    for line in io::stdin().lock().lines() {
        line?;
    }
    std::hint::black_box(&anon);
    for path in [&args.cache_file, &args.tmpfs_file].into_iter().flatten() {
        let _ = fs::remove_file(path);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("container_load: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("container_load: {error}");
            ExitCode::FAILURE
        }
    }
}
