//! The rule table on single regions: which category each kind of name and layout lands in,
//! with and without the runtime facts that conditional rules wait for.

use super::*;
use crate::runtime::{GLIBC, GO, JVM, NODE};
use crate::smaps::parse_header;

/// The category key of a region of `line`, given the facts, with the executable known.
fn category_with(line: &str, around: &Neighbours, facts: &Facts) -> String {
    let classifier = Classifier::new(Some(b"/usr/bin/app"));
    let chain = classifier.classify(&parse_header(line.as_bytes()).unwrap(), around);
    match facts.resolve(classifier.table(), &chain, 0).target {
        Target::Category(def) => def.key.to_string(),
        Target::NamedGroup => "named".to_string(),
    }
}

fn category(line: &str) -> String {
    category_with(line, &Neighbours::default(), &Facts::default())
}

fn go() -> Facts {
    Facts {
        runtimes: vec![GO],
        ..Facts::default()
    }
}

fn glibc() -> Facts {
    Facts {
        runtimes: vec![GLIBC],
        ..Facts::default()
    }
}

/// Neighbours with `line` right below the region.
fn after(line: &str) -> Neighbours {
    Neighbours {
        previous: Some(Neighbour::of(&parse_header(line.as_bytes()).unwrap())),
        ..Neighbours::default()
    }
}

/// Neighbours with `line` right above the region.
fn before(line: &str) -> Neighbours {
    Neighbours {
        next: Some(Neighbour::of(&parse_header(line.as_bytes()).unwrap())),
        ..Neighbours::default()
    }
}

#[test]
fn recognises_kernel_and_runtime_names() {
    let cases = [
        (
            "55a000000000-55a000021000 rw-p 00000000 00:00 0 [heap]",
            "c.heap",
        ),
        (
            "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]",
            "stack",
        ),
        (
            "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack:1234]",
            "stack",
        ),
        (
            "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]",
            "other.kernel",
        ),
        (
            "c000000000-c004000000 rw-p 00000000 00:00 0 [anon: Go: heap]",
            "go.heap",
        ),
        (
            "c004000000-c008000000 ---p 00000000 00:00 0 [anon: Go: heap reservation]",
            "runtime.metadata",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:Go: gc bits]",
            "runtime.metadata",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon: glibc: malloc arena]",
            "c.heap",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon: glibc: pthread stack: 42]",
            "stack",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon: glibc: getrandom states]",
            "runtime.metadata",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:stack_and_tls:77]",
            "stack",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:scudo:primary]",
            "c.heap",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:jemalloc_pg]",
            "jemalloc.heap",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:partition_alloc]",
            "c.heap",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:mimalloc]",
            "mimalloc.heap",
        ),
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:tcmalloc_region_0]",
            "tcmalloc.heap",
        ),
        (
            "7f0000000000-7f0000100000 r--p 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
            "file.libraries",
        ),
        (
            "7f0000000000-7f0000100000 r--p 00000000 08:01 42 /usr/lib/libpython3.11.so.1.0",
            "file.libraries",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(category(line), expected, "{line}");
    }
}

#[test]
fn recognises_named_shared_and_file_memory() {
    let cases = [
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:TNC-3]",
            "named",
        ),
        (
            "7f0000000000-7f0000100000 rw-s 00000000 00:01 9 [anon_shmem:pool]",
            "named",
        ),
        (
            "7f0000000000-7f0000100000 rw-s 00000000 00:01 9 /memfd:buf (deleted)",
            "shm.memfd",
        ),
        (
            "7f0000000000-7f0000100000 rw-s 00000000 00:01 9 /SYSV0000abcd (deleted)",
            "shm.sysv",
        ),
        (
            "7f0000000000-7f0000100000 rw-s 00000000 00:01 9 /dev/shm/ring",
            "shm.posix",
        ),
        (
            "7f0000000000-7f0000100000 rw-s 00000000 00:01 9 /dev/zero (deleted)",
            "shm.anonymous",
        ),
        (
            "7f0000000000-7f0000100000 rw-s 00000000 00:05 9 /dev/nvidia0",
            "other.devices",
        ),
        (
            "7f0000000000-7f0000100000 rw-s 00000000 00:0f 9 anon_inode:[io_uring]",
            "other.anon_inode",
        ),
        (
            "7f0000000000-7f0000100000 rw-s 00000000 00:0f 9 /anon_hugepage (deleted)",
            "other.hugepages",
        ),
        (
            "00400000-00401000 r-xp 00000000 08:01 7 /usr/bin/app",
            "file.binary",
        ),
        (
            "7f0000000000-7f0000100000 r-xp 00000000 08:01 7 /lib/libc.so.6",
            "file.libraries",
        ),
        (
            "7f0000000000-7f0000100000 r-xp 00000000 08:01 7 /lib/ld-linux-x86-64.so.2",
            "file.libraries",
        ),
        (
            "7f0000000000-7f0000100000 r--p 00000000 08:01 7 /lib/old.so.1 (deleted)",
            "file.deleted",
        ),
        (
            "7f0000000000-7f0000100000 r--p 00000000 08:01 7 /lib/libc.so.6 (deleted)",
            "file.deleted",
        ),
        (
            "7f0000000000-7f0000100000 r--p 00000000 08:01 7 /usr/share/zoneinfo/UTC",
            "file.other",
        ),
        (
            "7f0000000000-7f0000100000 r--p 00000000 08:01 7 /data/app.json.so.bak",
            "file.other",
        ),
        (
            "7f0000000000-7f0000100000 r--p 00000000 00:00 0 [weird]",
            "other.unrecognized",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(category(line), expected, "{line}");
    }
}

#[test]
fn splits_unnamed_memory_by_permissions() {
    let cases = [
        (
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ",
            "anon.rw",
        ),
        (
            "7f0000000000-7f0000100000 r--p 00000000 00:00 0 ",
            "anon.ro",
        ),
        (
            "7f0000000000-7f0000100000 r-xp 00000000 00:00 0 ",
            "anon.exec",
        ),
        (
            "7f0000000000-7f0000100000 ---p 00000000 00:00 0 ",
            "anon.reserved",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(category(line), expected, "{line}");
    }
}

#[test]
fn go_arenas_are_heap_only_in_a_go_process() {
    for line in [
        "c000000000-c004000000 rw-p 00000000 00:00 0 ",
        "1c000000000-1c004000000 rw-p 00000000 00:00 0 ",
        "c004000000-c004100000 rw-p 00000000 00:00 0 ",
    ] {
        let around = Neighbours::default();
        assert_eq!(category_with(line, &around, &go()), "go.heap", "{line}");
        assert_ne!(
            category_with(line, &around, &Facts::default()),
            "go.heap",
            "{line}"
        );
    }
    // High hint addresses fall among ordinary mmaps: never taken for the Go heap.
    let high = "7fc000000000-7fc000100000 rw-p 00000000 00:00 0 ";
    assert_eq!(
        category_with(high, &Neighbours::default(), &go()),
        "anon.rw"
    );
}

#[test]
fn go_metadata_is_what_go_commits_inside_its_own_reservations() {
    // A page committed at the start of Go's 8 MiB page-summary reservation, and one in the
    // middle of it.
    let island = "7f804d006000-7f804d007000 rw-p 00000000 00:00 0 ";
    let rest = "7f804d007000-7f804d400000 ---p 00000000 00:00 0 ";
    let below = "7f804ac31000-7f804d006000 ---p 00000000 00:00 0 ";
    assert_eq!(
        category_with(island, &before(rest), &go()),
        "runtime.metadata"
    );
    assert_eq!(
        category_with(island, &after(below), &go()),
        "runtime.metadata"
    );
    // Not without Go, not beside a guard page, not beside a 64 MiB reservation (a glibc arena's
    // tail or a Go heap arena's).
    assert_eq!(
        category_with(island, &before(rest), &Facts::default()),
        "anon.rw"
    );
    let guard = "7f804d007000-7f804d008000 ---p 00000000 00:00 0 ";
    assert_eq!(category_with(island, &before(guard), &go()), "anon.rw");
    let arena_tail = "7f804ac31000-7f804c000000 ---p 00000000 00:00 0 ";
    let above_arena = "7f804c000000-7f804c001000 rw-p 00000000 00:00 0 ";
    assert_eq!(
        category_with(above_arena, &after(arena_tail), &go()),
        "anon.rw"
    );
    // The program's own 64 MiB cache, alone: never the runtime's.
    let cache = "7f8021e00000-7f8025e00000 rw-p 00000000 00:00 0 ";
    assert_eq!(
        category_with(cache, &Neighbours::default(), &go()),
        "anon.rw"
    );
}

#[test]
fn large_blocks_only_in_a_process_with_glibc() {
    let block = "7f0000000000-7f0000801000 rw-p 00000000 00:00 0 ";
    assert_eq!(
        category_with(block, &Neighbours::default(), &glibc()),
        "anon.large"
    );
    assert_eq!(
        category_with(block, &Neighbours::default(), &go()),
        "anon.rw"
    );
    // Below glibc's smallest mmap threshold plus a block's header: no such block.
    let small = "7f0000000000-7f0000020000 rw-p 00000000 00:00 0 ";
    assert_eq!(
        category_with(small, &Neighbours::default(), &glibc()),
        "anon.rw"
    );
}

#[test]
fn the_first_arena_signals_go() {
    let classifier = Classifier::new(None);
    let table = classifier.table();
    let signals_go = |line: &str| {
        let chain = classifier.classify(
            &parse_header(line.as_bytes()).unwrap(),
            &Neighbours::default(),
        );
        // Every matching rule's signals count (a V8 page rule is tried before Go's).
        chain
            .rules()
            .iter()
            .any(|&index| table.rule(index).signals.contains(&Signal::Runtime(GO)))
    };
    assert!(signals_go("c000000000-c004000000 rw-p 00000000 00:00 0 "));
    assert!(!signals_go("c004000000-c008000000 rw-p 00000000 00:00 0 "));
    assert!(signals_go(
        "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon: Go: heap]"
    ));
}

#[test]
fn layout_rules_look_at_the_neighbours() {
    let after = |line: &str| Neighbours {
        previous: Some(Neighbour::of(&parse_header(line.as_bytes()).unwrap())),
        ..Neighbours::default()
    };
    let before = |line: &str| Neighbours {
        next: Some(Neighbour::of(&parse_header(line.as_bytes()).unwrap())),
        ..Neighbours::default()
    };
    let none = Facts::default();
    let guard = "7f0000000000-7f0000001000 ---p 00000000 00:00 0 ";
    let stack = "7f0000001000-7f0000801000 rw-p 00000000 00:00 0 ";
    assert_eq!(category_with(stack, &after(guard), &none), "stack");
    let far = "7f0000002000-7f0000801000 rw-p 00000000 00:00 0 ";
    assert_eq!(category_with(far, &after(guard), &none), "anon.rw");
    let fenced = "7f0000001000-7f0004001000 rw-p 00000000 00:00 0 ";
    assert_eq!(category_with(fenced, &after(guard), &none), "anon.rw");
    let tiny = "7f0000001000-7f0000003000 rw-p 00000000 00:00 0 ";
    assert_eq!(category_with(tiny, &after(guard), &none), "anon.rw");

    let arena = "7fcf74000000-7fcf74021000 rw-p 00000000 00:00 0 ";
    let tail = "7fcf74021000-7fcf78000000 ---p 00000000 00:00 0 ";
    assert_eq!(category_with(arena, &before(tail), &glibc()), "c.heap");
    // Only in a process with glibc.
    assert_eq!(category_with(arena, &before(tail), &none), "anon.rw");
    let short = "7fcf74021000-7fcf77000000 ---p 00000000 00:00 0 ";
    // Not an arena; as large as a block malloc maps on its own.
    assert_eq!(category_with(arena, &before(short), &glibc()), "anon.large");
    // A 64 MiB-aligned 64 MiB map without a tail may be the program's own mmap.
    let full = "7fcf74000000-7fcf78000000 rw-p 00000000 00:00 0 ";
    assert_eq!(
        category_with(full, &Neighbours::default(), &glibc()),
        "anon.large"
    );
    // An aligned map at the top of the address space: no arena fits, and no overflow.
    let top = "fffffffffc000000-fffffffffc001000 rw-p 00000000 00:00 0 ";
    let above = "fffffffffc001000-ffffffffffff0000 ---p 00000000 00:00 0 ";
    assert_eq!(category_with(top, &before(above), &glibc()), "anon.rw");
}

#[test]
fn a_saved_files_executable_is_chosen_later() {
    let classifier = Classifier::new(None);
    let chain = classifier.classify(
        &parse_header(b"00400000-00401000 r-xp 00000000 08:01 7 /usr/bin/app").unwrap(),
        &Neighbours::default(),
    );
    let key = |facts: &Facts, subkey| match facts.resolve(classifier.table(), &chain, subkey).target
    {
        Target::Category(def) => def.key,
        Target::NamedGroup => "named",
    };
    let chosen = Facts {
        chosen_executable: Some(3),
        ..Facts::default()
    };
    assert_eq!(key(&chosen, 3), "file.binary");
    assert_eq!(key(&chosen, 4), "file.other");
    assert_eq!(key(&Facts::default(), 3), "file.other");
}

#[test]
fn names_fold_their_numbers_into_one_group() {
    assert_eq!(fold_digits(b"TNC-511"), b"TNC-*");
    assert_eq!(fold_digits(b"cache v2 shard 17"), b"cache v* shard *");
    assert_eq!(
        named_group_source(b"[anon: TXMetaCache]"),
        Some(&b"TXMetaCache"[..])
    );
    assert_eq!(
        named_group_source(b"[anon:TXMetaCache]"),
        Some(&b"TXMetaCache"[..])
    );
    assert_eq!(
        named_group_source(b"[anon_shmem:pool ]"),
        Some(&b"pool"[..])
    );
}

#[test]
fn every_chain_ends_in_a_rule_that_always_holds() {
    let table = RuleTable::get();
    let last = table.rules().last().unwrap();
    assert!(matches!(last.name, NameMatch::Any) && last.when.is_none());
    let stages: Vec<Stage> = table.rules().iter().map(|rule| rule.stage).collect();
    assert!(
        stages.windows(2).all(|pair| pair[0] <= pair[1]),
        "rules in stage order"
    );
}

fn with_runtime(runtime: crate::report::RuntimeId) -> Facts {
    Facts {
        runtimes: vec![runtime],
        ..Facts::default()
    }
}

#[test]
fn the_java_heap_is_where_compressed_oops_put_it_only_in_a_jvm() {
    let jvm = with_runtime(JVM);
    let none = Neighbours::default();
    for line in [
        "c0000000-ffe00000 rw-p 00000000 00:00 0 ", // unscaled: ends at 4 GiB
        "f1800000-100000000 ---p 00000000 00:00 0 ", // its reserved tail
        "700000000-800000000 rw-p 00000000 00:00 0 ", // zero-based: ends at 32 GiB
    ] {
        assert_eq!(category_with(line, &none, &jvm), "jvm.heap", "{line}");
        assert_ne!(category_with(line, &none, &Facts::default()), "jvm.heap");
    }
    for line in [
        "7f22f4200000-7f22f5200000 rw-p 00000000 00:00 0 ", // GC structures among the mmaps
        "40000000-50000000 rw-p 00000000 00:00 0 ",         // below HeapBaseMinAddress
        "800000000-840000000 rw-p 00000000 00:00 0 ",       // at 32 GiB: the CDS archive's place
        "100000000-100010000 rw-p 00000000 00:00 0 ", // class space above a heap ending at 4 GiB
        "100080000-140000000 ---p 00000000 00:00 0 ", // and its reservation
        "c0000000-c1000000 rwxp 00000000 00:00 0 ",
        "c0000000-c1000000 rw-s 00000000 00:01 7 ",
    ] {
        assert_ne!(category_with(line, &none, &jvm), "jvm.heap", "{line}");
    }
    let classes =
        "ffe00000-ffe75000 rw-p 00000000 08:01 9 /usr/lib/jvm/java-17/lib/server/classes.jsa";
    assert_eq!(category_with(classes, &none, &jvm), "jvm.class_data");
    let modules =
        "7f22e8400000-7f22efeb2000 r--s 00000000 08:01 9 /usr/lib/jvm/java-17/lib/modules";
    assert_eq!(category_with(modules, &none, &jvm), "jvm.class_data");
    assert_eq!(
        category_with(modules, &none, &Facts::default()),
        "file.other"
    );
    // ZGC (JDK 17) maps its heap from a memfd three times, one view per pointer colour.
    let zgc = "40000000000-40017a00000 rw-s 00000000 00:01 121 /memfd:java_heap (deleted)";
    assert_eq!(category_with(zgc, &none, &Facts::default()), "jvm.heap");
    let perf = "7f22f8402000-7f22f840a000 rw-s 00000000 00:20 5 /tmp/hsperfdata_root/6079";
    assert_eq!(category_with(perf, &none, &jvm), "jvm.perfdata");
}

#[test]
fn jit_code_and_its_reservation_belong_to_the_runtime() {
    let code = "7f22d9400000-7f22d9670000 rwxp 00000000 00:00 0 ";
    let reserved = "7f22d9670000-7f22e0938000 ---p 00000000 00:00 0 ";
    let none = Neighbours::default();
    assert_eq!(
        category_with(code, &none, &with_runtime(JVM)),
        "jvm.code_cache"
    );
    assert_eq!(
        category_with(reserved, &after(code), &with_runtime(JVM)),
        "jvm.code_cache"
    );
    assert_eq!(category_with(code, &none, &with_runtime(NODE)), "v8.code");
    assert_eq!(category_with(code, &none, &Facts::default()), "anon.exec");
    assert_eq!(
        category_with(reserved, &after(code), &Facts::default()),
        "anon.reserved"
    );
    // Node 18's V8 writes code with the permissions flipped: r-x between writes.
    let flipped = "7f1073203000-7f1073232000 r-xp 00000000 00:00 0 ";
    assert_eq!(
        category_with(flipped, &none, &with_runtime(NODE)),
        "v8.code"
    );
    assert_eq!(
        category_with(flipped, &none, &Facts::default()),
        "anon.exec"
    );
    // A reservation that does not follow executable memory is no code.
    let gap = "7f22e0a00000-7f22e0b00000 ---p 00000000 00:00 0 ";
    assert_eq!(
        category_with(gap, &after(code), &with_runtime(JVM)),
        "anon.reserved"
    );
}

#[test]
fn v8_pages_are_aligned_256_kib_below_64_tib_only_in_node() {
    let node = with_runtime(NODE);
    let none = Neighbours::default();
    let page = "6cafd80000-6cafdc0000 rw-p 00000000 00:00 0 ";
    let run = "3e7aa9840000-3e7aa9940000 rw-p 00000000 00:00 0 ";
    let trimmed = "157539c80000-157539cb8000 rw-p 00000000 00:00 0 ";
    let read_only = "ce886700000-ce88670d000 r--p 00000000 00:00 0 ";
    let released = "46c93940000-46c93980000 ---p 00000000 00:00 0 ";
    for line in [page, run, trimmed, read_only, released] {
        assert_eq!(category_with(line, &none, &node), "v8.heap", "{line}");
        assert_ne!(category_with(line, &none, &Facts::default()), "v8.heap");
    }
    let large = "1f7623340000-1f7623539000 rw-p 00000000 00:00 0 ";
    assert_eq!(category_with(large, &none, &node), "v8.large_objects");
    for line in [
        "7fa6925f3000-7fa694000000 rw-p 00000000 00:00 0 ", // Buffers, malloc'd among the mmaps
        "7fa67c000000-7fa67c05a000 rw-p 00000000 00:00 0 ", // a malloc arena, aligned but high
        "6cafd81000-6cafdc0000 rw-p 00000000 00:00 0 ",     // not at a page boundary
    ] {
        assert_ne!(category_with(line, &none, &node), "v8.heap", "{line}");
    }
    // A non-PIE executable's .bss right after its file mapping is not a V8 page.
    let data = "5600000-5640000 rw-p 0523e000 08:01 9 /usr/bin/node";
    let bss = "5640000-5680000 rw-p 00000000 00:00 0 ";
    assert_eq!(category_with(bss, &after(data), &node), "anon.rw");
}

#[test]
fn metaspace_granules_sit_beside_their_uncommitted_rest() {
    let jvm = with_runtime(JVM);
    let before = |line: &str| Neighbours {
        next: Some(Neighbour::of(&parse_header(line.as_bytes()).unwrap())),
        ..Neighbours::default()
    };
    let committed = "7f2277000000-7f2277030000 rw-p 00000000 00:00 0 ";
    let uncommitted = "7f2277030000-7f2277400000 ---p 00000000 00:00 0 ";
    assert_eq!(
        category_with(committed, &before(uncommitted), &jvm),
        "jvm.metaspace"
    );
    assert_eq!(
        category_with(committed, &before(uncommitted), &Facts::default()),
        "anon.rw"
    );
    let class_space = "7f227c040000-7f227c050000 rw-p 00000000 00:00 0 ";
    let below = "7f227c010000-7f227c040000 ---p 00000000 00:00 0 ";
    assert_eq!(
        category_with(class_space, &after(below), &jvm),
        "jvm.metaspace"
    );
    // A Java thread's stack above its 16 KiB guard zone is not on granule boundaries.
    let guard = "7f2275d00000-7f2275d04000 ---p 00000000 00:00 0 ";
    let stack = "7f2275d04000-7f2275e00000 rw-p 00000000 00:00 0 ";
    assert_eq!(category_with(stack, &after(guard), &jvm), "stack");
    // A glibc malloc arena with its tail stays the C heap (HotSpot runs on glibc).
    let arena = "7f2250000000-7f2250020000 rw-p 00000000 00:00 0 ";
    let tail = "7f2250020000-7f2254000000 ---p 00000000 00:00 0 ";
    let jvm_on_glibc = Facts {
        runtimes: vec![JVM, GLIBC],
        ..Facts::default()
    };
    assert_eq!(category_with(arena, &before(tail), &jvm_on_glibc), "c.heap");
}

#[test]
fn a_webassembly_memory_sits_in_its_10_gib_reservation() {
    let line = |text: &str| Neighbour::of(&parse_header(text.as_bytes()).unwrap());
    let below = line("7fb5f0000000-7fb670000000 ---p 00000000 00:00 0 ");
    let memory = "7fb670000000-7fb673e80000 rw-p 00000000 00:00 0 ";
    let above = line("7fb673e80000-7fb870000000 ---p 00000000 00:00 0 ");
    let around = Neighbours {
        previous: Some(below),
        next: Some(above),
        ..Neighbours::default()
    };
    let node = with_runtime(NODE);
    assert_eq!(category_with(memory, &around, &node), "v8.wasm");
    assert_eq!(category_with(memory, &around, &Facts::default()), "anon.rw");
    let short = Neighbours {
        next: Some(line("7fb673e80000-7fb770000000 ---p 00000000 00:00 0 ")),
        ..around
    };
    assert_eq!(category_with(memory, &short, &node), "anon.rw");
}
