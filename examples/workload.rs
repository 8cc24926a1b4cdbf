//! `workload`: a helper process with a known memory layout, for memanalyzer's
//! live tests and benchmarks (Linux only).
//!
//! Build and run:
//!
//! ```text
//! cargo build --example workload            # or --release for benchmarks
//! ./target/debug/examples/workload --mappings 60000 --threads 4 \
//!     --memfd-kb 1024 --sysv-kb 2048 --deleted-file-kb 512 \
//!     --anon-rw-mb 16 --anon-name TXMetaCache --named-chunks 12 --chunk-kb 256 \
//!     --file-name $'weird \x1b[31mname'
//! ```
//!
//! The program sets everything up, prints exactly one line `ready pid=<PID>` to
//! stdout, then blocks reading stdin until EOF or a line `exit`; it then removes
//! the `--file-name` file and exits 0. Give it a pipe as stdin: with
//! `/dev/null` it exits at once. After `ready` it neither allocates nor faults
//! memory, so its smaps is quiescent (smaps and smaps_rollup can be compared),
//! unless `--churn-kb` asks for the opposite, or `--grow-mb-per-s` or
//! `--sawtooth-mb` ask it to change its RSS over time (for `-watch`), from a
//! thread `wl-memory`, in mappings made before `ready`.
//!
//! A line `exec` on stdin makes it run itself again with the same arguments
//! (execve of /proc/self/exe): the same PID gets a new address space, sets it up
//! again and prints `ready pid=<PID>` again. Tests use it to exec at a chosen moment.
//! It asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG), so tests never
//! leave orphans. Note that the kernel sends that signal when the parent
//! *thread* that spawned it exits, so spawn it from the thread that waits for it.
//!
//! Layout (run `--help` for the options; sizes are rounded up to whole pages):
//!
//! * `--mappings N`: one block of N anonymous private mappings of
//!   `--pages-per-mapping` pages each, made with separate `mmap` calls and
//!   alternating `rw-p` / `r--p` (the first is `rw-p`), so each one is its own
//!   VMA. The block is flanked by one PROT_NONE guard page on each side
//!   (`---p`), i.e. N + 2 VMAs. The first `--touch-pages` pages of every `rw-p`
//!   mapping are written; the `r--p` ones are never touched.
//! * `--anon-rw-mb M`: one `rw-p` anonymous mapping of M MiB, fully written,
//!   shown as `[anon:NAME]` with `--anon-name NAME`; flanked by guard pages.
//! * `--named-chunks K --chunk-kb S`: K fully written `rw-p` anonymous
//!   mappings named `[anon:TNC-0]` .. `[anon:TNC-{K-1}]`, in increasing address
//!   order, each separated from the next by a guard page.
//! * `--threads T`: T idle threads named `wl-idle-<i>`, each with a 2 MiB
//!   stack (glibc: a `rw-p` mapping right above a one-page `---p` guard) and
//!   std's signal alternate stack (a small `rw-p` above a `---p` guard page),
//!   so about 4 VMAs per thread. With glibc, malloc is limited to one arena
//!   (M_ARENA_MAX=1) so threads add no per-thread 64 MiB arena reservations.
//! * `--memfd-kb K`: `rw-s` mapping of `/memfd:workload-memfd (deleted)`, fully
//!   written.
//! * `--sysv-kb K`: `rw-s` mapping of `/SYSV00000000 (deleted)`, fully written;
//!   the segment is IPC_RMID'ed right after `shmat`, so nothing leaks.
//! * `--deleted-file-kb K`: `r--p` mapping of
//!   `$TMPDIR/memanalyzer-workload-<pid>-<nanos>.deleted (deleted)`, every page
//!   read.
//! * `--file-name NAME`: `r--p` mapping of an 8 KiB file `$TMPDIR/NAME` (NAME
//!   taken as raw bytes, may contain spaces, escapes, newlines), every page
//!   read. It is removed on normal exit (not when the process is killed; a
//!   regular file left over from a killed run is overwritten by the next one).
//!
//! Behaviours for race and permission tests:
//!
//! * `--churn-kb K`: after `ready`, a thread `wl-churn` changes the mappings of
//!   a K KiB anonymous area as fast as it can, for ever: mprotect and MAP_FIXED
//!   re-mappings of pseudo-random page ranges, so its VMAs split and merge
//!   continuously (the rest of the layout stays as it is).
//! * `--main-thread-exits`: after `ready`, the main thread exits on its own (the
//!   exit system call, as pthread_exit ends a thread) while a thread
//!   `wl-waiter` waits on stdin and then ends the process; the kernel then shows
//!   the main thread as a zombie and `/proc/<pid>/smaps` as empty.
//! * `--non-dumpable`: prctl(PR_SET_DUMPABLE, 0) before `ready`, so that only
//!   CAP_SYS_PTRACE can read its smaps, even for its own user.
//!
//! Naming uses prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME); on a kernel without
//! CONFIG_ANON_VMA_NAME it fails with EINVAL, and the program then warns on
//! stderr and leaves the regions unnamed (they stay separate VMAs). Files are
//! fsync'ed before mapping, so their pages are clean (Private_Clean) and
//! writeback cannot change smaps after `ready`.
//!
//! Guard pages are plain PROT_NONE anonymous mappings (`---p`, VmFlags `nr`);
//! the guards of two neighbouring regions merge into one VMA, so identify
//! regions by their properties rather than by an exact total VMA count.

use std::ffi::{c_void, CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::ptr::NonNull;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::Signal;

const USAGE: &str = "\
usage: workload [OPTIONS]

Creates a process with a known memory layout, prints `ready pid=<PID>` on
stdout, then waits until stdin reaches EOF or gets a line `exit`; a line
`exec` makes it run itself again with the same arguments.

  --mappings N            N anonymous private mappings, one VMA each,
                          alternating rw-p / r--p (default 0)
  --pages-per-mapping P   pages per mapping (default 1)
  --touch-pages T         pages written in each rw-p mapping (default 1, <= P)
  --anon-rw-mb M          one anonymous rw-p mapping of M MiB, fully written
  --anon-name NAME        show that mapping as [anon:NAME]
  --named-chunks K        K anonymous rw-p mappings [anon:TNC-0]..[anon:TNC-<K-1>]
  --chunk-kb S            size of each named chunk in KiB (needed with --named-chunks)
  --threads T             T idle threads (default 0)
  --memfd-kb K            MAP_SHARED memfd 'workload-memfd' of K KiB, fully written
  --sysv-kb K             SysV shm segment of K KiB, fully written, already removed
  --deleted-file-kb K     read-only mapping of a K KiB temp file, unlinked after mapping
  --file-name NAME        read-only mapping of an 8 KiB file $TMPDIR/NAME (raw bytes),
                          removed on normal exit
  --churn-kb K            after ready, churn the mappings of a K KiB area for ever
  --main-thread-exits     after ready, the main thread exits; another waits on stdin
  --non-dumpable          prctl(PR_SET_DUMPABLE, 0) before ready
  --mlock                 accepted and ignored
  --grow-mb-per-s R       after `ready`, touch R MiB more anonymous memory every second
                          (a steady leak), up to --grow-limit-mb
  --grow-limit-mb L       stop growing at L MiB (default 512)
  --sawtooth-mb A         after `ready`, every --sawtooth-period-ms: free it all, rest a
                          quarter of the period, then touch up to A MiB (a garbage
                          collector's sawtooth, no leak, with a flat bottom)
  --sawtooth-period-ms P  period of the sawtooth in ms (default 1000)
  --verbose               describe the layout on stderr before `ready`
  -h, --help              show this help
";

/// VMAs kept free for the runtime, libraries, stacks and the other regions.
const MAP_COUNT_HEADROOM: usize = 1000;
const FILE_NAME_BYTES: usize = 8 * 1024;
/// Longest name PR_SET_VMA_ANON_NAME accepts (80 bytes including the NUL).
const ANON_NAME_MAX: usize = 79;
const THREAD_STACK_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug)]
struct Config {
    mappings: usize,
    pages_per_mapping: usize,
    touch_pages: usize,
    anon_rw_mb: usize,
    anon_name: Option<String>,
    named_chunks: usize,
    chunk_kb: Option<usize>,
    threads: usize,
    memfd_kb: usize,
    sysv_kb: usize,
    deleted_file_kb: usize,
    file_name: Option<OsString>,
    churn_kb: usize,
    main_thread_exits: bool,
    non_dumpable: bool,
    verbose: bool,
    grow_mb_per_s: usize,
    grow_limit_mb: usize,
    sawtooth_mb: usize,
    sawtooth_period_ms: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mappings: 0,
            pages_per_mapping: 1,
            touch_pages: 1,
            anon_rw_mb: 0,
            anon_name: None,
            named_chunks: 0,
            chunk_kb: None,
            threads: 0,
            memfd_kb: 0,
            sysv_kb: 0,
            deleted_file_kb: 0,
            file_name: None,
            churn_kb: 0,
            main_thread_exits: false,
            non_dumpable: false,
            verbose: false,
            grow_mb_per_s: 0,
            grow_limit_mb: 512,
            sawtooth_mb: 0,
            sawtooth_period_ms: 1000,
        }
    }
}

enum Parsed {
    Run(Config),
    Help,
}

fn main() -> ExitCode {
    if let Err(e) = die_with_parent() {
        eprintln!("workload: {e}");
        return ExitCode::from(1);
    }
    single_malloc_arena();
    let config = match parse_args(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("workload: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("workload: error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Have the kernel SIGKILL us when the parent goes away.
fn die_with_parent() -> Result<(), String> {
    let parent = nix::unistd::getppid();
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("prctl(PR_SET_PDEATHSIG): {e}"))?;
    // The parent may have died before the prctl took effect.
    if nix::unistd::getppid() != parent {
        return Err("parent exited before start-up finished".to_string());
    }
    Ok(())
}

/// Keeps glibc from giving each thread its own malloc arena (a 64 MiB `---p`
/// reservation with a small `rw-p` head per thread), so `--threads` adds only
/// the stacks to the layout.
fn single_malloc_arena() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only changes allocator tuning; called before any thread exists.
        if unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) } != 1 {
            eprintln!("workload: warning: mallopt(M_ARENA_MAX, 1) failed");
        }
    }
}

// ---------------------------------------------------------------------------
// Command line

fn parse_args(args: impl Iterator<Item = OsString>) -> Result<Parsed, String> {
    let mut c = Config::default();
    let mut seen: Vec<String> = Vec::new();
    let mut args = args;
    while let Some(arg) = args.next() {
        let flag = arg
            .to_str()
            .ok_or_else(|| format!("unknown argument {arg:?}"))?
            .to_string();
        if seen.contains(&flag) {
            return Err(format!("{flag} given more than once"));
        }
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--mlock" => eprintln!("workload: warning: --mlock is accepted but ignored"),
            "--verbose" => c.verbose = true,
            "--main-thread-exits" => c.main_thread_exits = true,
            "--non-dumpable" => c.non_dumpable = true,
            "--file-name" => {
                let v = args.next().ok_or("--file-name needs a value")?;
                check_file_name(&v)?;
                c.file_name = Some(v);
            }
            "--anon-name" => {
                let v = args.next().ok_or("--anon-name needs a value")?;
                let v = v
                    .into_string()
                    .map_err(|v| format!("--anon-name {v:?}: not valid UTF-8"))?;
                check_anon_name(&v)?;
                c.anon_name = Some(v);
            }
            "--mappings"
            | "--pages-per-mapping"
            | "--touch-pages"
            | "--anon-rw-mb"
            | "--named-chunks"
            | "--chunk-kb"
            | "--threads"
            | "--memfd-kb"
            | "--sysv-kb"
            | "--deleted-file-kb"
            | "--churn-kb"
            | "--grow-mb-per-s"
            | "--grow-limit-mb"
            | "--sawtooth-mb"
            | "--sawtooth-period-ms" => {
                let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
                let n: usize = v
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("{flag} {v:?}: expected a non-negative integer"))?;
                match flag.as_str() {
                    "--mappings" => c.mappings = n,
                    "--pages-per-mapping" => c.pages_per_mapping = n,
                    "--touch-pages" => c.touch_pages = n,
                    "--anon-rw-mb" => c.anon_rw_mb = n,
                    "--named-chunks" => c.named_chunks = n,
                    "--chunk-kb" => c.chunk_kb = Some(n),
                    "--threads" => c.threads = n,
                    "--memfd-kb" => c.memfd_kb = n,
                    "--sysv-kb" => c.sysv_kb = n,
                    "--deleted-file-kb" => c.deleted_file_kb = n,
                    "--churn-kb" => c.churn_kb = n,
                    "--grow-mb-per-s" => c.grow_mb_per_s = n,
                    "--grow-limit-mb" => c.grow_limit_mb = n,
                    "--sawtooth-mb" => c.sawtooth_mb = n,
                    "--sawtooth-period-ms" => c.sawtooth_period_ms = n,
                    _ => unreachable!("every numeric flag is listed above"),
                }
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
        seen.push(flag);
    }

    if c.sawtooth_period_ms == 0 {
        return Err("--sawtooth-period-ms must be at least 1".into());
    }
    if c.pages_per_mapping == 0 {
        return Err("--pages-per-mapping must be at least 1".into());
    }
    if c.touch_pages > c.pages_per_mapping {
        return Err(format!(
            "--touch-pages {} exceeds --pages-per-mapping {}",
            c.touch_pages, c.pages_per_mapping
        ));
    }
    if c.anon_name.is_some() && c.anon_rw_mb == 0 {
        return Err("--anon-name needs --anon-rw-mb M with M > 0".into());
    }
    match (c.named_chunks, c.chunk_kb) {
        (0, None) => {}
        (0, Some(_)) => return Err("--chunk-kb needs --named-chunks K with K > 0".into()),
        (_, None) | (_, Some(0)) => {
            return Err("--named-chunks needs --chunk-kb S with S > 0".into())
        }
        _ => {}
    }
    Ok(Parsed::Run(c))
}

fn check_file_name(name: &OsStr) -> Result<(), String> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(format!(
            "--file-name {name:?}: must be a plain file name (not empty, '.', '..', no '/')"
        ));
    }
    Ok(())
}

/// The kernel accepts printable ASCII except `\`, `` ` ``, `$`, `[` and `]`.
fn check_anon_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > ANON_NAME_MAX {
        return Err(format!(
            "--anon-name {name:?}: must be 1 to {ANON_NAME_MAX} bytes long"
        ));
    }
    if let Some(ch) = name
        .bytes()
        .find(|&ch| !(0x20..0x7f).contains(&ch) || b"\\`$[]".contains(&ch))
    {
        return Err(format!(
            "--anon-name {name:?}: the kernel rejects the character {:?}",
            ch as char
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Setup

/// Files to remove when `run` returns (normally or on a setup error).
#[derive(Default)]
struct Cleanup {
    files: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.files {
            if let Err(e) = fs::remove_file(path) {
                if e.kind() != io::ErrorKind::NotFound {
                    eprintln!("workload: warning: cannot remove {}: {e}", path.display());
                }
            }
        }
    }
}

/// Whether PR_SET_VMA_ANON_NAME works on this kernel; learnt on first use.
struct Namer {
    supported: Option<bool>,
}

impl Namer {
    /// Names `[addr, addr+len)`; returns false if the kernel cannot name VMAs.
    fn name(&mut self, addr: *mut u8, len: usize, name: &str) -> Result<bool, String> {
        if self.supported == Some(false) {
            return Ok(false);
        }
        let cname = CString::new(name).map_err(|_| format!("anon name {name:?} contains NUL"))?;
        let addr = NonNull::new(addr.cast::<c_void>()).ok_or("cannot name a null address")?;
        let len = NonZeroUsize::new(len).ok_or("cannot name an empty range")?;
        match prctl::set_vma_anon_name(addr, len, Some(&cname)) {
            Ok(()) => {
                self.supported = Some(true);
                Ok(true)
            }
            Err(Errno::EINVAL) => {
                eprintln!(
                    "workload: warning: prctl(PR_SET_VMA_ANON_NAME) failed with EINVAL; \
                     kernel probably lacks CONFIG_ANON_VMA_NAME, anonymous regions stay unnamed"
                );
                self.supported = Some(false);
                Ok(false)
            }
            Err(e) => Err(format!("prctl(PR_SET_VMA_ANON_NAME, {name:?}): {e}")),
        }
    }
}

fn run(c: &Config) -> Result<(), String> {
    let mut cleanup = Cleanup::default();
    let page = page_size()?;
    check_map_count(c)?;
    let verbose = c.verbose;
    let mut namer = Namer { supported: None };

    if c.mappings > 0 {
        let (start, end) = make_mapping_block(c, page)?;
        if verbose {
            eprintln!(
                "workload: {} mappings of {} page(s) in {start:#x}-{end:#x} (+1 guard page each side)",
                c.mappings, c.pages_per_mapping
            );
        }
    }

    if c.anon_rw_mb > 0 {
        let len = mib(c.anon_rw_mb, "--anon-rw-mb")?;
        let base = reserve(len, page, 1, "--anon-rw-mb")?;
        // SAFETY: base + page .. base + page + len lies inside the reservation.
        let addr = unsafe { base.add(page) };
        map_fixed_anon(
            addr,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            "--anon-rw-mb",
        )?;
        touch_write(addr, len, page);
        let named = match &c.anon_name {
            Some(name) => namer.name(addr, len, name)?,
            None => false,
        };
        if verbose {
            let label = match (&c.anon_name, named) {
                (Some(n), true) => format!("[anon:{n}]"),
                _ => "unnamed".to_string(),
            };
            eprintln!("workload: anon-rw {} {label}", range(addr, len));
        }
    }

    if c.named_chunks > 0 {
        let chunk_kb = c
            .chunk_kb
            .expect("parse_args requires --chunk-kb with --named-chunks");
        let len = round_up(kib(chunk_kb, "--chunk-kb")?, page);
        let stride = len + page;
        let total = stride
            .checked_mul(c.named_chunks)
            .ok_or("--named-chunks * --chunk-kb overflows")?;
        let base = reserve(total, page, 0, "--named-chunks")?;
        for i in 0..c.named_chunks {
            // SAFETY: chunk i lies at base + page + i*stride, inside the reservation
            // (which is total + 2 pages long).
            let addr = unsafe { base.add(page + i * stride) };
            map_fixed_anon(
                addr,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                "--named-chunks",
            )?;
            touch_write(addr, len, page);
            let name = format!("TNC-{i}");
            let named = namer.name(addr, len, &name)?;
            if verbose {
                let label = if named {
                    format!("[anon:{name}]")
                } else {
                    "unnamed".into()
                };
                eprintln!("workload: chunk {} {label}", range(addr, len));
            }
        }
    }

    if c.memfd_kb > 0 {
        let (addr, len) = make_memfd(c.memfd_kb, page)?;
        if verbose {
            eprintln!("workload: memfd {} /memfd:workload-memfd", range(addr, len));
        }
    }

    if c.sysv_kb > 0 {
        let (addr, len) = make_sysv(c.sysv_kb, page)?;
        if verbose {
            eprintln!(
                "workload: sysv {} (segment already IPC_RMID'ed)",
                range(addr, len)
            );
        }
    }

    if c.deleted_file_kb > 0 {
        let (addr, len, path) = make_deleted_file(c.deleted_file_kb, page)?;
        if verbose {
            eprintln!(
                "workload: deleted file {} {}",
                range(addr, len),
                path.display()
            );
        }
    }

    if let Some(name) = &c.file_name {
        let path = std::env::temp_dir().join(name);
        let (addr, len) = make_named_file(&path, page, &mut cleanup)?;
        if verbose {
            eprintln!("workload: named file {} {:?}", range(addr, len), path);
        }
    }

    if c.threads > 0 {
        start_idle_threads(c.threads)?;
        if verbose {
            eprintln!("workload: {} idle threads", c.threads);
        }
    }

    let churn_area = if c.churn_kb > 0 {
        let len = round_up(kib(c.churn_kb, "--churn-kb")?, page);
        let area = reserve(len, page, 0, "--churn-kb")?;
        if verbose {
            eprintln!("workload: churning {}", range(area, len));
        }
        Some(ChurnArea {
            start: area as usize,
            pages: len / page,
            page,
        })
    } else {
        None
    };

    if c.non_dumpable {
        prctl::set_dumpable(false).map_err(|e| format!("prctl(PR_SET_DUMPABLE, 0): {e}"))?;
    }

    if let Some(area) = churn_area {
        std::thread::Builder::new()
            .name("wl-churn".to_string())
            .spawn(move || area.churn())
            .map_err(|e| format!("spawning the churn thread: {e}"))?;
    }

    if c.main_thread_exits {
        // The waiter owns the clean-up from now on: the main thread will not return.
        std::thread::Builder::new()
            .name("wl-waiter".to_string())
            .spawn(move || {
                let request = wait_for_exit();
                drop(cleanup);
                let code = match request {
                    Ok(Request::Exec) => match exec_again() {
                        Ok(never) => match never {},
                        Err(msg) => {
                            eprintln!("workload: error: {msg}");
                            1
                        }
                    },
                    Ok(Request::Exit) => 0,
                    Err(e) => {
                        eprintln!("workload: error: reading stdin: {e}");
                        1
                    }
                };
                std::process::exit(code);
            })
            .map_err(|e| format!("spawning the waiter thread: {e}"))?;
        announce_ready()?;
        // SAFETY: SYS_exit ends this thread only, without unwinding through Rust frames; the
        // other threads own everything they use (nothing they use lives on this stack).
        unsafe { libc::syscall(libc::SYS_exit, 0) };
        unreachable!("the exit system call does not return");
    }

    if c.grow_mb_per_s > 0 || c.sawtooth_mb > 0 {
        start_changing_memory(c, page)?;
    }
    announce_ready()?;
    let request = wait_for_exit().map_err(|e| format!("reading stdin: {e}"))?;
    drop(cleanup);
    match request {
        Request::Exit => Ok(()),
        Request::Exec => match exec_again()? {},
    }
}

/// Runs this program again, with the same arguments, in this process: a new address space.
fn exec_again() -> Result<std::convert::Infallible, String> {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("workload"));
    let error = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .exec();
    Err(format!("execve(/proc/self/exe): {error}"))
}

/// The area `--churn-kb` keeps changing.
struct ChurnArea {
    start: usize,
    pages: usize,
    page: usize,
}

impl ChurnArea {
    /// Re-maps and re-protects pseudo-random page ranges of the area, for ever. Every range
    /// stays inside the area, which this program reserved and hands out to nothing else.
    fn churn(self) -> ! {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
        let mut next = move || {
            // xorshift64: cheap and good enough to spread the ranges.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let protections = [
            libc::PROT_READ | libc::PROT_WRITE,
            libc::PROT_READ,
            libc::PROT_NONE,
        ];
        loop {
            let first = next() % self.pages;
            let count = 1 + next() % (self.pages - first).min(16);
            let addr = (self.start + first * self.page) as *mut libc::c_void;
            let len = count * self.page;
            let prot = protections[next() % protections.len()];
            if next() % 2 == 0 {
                // SAFETY: the range lies inside the churn area (see above).
                unsafe { libc::mprotect(addr, len, prot) };
            } else {
                // SAFETY: as above; MAP_FIXED replaces only pages of the churn area.
                unsafe {
                    libc::mmap(
                        addr,
                        len,
                        prot,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
            }
        }
    }
}

/// `--grow-mb-per-s` and `--sawtooth-mb`: a thread that changes the RSS after `ready`, in one
/// anonymous `rw-p` mapping each (reserved up front with MAP_NORESERVE, so the layout does not
/// change, only the resident pages): the leak touches pages at a steady rate; the sawtooth
/// touches up to its amplitude over a period, then frees it all with MADV_DONTNEED.
fn start_changing_memory(c: &Config, page: usize) -> Result<(), String> {
    const TICK: Duration = Duration::from_millis(10);
    /// The share of each sawtooth period spent at the bottom, all freed.
    const SAW_REST: f64 = 0.25;
    let grow = if c.grow_mb_per_s > 0 {
        mib(c.grow_limit_mb, "--grow-limit-mb")?
    } else {
        0
    };
    let grow_rate = mib(c.grow_mb_per_s, "--grow-mb-per-s")? as f64;
    let saw = mib(c.sawtooth_mb, "--sawtooth-mb")?;
    let map = |len: usize, what: &str| -> Result<usize, String> {
        if len == 0 {
            return Ok(0);
        }
        mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            what,
        )
        .map(|addr| addr as usize)
    };
    let grow_at = map(grow, "--grow-mb-per-s")?;
    let saw_at = map(saw, "--sawtooth-mb")?;
    let period = Duration::from_millis(c.sawtooth_period_ms as u64);
    std::thread::Builder::new()
        .name("wl-memory".into())
        .spawn(move || {
            let started = Instant::now();
            let (mut grown, mut sawn) = (0usize, 0usize);
            let mut cycle = 0u128;
            loop {
                let elapsed = started.elapsed();
                let target = round_up(
                    ((grow_rate * elapsed.as_secs_f64()) as usize).min(grow),
                    page,
                );
                if target > grown {
                    touch_write((grow_at + grown) as *mut u8, target - grown, page);
                    grown = target;
                }
                if saw > 0 {
                    let now_cycle = elapsed.as_millis() / period.as_millis();
                    if now_cycle != cycle {
                        // SAFETY: the range is this program's own private anonymous mapping.
                        unsafe { libc::madvise(saw_at as *mut c_void, saw, libc::MADV_DONTNEED) };
                        cycle = now_cycle;
                        sawn = 0;
                    }
                    let phase = (elapsed.as_millis() % period.as_millis()) as f64
                        / period.as_millis() as f64;
                    // The rest at the bottom makes every trough exact, whatever the load on
                    // this machine does to the timing of the touches and of the samples.
                    let growing = ((phase - SAW_REST) / (1.0 - SAW_REST)).max(0.0);
                    let target = round_up(((saw as f64) * growing) as usize, page).min(saw);
                    if target > sawn {
                        touch_write((saw_at + sawn) as *mut u8, target - sawn, page);
                        sawn = target;
                    }
                }
                std::thread::sleep(TICK);
            }
        })
        .map_err(|e| format!("starting the memory thread: {e}"))?;
    Ok(())
}

fn page_size() -> Result<usize, String> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
        format!(
            "sysconf(_SC_PAGESIZE) failed: {}",
            io::Error::last_os_error()
        )
    })
}

fn check_map_count(c: &Config) -> Result<(), String> {
    const PATH: &str = "/proc/sys/vm/max_map_count";
    let max: usize = match fs::read_to_string(PATH) {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{PATH}: unexpected content {:?}", s.trim()))?,
        Err(e) => {
            eprintln!("workload: warning: cannot read {PATH} ({e}); not checking the VMA limit");
            return Ok(());
        }
    };
    // Block + guards, named chunks + guards, ~4 VMAs per thread (stack, its
    // guard, signal stack, its guard), plus headroom for everything else.
    let needed = c
        .mappings
        .saturating_add(2)
        .saturating_add(c.named_chunks.saturating_mul(2))
        .saturating_add(c.threads.saturating_mul(4))
        .saturating_add(MAP_COUNT_HEADROOM);
    if needed > max {
        return Err(format!(
            "--mappings {} would need about {needed} VMAs ({} for the requested regions \
             plus {MAP_COUNT_HEADROOM} headroom) but vm.max_map_count is {max}; \
             use fewer mappings or raise the limit (sysctl -w vm.max_map_count={needed})",
            c.mappings,
            needed - MAP_COUNT_HEADROOM
        ));
    }
    Ok(())
}

fn kib(n: usize, flag: &str) -> Result<usize, String> {
    n.checked_mul(1024)
        .ok_or_else(|| format!("{flag} {n}: too large"))
}

fn mib(n: usize, flag: &str) -> Result<usize, String> {
    n.checked_mul(1024 * 1024)
        .ok_or_else(|| format!("{flag} {n}: too large"))
}

fn round_up(n: usize, page: usize) -> usize {
    n.div_ceil(page) * page
}

fn range(addr: *mut u8, len: usize) -> String {
    format!("{:#x}-{:#x}", addr as usize, addr as usize + len)
}

fn mmap(
    addr: *mut u8,
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
    fd: libc::c_int,
    what: &str,
) -> Result<*mut u8, String> {
    // SAFETY: callers pass either a null hint or (with MAP_FIXED) a range
    // inside a reservation this program owns and has not handed out.
    let p = unsafe { libc::mmap(addr.cast(), len, prot, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(format!(
            "{what}: mmap of {len} bytes failed: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(p.cast())
}

/// Reserves `len` bytes plus `1 + extra_pages` pages of PROT_NONE address
/// space; callers map their regions over it with MAP_FIXED, and whatever they
/// leave uncovered stays as `---p` guard pages. Returns the base address.
fn reserve(len: usize, page: usize, extra_pages: usize, what: &str) -> Result<*mut u8, String> {
    let total = len
        .checked_add((1 + extra_pages) * page)
        .ok_or_else(|| format!("{what}: size overflows"))?;
    mmap(
        std::ptr::null_mut(),
        total,
        libc::PROT_NONE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        what,
    )
}

fn map_fixed_anon(addr: *mut u8, len: usize, prot: libc::c_int, what: &str) -> Result<(), String> {
    mmap(
        addr,
        len,
        prot,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
        -1,
        what,
    )
    .map(drop)
}

/// Writes one byte in every page of `[addr, addr+len)`.
fn touch_write(addr: *mut u8, len: usize, page: usize) {
    for off in (0..len).step_by(page) {
        // SAFETY: the range is a writable mapping owned by this program.
        unsafe { std::ptr::write_volatile(addr.add(off), 0x5a) };
    }
}

/// Reads one byte in every page of `[addr, addr+len)`.
fn touch_read(addr: *const u8, len: usize, page: usize) {
    let mut sum = 0u8;
    for off in (0..len).step_by(page) {
        // SAFETY: the range is a readable mapping owned by this program.
        sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(addr.add(off)) });
    }
    std::hint::black_box(sum);
}

/// Guard page, then N mappings alternating rw-p / r--p, then a guard page.
fn make_mapping_block(c: &Config, page: usize) -> Result<(usize, usize), String> {
    let len = page
        .checked_mul(c.pages_per_mapping)
        .ok_or("--pages-per-mapping too large")?;
    let total = len
        .checked_mul(c.mappings)
        .ok_or("--mappings * --pages-per-mapping overflows")?;
    let base = reserve(total, page, 1, "--mappings")?;
    // SAFETY: the reservation is total + 2 pages long.
    let start = unsafe { base.add(page) };
    let touch = c.touch_pages * page;
    for i in 0..c.mappings {
        // SAFETY: mapping i lies inside the reservation, after the leading guard.
        let addr = unsafe { start.add(i * len) };
        let rw = i % 2 == 0;
        let prot = if rw {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        map_fixed_anon(addr, len, prot, "--mappings")?;
        if rw {
            touch_write(addr, touch, page);
        }
    }
    Ok((start as usize, start as usize + total))
}

fn make_memfd(kb: usize, page: usize) -> Result<(*mut u8, usize), String> {
    let size = kib(kb, "--memfd-kb")?;
    // SAFETY: the name is a NUL-terminated literal.
    let fd = unsafe { libc::memfd_create(c"workload-memfd".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor we own; File closes it on drop.
    let file = unsafe { <File as std::os::unix::io::FromRawFd>::from_raw_fd(fd) };
    file.set_len(size as u64)
        .map_err(|e| format!("ftruncate(memfd, {size}): {e}"))?;
    let len = round_up(size, page);
    let addr = mmap(
        std::ptr::null_mut(),
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        file.as_raw_fd(),
        "--memfd-kb",
    )?;
    // Only touch pages inside the file (the tail of the last page is fine,
    // a page wholly past EOF would SIGBUS, which round_up rules out).
    touch_write(addr, len, page);
    Ok((addr, len))
}

fn make_sysv(kb: usize, page: usize) -> Result<(*mut u8, usize), String> {
    let size = kib(kb, "--sysv-kb")?;
    // SAFETY: plain syscall wrappers; the segment is removed right after attaching.
    unsafe {
        let id = libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600);
        if id < 0 {
            return Err(format!(
                "shmget({size} bytes): {}",
                io::Error::last_os_error()
            ));
        }
        let addr = libc::shmat(id, std::ptr::null(), 0);
        let attach_err = io::Error::last_os_error();
        // Mark for removal at once: Linux keeps an attached segment usable, and
        // it is destroyed when we detach (at exit), so nothing can leak.
        let rm = libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
        let rm_err = io::Error::last_os_error();
        if addr as isize == -1 {
            return Err(format!("shmat: {attach_err}"));
        }
        if rm < 0 {
            return Err(format!(
                "shmctl(IPC_RMID): {rm_err} (segment id {id} may leak)"
            ));
        }
        let len = round_up(size, page);
        touch_write(addr.cast(), len, page);
        Ok((addr.cast(), len))
    }
}

/// Writes `len` bytes of non-zero data and flushes them to disk, so the page
/// cache pages are clean before they are mapped: otherwise background
/// writeback could turn Private_Dirty into Private_Clean after `ready`.
fn write_synced(mut file: &File, len: usize) -> io::Result<()> {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
    file.write_all(&data)?;
    file.sync_all()
}

/// Maps `file` read-only and private, reads every page.
fn map_file_readonly(file: &File, len: usize, page: usize, what: &str) -> Result<*mut u8, String> {
    let addr = mmap(
        std::ptr::null_mut(),
        len,
        libc::PROT_READ,
        libc::MAP_PRIVATE,
        file.as_raw_fd(),
        what,
    )?;
    touch_read(addr, len, page);
    Ok(addr)
}

fn make_deleted_file(kb: usize, page: usize) -> Result<(*mut u8, usize, PathBuf), String> {
    let size = kib(kb, "--deleted-file-kb")?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!(
        "memanalyzer-workload-{}-{nanos}.deleted",
        std::process::id()
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mapped = (|| {
        write_synced(&file, size).map_err(|e| format!("writing {}: {e}", path.display()))?;
        map_file_readonly(&file, size, page, "--deleted-file-kb")
    })();
    // Unlink whether or not mapping worked; the mapping keeps the inode alive.
    let unlinked = fs::remove_file(&path).map_err(|e| format!("unlinking {}: {e}", path.display()));
    let addr = mapped?;
    unlinked?;
    Ok((addr, round_up(size, page), path))
}

fn make_named_file(
    path: &Path,
    page: usize,
    cleanup: &mut Cleanup,
) -> Result<(*mut u8, usize), String> {
    // A file left behind by a killed run (SIGKILL skips the cleanup) is reused,
    // but only if it is a regular file: never follow a symlink, never open a FIFO.
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(format!("{path:?} exists and is not a regular file"));
        }
        _ => {}
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("creating {path:?}: {e}"))?;
    cleanup.files.push(path.to_path_buf());
    write_synced(&file, FILE_NAME_BYTES).map_err(|e| format!("writing {path:?}: {e}"))?;
    let len = round_up(FILE_NAME_BYTES, page);
    let addr = map_file_readonly(&file, len, page, "--file-name")?;
    Ok((addr, len))
}

/// Starts `n` threads that park forever and waits until all of them sleep.
fn start_idle_threads(n: usize) -> Result<(), String> {
    let barrier = Arc::new(Barrier::new(n + 1));
    for i in 0..n {
        let barrier = Arc::clone(&barrier);
        std::thread::Builder::new()
            .name(format!("wl-idle-{i}"))
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                barrier.wait();
                drop(barrier);
                loop {
                    std::thread::park();
                }
            })
            .map_err(|e| format!("spawning thread {i}: {e}"))?;
    }
    barrier.wait();
    drop(barrier);
    wait_until_threads_sleep(n);
    Ok(())
}

/// Polls /proc/self/task until every thread except this one is sleeping
/// (state S) twice in a row, so that nothing runs (or faults) after `ready`.
fn wait_until_threads_sleep(n: usize) {
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut calm_polls = 0;
    while calm_polls < 2 {
        if Instant::now() > deadline {
            eprintln!("workload: warning: idle threads did not all go to sleep within 5 s");
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
        let mut sleeping = 0;
        if let Ok(dir) = fs::read_dir("/proc/self/task") {
            for entry in dir.flatten() {
                if entry.file_name().as_bytes() == me.as_bytes() {
                    continue;
                }
                let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                let state = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next());
                if state == Some('S') {
                    sleeping += 1;
                }
            }
        }
        calm_polls = if sleeping >= n { calm_polls + 1 } else { 0 };
    }
}

// ---------------------------------------------------------------------------
// After setup: no allocation, no new page faults.

fn write_all_fd(fd: libc::c_int, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Prints `ready pid=<PID>` with one write(2) from a stack buffer.
fn announce_ready() -> Result<(), String> {
    let mut buf = [0u8; 64];
    let mut cursor = io::Cursor::new(&mut buf[..]);
    writeln!(cursor, "ready pid={}", std::process::id())
        .expect("64 bytes are enough for the ready line");
    let n = cursor.position() as usize;
    write_all_fd(libc::STDOUT_FILENO, &buf[..n]).map_err(|e| format!("writing to stdout: {e}"))
}

/// What the line on stdin asked for.
enum Request {
    /// EOF or `exit`.
    Exit,
    /// `exec`: run again in this process.
    Exec,
}

/// Blocks until stdin reaches EOF or delivers a line `exit` or `exec`, using only the stack.
fn wait_for_exit() -> io::Result<Request> {
    let mut buf = [0u8; 512];
    let mut line = [0u8; 8];
    let mut len = 0usize;
    let mut too_long = false;
    loop {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(Request::Exit);
        }
        for &b in &buf[..n as usize] {
            if b == b'\n' {
                let l = &line[..len];
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                if !too_long && l == b"exit" {
                    return Ok(Request::Exit);
                }
                if !too_long && l == b"exec" {
                    return Ok(Request::Exec);
                }
                len = 0;
                too_long = false;
            } else if len < line.len() {
                line[len] = b;
                len += 1;
            } else {
                too_long = true;
            }
        }
    }
}
