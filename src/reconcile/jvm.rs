//! The JVM's own accounting, read-only and without attaching: its PerfData file, which HotSpot
//! keeps at `/tmp/hsperfdata_<user>/<pid as the JVM sees it>` (in the target's mount namespace,
//! reached through `/proc/<pid>/root`), the file jstat reads. Absent with `-XX:-UsePerfData`.

use super::hsperfdata::PerfData;
use super::{Accounting, AccountingRow};
use crate::report::Report;

/// The runtime id whose processes have a PerfData file.
const JVM: &str = "jvm";

/// The JVM's figures beside the report's categories, when the process is a JVM.
pub(crate) fn reconcile_jvm(pid: i32, report: &Report) -> Option<Accounting> {
    if !report
        .runtimes
        .iter()
        .any(|runtime| runtime.id.key() == JVM)
    {
        return None;
    }
    Some(match read_perfdata(pid) {
        Ok((source, data)) => accounting(source, &data, report),
        Err(why) => Accounting {
            runtime: JVM,
            source: Vec::new(),
            rows: Err(why),
            notes: Vec::new(),
            sites: Vec::new(),
        },
    })
}

#[cfg(target_os = "linux")]
fn read_perfdata(pid: i32) -> Result<(Vec<u8>, PerfData), String> {
    use super::hsperfdata::parse_perfdata;
    use crate::input::process::ProcessDir;
    let process = ProcessDir::open(pid)
        .map_err(|errno| format!("cannot open /proc/{pid}: {}", errno.desc()))?;
    let status = process
        .read("status")
        .map_err(|error| format!("cannot read /proc/{pid}/status: {error}"))?;
    let field = |key: &[u8]| -> Option<String> {
        let line = status
            .split(|&b| b == b'\n')
            .find(|line| line.starts_with(key))?;
        std::str::from_utf8(&line[key.len()..])
            .ok()
            .map(str::to_string)
    };
    // The PID in the JVM's own PID namespace names the file; NSpid lists it last.
    let ns_pid = field(b"NSpid:")
        .and_then(|pids| pids.split_whitespace().last().map(str::to_string))
        .unwrap_or_else(|| pid.to_string());
    let uid = field(b"Uid:").and_then(|uids| uids.split_whitespace().nth(1).map(str::to_string));
    // HotSpot names the directory after its effective user, as its own /etc/passwd has it.
    let user = uid.and_then(|uid| {
        let passwd = process.read("root/etc/passwd").ok()?;
        passwd.split(|&b| b == b'\n').find_map(|line| {
            let mut fields = line.split(|&b| b == b':');
            let name = fields.next()?;
            (fields.nth(1)? == uid.as_bytes()).then(|| String::from_utf8_lossy(name).into_owned())
        })
    });
    let mut candidates: Vec<String> = user
        .iter()
        .map(|user| format!("tmp/hsperfdata_{user}/{ns_pid}"))
        .collect();
    if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/root/tmp")) {
        candidates.extend(entries.flatten().filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.starts_with("hsperfdata_")
                .then(|| format!("tmp/{name}/{ns_pid}"))
        }));
    }
    let mut last_error = format!(
        "no PerfData file /tmp/hsperfdata_*/{ns_pid}: the JVM runs with -XX:-UsePerfData, \
         or its /tmp is not reachable through /proc/{pid}/root"
    );
    for candidate in candidates {
        let path = format!("root/{candidate}");
        match process.read(&path) {
            Ok(bytes) => {
                return parse_perfdata(&bytes)
                    .map(|data| (format!("/{candidate}").into_bytes(), data))
                    .map_err(|error| format!("/{candidate}: {error}"));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => last_error = format!("cannot read /{candidate}: {error}"),
        }
    }
    Err(last_error)
}

#[cfg(not(target_os = "linux"))]
fn read_perfdata(_pid: i32) -> Result<(Vec<u8>, PerfData), String> {
    Err("reading a live JVM's PerfData file needs Linux's /proc".to_string())
}

/// The rows the JVM's counters give, beside the categories holding that memory.
pub(crate) fn accounting(source: Vec<u8>, data: &PerfData, report: &Report) -> Accounting {
    let bytes = |value: i64| u64::try_from(value).unwrap_or(0);
    let resident = |key: &'static str| {
        Some((
            key,
            report
                .category(key)
                .map_or(0, |category| category.amounts.rss),
        ))
    };
    let (heap_used, _) = data.sum("sun.gc.generation.*.space.*.used");
    let (heap_committed, generations) = data.sum("sun.gc.generation.*.capacity");
    let mut rows = Vec::new();
    if generations > 0 {
        rows.push(AccountingRow {
            key: "heap.used",
            label: "Java heap, used (objects, live or not yet collected)",
            runtime_bytes: bytes(heap_used),
            resident: None,
            beyond_resident: 0,
        });
        rows.push(AccountingRow {
            key: "heap.committed",
            label: "Java heap, committed",
            runtime_bytes: bytes(heap_committed),
            resident: resident("jvm.heap"),
            beyond_resident: 0,
        });
    }
    let counters = [
        (
            "metaspace.used",
            "Metaspace, used (class space included)",
            "sun.gc.metaspace.used",
            None,
        ),
        (
            "metaspace.committed",
            "Metaspace, committed (class space included)",
            "sun.gc.metaspace.capacity",
            Some("jvm.metaspace"),
        ),
        (
            "class_space.used",
            "Compressed class space, used",
            "sun.gc.compressedclassspace.used",
            None,
        ),
        (
            "class_space.committed",
            "Compressed class space, committed",
            "sun.gc.compressedclassspace.capacity",
            None,
        ),
        (
            "code.compiled",
            "Compiled methods (nmethods)",
            "sun.ci.nmethodSize",
            Some("jvm.code_cache"),
        ),
    ];
    for (key, label, counter, category) in counters {
        if let Some(value) = data.long(counter) {
            rows.push(AccountingRow {
                key,
                label,
                runtime_bytes: bytes(value),
                resident: category.and_then(resident),
                beyond_resident: 0,
            });
        }
    }
    let mut notes = Vec::new();
    if let Some(gc) = data.text("sun.gc.policy.name") {
        notes.push(format!(
            "garbage collector: {}",
            String::from_utf8_lossy(gc)
        ));
    }
    if let Some(heap) = report.category("jvm.heap") {
        let resident = heap.amounts.rss;
        let committed = bytes(heap_committed);
        let used = bytes(heap_used);
        if committed > resident {
            notes.push(format!(
                "{} MiB of the committed heap is not resident: committed but never touched, or \
                 given back to the kernel",
                (committed - resident) >> 20
            ));
        }
        if resident > used {
            notes.push(format!(
                "{} MiB of the resident heap holds no objects: free space the collector keeps \
                 (-XX:MaxHeapFreeRatio or a lower -Xmx makes it keep less)",
                (resident - used) >> 20
            ));
        }
    }
    Accounting {
        runtime: JVM,
        source,
        rows: Ok(rows),
        notes,
        sites: Vec::new(),
    }
}
