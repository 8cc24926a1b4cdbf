//! Smaps text written by the tests: one record writer ([`Record`]), the small sample process
//! most command-line tests analyze, and inputs sized for particular units. Large realistic
//! inputs come from [`super::synthetic`] (the benchmark's generator); the differential test has
//! its own generator, whose point is to vary the layout the kernel prints.

use memanalyzer::Amounts;

/// The keys of a record in the order Linux 6.18 prints them; `ProtectionKey` only with memory
/// protection keys.
pub const ORDER_6_18: [&str; 25] = [
    "Size",
    "KernelPageSize",
    "MMUPageSize",
    "Rss",
    "Pss",
    "Pss_Dirty",
    "Shared_Clean",
    "Shared_Dirty",
    "Private_Clean",
    "Private_Dirty",
    "Referenced",
    "Anonymous",
    "KSM",
    "LazyFree",
    "AnonHugePages",
    "ShmemPmdMapped",
    "FilePmdMapped",
    "Shared_Hugetlb",
    "Private_Hugetlb",
    "Swap",
    "SwapPss",
    "Locked",
    "THPeligible",
    "ProtectionKey",
    "VmFlags",
];

/// One smaps record with the fields a 6.x kernel prints, amounts in kB.
#[derive(Clone, Debug)]
pub struct Record {
    pub start: u64,
    pub size_kb: u64,
    pub perms: String,
    pub name: Vec<u8>,
    pub shared_clean: u64,
    pub shared_dirty: u64,
    pub private_clean: u64,
    pub private_dirty: u64,
    pub swap: u64,
    pub private_hugetlb: u64,
    /// The name padded to column 73 as the kernel does; otherwise one space before it.
    pub padded: bool,
}

impl Record {
    /// A record of `size_kb` at `start`, nothing resident.
    pub fn new(start: u64, size_kb: u64, perms: &str, name: impl Into<Vec<u8>>) -> Record {
        Record {
            start,
            size_kb,
            perms: perms.to_string(),
            name: name.into(),
            shared_clean: 0,
            shared_dirty: 0,
            private_clean: 0,
            private_dirty: 0,
            swap: 0,
            private_hugetlb: 0,
            padded: false,
        }
    }

    /// `rss_kb` resident, of which `shared_kb` shared (clean) and the rest private (dirty).
    pub fn resident(mut self, rss_kb: u64, shared_kb: u64) -> Record {
        self.shared_clean = shared_kb;
        self.private_dirty = rss_kb - shared_kb;
        self
    }

    pub fn end(&self) -> u64 {
        self.start + self.size_kb * 1024
    }

    fn rss(&self) -> u64 {
        self.shared_clean + self.shared_dirty + self.private_clean + self.private_dirty
    }

    /// Shared pages are shared with one other process: they count half in PSS.
    fn pss(&self) -> u64 {
        self.private_clean + self.private_dirty + (self.shared_clean + self.shared_dirty) / 2
    }

    /// The record as the kernel prints it.
    pub fn text(&self) -> Vec<u8> {
        let header = format!(
            "{:08x}-{:08x} {} 00000000 00:00 0 ",
            self.start,
            self.end(),
            self.perms
        );
        let mut text = header.clone().into_bytes();
        if self.padded && !self.name.is_empty() {
            text.extend(std::iter::repeat_n(
                b' ',
                73usize.saturating_sub(header.len() + 1),
            ));
        }
        text.extend_from_slice(&self.name);
        let anonymous = if self.name.starts_with(b"/") {
            0
        } else {
            self.private_dirty
        };
        text.extend_from_slice(
            format!(
                "\n\
                 Size:           {size:>8} kB\n\
                 KernelPageSize:        4 kB\n\
                 MMUPageSize:           4 kB\n\
                 Rss:            {rss:>8} kB\n\
                 Pss:            {pss:>8} kB\n\
                 Pss_Dirty:      {pd:>8} kB\n\
                 Shared_Clean:   {sc:>8} kB\n\
                 Shared_Dirty:   {sd:>8} kB\n\
                 Private_Clean:  {pc:>8} kB\n\
                 Private_Dirty:  {pd:>8} kB\n\
                 Referenced:     {rss:>8} kB\n\
                 Anonymous:      {anonymous:>8} kB\n\
                 KSM:                   0 kB\n\
                 LazyFree:              0 kB\n\
                 AnonHugePages:         0 kB\n\
                 ShmemPmdMapped:        0 kB\n\
                 FilePmdMapped:         0 kB\n\
                 Shared_Hugetlb:        0 kB\n\
                 Private_Hugetlb:{hugetlb:>8} kB\n\
                 Swap:           {swap:>8} kB\n\
                 SwapPss:        {swap:>8} kB\n\
                 Locked:                0 kB\n\
                 THPeligible:           0\n\
                 VmFlags: rd mr mw me \n",
                size = self.size_kb,
                rss = self.rss(),
                pss = self.pss(),
                sc = self.shared_clean,
                sd = self.shared_dirty,
                pc = self.private_clean,
                pd = self.private_dirty,
                hugetlb = self.private_hugetlb,
                swap = self.swap,
            )
            .as_bytes(),
        );
        text
    }

    /// What memanalyzer must count for the record, in bytes.
    pub fn amounts(&self) -> Amounts {
        let bytes = |kb: u64| kb * 1024;
        Amounts {
            size: bytes(self.size_kb),
            rss: bytes(self.rss()),
            pss: bytes(self.pss()),
            private: bytes(self.private_clean + self.private_dirty),
            shared: bytes(self.shared_clean + self.shared_dirty),
            swap: bytes(self.swap),
            swap_pss: bytes(self.swap),
            hugetlb: bytes(self.private_hugetlb),
        }
    }
}

/// One record as text: `size_kb` at `start`, `rss_kb` resident of which `shared_kb` shared.
pub fn smaps_record(
    start: u64,
    size_kb: u64,
    perms: &str,
    name: &str,
    rss_kb: u64,
    shared_kb: u64,
) -> String {
    let record = Record::new(start, size_kb, perms, name).resident(rss_kb, shared_kb);
    String::from_utf8(record.text()).expect("a UTF-8 name gives UTF-8 text")
}

/// `(start, size kB, perms, name, rss kB, shared kB)` of [`sample_smaps`], in address order.
pub const SAMPLE_REGIONS: [(u64, u64, &str, &str, u64, u64); 9] = [
    (0x0040_0000, 64, "r-xp", "/usr/bin/sampleapp", 64, 0),
    (0x0041_0000, 8, "rw-p", "/usr/bin/sampleapp", 8, 0),
    (0x0200_0000, 2048, "rw-p", "[heap]", 1536, 0),
    (0x7f00_0000_0000, 8192, "rw-p", "", 6144, 0),
    (
        0x7f00_0080_0000,
        4096,
        "rw-s",
        "/memfd:cache (deleted)",
        4096,
        0,
    ),
    (
        0x7f00_0100_0000,
        1800,
        "r-xp",
        "/usr/lib/libc.so.6",
        1200,
        1100,
    ),
    (
        0x7f00_0200_0000,
        1024,
        "rw-p",
        "[anon:TXMetaCache]",
        1024,
        0,
    ),
    (0x7ffd_0000_0000, 132, "rw-p", "[stack]", 40, 0),
    (0xffff_ffff_ff60_0000, 4, "--xp", "[vsyscall]", 0, 0),
];

/// A small but realistic smaps text: a binary, heap, anonymous memory, memfd, a library, a named
/// region, the stack and `[vsyscall]`.
pub fn sample_smaps() -> String {
    sample_with_extra(None)
}

/// The sample with one more region named `name` before `[vsyscall]`.
pub fn sample_with_name(name: &str) -> String {
    sample_with_extra(Some(name))
}

fn sample_with_extra(extra: Option<&str>) -> String {
    let mut text = String::new();
    for &(start, size, perms, region, rss, shared) in &SAMPLE_REGIONS {
        if let (Some(name), "[vsyscall]") = (extra, region) {
            text.push_str(&smaps_record(0x7ffe_0000_0000, 8, "r--p", name, 8, 0));
        }
        text.push_str(&smaps_record(start, size, perms, region, rss, shared));
    }
    text
}

/// The sum of the sample's RSS, in bytes.
pub fn sample_rss_bytes() -> u64 {
    SAMPLE_REGIONS.iter().map(|r| r.4 * 1024).sum()
}

/// 1.5 GiB + 1323 KiB resident, so that `-unit auto` picks GiB.
pub fn big_smaps() -> String {
    smaps_record(0x7f00_0000_0000, 2 * 1024 * 1024, "rw-p", "", 1_572_987, 0)
        + &smaps_record(
            0x7f01_0000_0000,
            1800,
            "r-xp",
            "/usr/lib/libc.so.6",
            1200,
            1100,
        )
        + &smaps_record(0xffff_ffff_ff60_0000, 4, "--xp", "[vsyscall]", 0, 0)
}

/// 40 KiB resident, so that `-unit auto` picks KiB.
pub fn small_smaps() -> String {
    smaps_record(0x0200_0000, 132, "rw-p", "[heap]", 40, 0)
        + &smaps_record(0xffff_ffff_ff60_0000, 4, "--xp", "[vsyscall]", 0, 0)
}
