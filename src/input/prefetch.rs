//! Reads ahead on a second thread, so the kernel's cost of generating `/proc/<pid>/smaps` text
//! (it walks every page table: the expensive part) overlaps with our parsing on another core.
//! Memory stays bounded: a fixed number of fixed-size buffers circulate between the two threads.
//! Small inputs never start the thread: the first buffer is filled before deciding.
//!
//! For a saved file or standard input, reading is cheap and the parser would be the whole
//! critical path with the aggregation on its thread too: there the reader thread also
//! aggregates ([`Prefetch::aggregate_aside`]), taking the parsed regions in batches
//! (`batch.rs`) between its reads, so that each of the two threads has about half the work.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread;

use super::batch::Batch;
use crate::aggregate::Aggregator;
use crate::smaps::{Chunks, Region};

/// Size of each buffer. The kernel returns about 4 KiB of smaps per read, so one buffer
/// collects many reads before it is handed over.
const BUFFER_BYTES: usize = 128 * 1024;
/// Buffers in flight: enough to keep the reader busy while the parser works on one.
const BUFFERS: usize = 4;
/// Batches of parsed regions in flight: one being filled, one being aggregated, one between.
const BATCHES: usize = 3;

/// What the reader thread does besides reading.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Only reads (a live process: the reading is the critical path).
    Read,
    /// Also aggregates, if handed an aggregator (a saved file or standard input).
    ReadAndAggregate,
}

/// A buffer and how many of its bytes hold data; `last` marks the end of the input.
struct Chunk {
    buffer: Vec<u8>,
    length: usize,
    last: bool,
}

/// What the parsing thread sends the reader thread.
enum ToReader {
    /// A buffer the parser is done with.
    Buffer(Vec<u8>),
    /// The aggregator, to feed the batches to come.
    Aggregator(Box<Aggregator>),
    /// Parsed regions, in order.
    Regions(Batch),
    /// No more regions: the aggregator goes back.
    Finish,
}

/// What the reader thread sends back as it aggregates.
enum FromAggregator {
    /// A batch it has taken, to fill again.
    Emptied(Batch),
    /// The aggregator, every region added.
    Done(Box<Aggregator>),
}

/// Channels to the reader thread, once it runs.
struct Reader {
    filled: Receiver<io::Result<Chunk>>,
    to_reader: SyncSender<ToReader>,
    /// Taken by [`Prefetch::aggregate_aside`].
    from_aggregator: Option<Receiver<FromAggregator>>,
    role: Role,
}

/// A `Read` whose data is read ahead by a background thread when there is much of it.
pub struct Prefetch {
    current: Chunk,
    position: usize,
    reader: Option<Reader>,
}

/// A buffer of zeros. Large allocations come straight from the kernel already zeroed, so no
/// page is touched until data is read into it.
fn new_buffer() -> Vec<u8> {
    vec![0u8; BUFFER_BYTES]
}

/// Reads into `buffer` until it is full or the input ends. Returns the length read and whether
/// the input ended. An error after some data returns the data; the next fill meets the error.
fn fill<R: Read>(source: &mut R, buffer: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut length = 0;
    while length < buffer.len() {
        match source.read(&mut buffer[length..]) {
            Ok(0) => return Ok((length, true)),
            Ok(read) => length += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) if length > 0 => break,
            Err(error) => return Err(error),
        }
    }
    Ok((length, false))
}

impl Prefetch {
    /// Reads the first buffer now; if the input goes on, reads the rest on a new thread, which
    /// takes on `role`.
    pub(crate) fn new<R: Read + Send + 'static>(mut source: R, role: Role) -> io::Result<Prefetch> {
        let mut buffer = new_buffer();
        let (length, last) = fill(&mut source, &mut buffer)?;
        let reader = if last {
            None
        } else {
            Some(Reader::start(source, role)?)
        };
        Ok(Prefetch {
            current: Chunk {
                buffer,
                length,
                last,
            },
            position: 0,
            reader,
        })
    }
}

impl Reader {
    fn start<R: Read + Send + 'static>(source: R, role: Role) -> io::Result<Reader> {
        let (filled_tx, filled) = mpsc::sync_channel(BUFFERS);
        // Room for every buffer and batch there can be, and the end: sends never wait.
        let (to_reader, inbox) = mpsc::sync_channel(BUFFERS + BATCHES + 2);
        let (outbox, from_aggregator) = mpsc::sync_channel(BATCHES + 1);
        thread::Builder::new()
            .name("smaps-reader".to_string())
            .spawn(move || {
                let thread = ReaderThread {
                    filled: filled_tx,
                    inbox,
                    outbox,
                    role,
                    free: Vec::new(),
                    allocated: 1, // the consumer holds the first buffer
                    aggregator: None,
                };
                thread.run(source);
            })?;
        Ok(Reader {
            filled,
            to_reader,
            from_aggregator: Some(from_aggregator),
            role,
        })
    }
}

/// The reader thread's state.
struct ReaderThread {
    filled: SyncSender<io::Result<Chunk>>,
    inbox: Receiver<ToReader>,
    outbox: SyncSender<FromAggregator>,
    role: Role,
    /// Buffers the parser is done with.
    free: Vec<Vec<u8>>,
    allocated: usize,
    aggregator: Option<Box<Aggregator>>,
}

impl ReaderThread {
    fn run<R: Read>(mut self, mut source: R) {
        let mut reading = true;
        loop {
            // Messages first: a batch waiting to be aggregated holds the parser up.
            loop {
                match self.inbox.try_recv() {
                    Ok(message) => {
                        if !self.handle(message) {
                            return;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return, // the consumer has gone away
                }
            }
            if reading {
                // A new buffer while the pool is not complete, else one the parser is done with.
                let buffer = self.free.pop().or_else(|| {
                    (self.allocated < BUFFERS).then(|| {
                        self.allocated += 1;
                        new_buffer()
                    })
                });
                if let Some(mut buffer) = buffer {
                    let message = fill(&mut source, &mut buffer).map(|(length, last)| Chunk {
                        buffer,
                        length,
                        last,
                    });
                    let last = message.as_ref().map_or(true, |chunk| chunk.last);
                    // The parser stops taking chunks at the input's end or at an error; an
                    // aggregator may still want the batches it sent.
                    let parser_gone = self.filled.send(message).is_err();
                    if last || parser_gone {
                        reading = false;
                        if self.role == Role::Read {
                            return;
                        }
                    }
                    continue;
                }
            }
            // Nothing to read into, or nothing left to read: wait for the parser.
            match self.inbox.recv() {
                Ok(message) => {
                    if !self.handle(message) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// Acts on a message from the parser; false once there is nothing more to do.
    fn handle(&mut self, message: ToReader) -> bool {
        match message {
            ToReader::Buffer(buffer) => self.free.push(buffer),
            ToReader::Aggregator(aggregator) => self.aggregator = Some(aggregator),
            ToReader::Regions(mut batch) => {
                if let Some(aggregator) = &mut self.aggregator {
                    batch.for_each(|region| aggregator.add(region));
                }
                batch.clear();
                // Never waits: no more batches exist than the channel holds.
                let _ = self.outbox.try_send(FromAggregator::Emptied(batch));
            }
            ToReader::Finish => {
                if let Some(aggregator) = self.aggregator.take() {
                    let _ = self.outbox.try_send(FromAggregator::Done(aggregator));
                }
                return false;
            }
        }
        true
    }
}

/// The parsing thread's end of an aggregator that runs on the reader thread: regions added here
/// are copied into batches and aggregated there, in order.
pub(crate) struct AggregatorAside {
    to_reader: SyncSender<ToReader>,
    from_aggregator: Receiver<FromAggregator>,
    batch: Batch,
    /// Batches made so far (at most [`BATCHES`]).
    batches: usize,
}

impl AggregatorAside {
    /// Adds a region (see [`Aggregator::add`]).
    pub(crate) fn add(&mut self, region: &Region<'_>) {
        self.batch.push(region);
        if self.batch.is_full() {
            let next = self.empty_batch();
            let full = std::mem::replace(&mut self.batch, next);
            // Fails only if the reader thread has stopped, and then `finish` says so.
            let _ = self.to_reader.try_send(ToReader::Regions(full));
        }
    }

    /// A batch to fill: a new one while there are fewer than [`BATCHES`], else one the reader
    /// thread has aggregated.
    fn empty_batch(&mut self) -> Batch {
        loop {
            match self.from_aggregator.try_recv() {
                Ok(FromAggregator::Emptied(batch)) => return batch,
                Ok(FromAggregator::Done(_)) => {}
                Err(_) if self.batches < BATCHES => {
                    self.batches += 1;
                    return Batch::default();
                }
                Err(TryRecvError::Empty) => match self.from_aggregator.recv() {
                    Ok(FromAggregator::Emptied(batch)) => return batch,
                    Ok(FromAggregator::Done(_)) | Err(_) => return Batch::default(),
                },
                Err(TryRecvError::Disconnected) => return Batch::default(),
            }
        }
    }

    /// The aggregator, once it has taken every region added.
    pub(crate) fn finish(mut self) -> Box<Aggregator> {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            let _ = self.to_reader.try_send(ToReader::Regions(batch));
        }
        let _ = self.to_reader.try_send(ToReader::Finish);
        self.from_aggregator
            .iter()
            .find_map(|message| match message {
                FromAggregator::Done(aggregator) => Some(aggregator),
                FromAggregator::Emptied(_) => None,
            })
            .expect("the reader thread hands the aggregator back unless it panicked (an abort)")
    }
}

impl Prefetch {
    /// Hands `aggregator` to the reader thread, which then aggregates the regions added to the
    /// returned end between its reads. `Err(aggregator)` if no reader thread runs (the input
    /// fitted in the first buffer) or it only reads ([`Role::Read`]).
    pub(crate) fn aggregate_aside(
        &mut self,
        aggregator: Box<Aggregator>,
    ) -> Result<AggregatorAside, Box<Aggregator>> {
        let Some(reader) = self
            .reader
            .as_mut()
            .filter(|reader| reader.role != Role::Read)
        else {
            return Err(aggregator);
        };
        let Some(from_aggregator) = reader.from_aggregator.take() else {
            return Err(aggregator);
        };
        let to_reader = reader.to_reader.clone();
        if let Err(
            mpsc::TrySendError::Full(ToReader::Aggregator(aggregator))
            | mpsc::TrySendError::Disconnected(ToReader::Aggregator(aggregator)),
        ) = to_reader.try_send(ToReader::Aggregator(aggregator))
        {
            return Err(aggregator);
        }
        Ok(AggregatorAside {
            to_reader,
            from_aggregator,
            batch: Batch::default(),
            batches: 1,
        })
    }
}

impl Prefetch {
    /// Makes sure the current chunk has data left, taking the next one when it is used up.
    /// False at the end of the input.
    fn has_data(&mut self) -> io::Result<bool> {
        while self.position == self.current.length {
            if self.current.last {
                return Ok(false);
            }
            let Some(reader) = &self.reader else {
                return Ok(false);
            };
            let next = match reader.filled.recv() {
                Ok(next) => next,
                Err(_) => return Ok(false),
            };
            let next = next.inspect_err(|_| self.current.last = true)?;
            let used = std::mem::replace(&mut self.current, next);
            // The reader may already have finished; then the buffer is simply dropped.
            let _ = reader.to_reader.try_send(ToReader::Buffer(used.buffer));
            self.position = 0;
        }
        Ok(true)
    }
}

impl Read for Prefetch {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.has_data()? {
            return Ok(0);
        }
        let available = &self.current.buffer[self.position..self.current.length];
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.position += count;
        Ok(count)
    }
}

/// The parser takes each buffer where it lies: no copy.
impl Chunks for Prefetch {
    fn next_chunk(&mut self) -> io::Result<&[u8]> {
        if !self.has_data()? {
            return Ok(&[]);
        }
        let available = &self.current.buffer[self.position..self.current.length];
        self.position = self.current.length;
        Ok(available)
    }
}

// Dropping a `Prefetch` (and its `AggregatorAside`, if it has one) drops the parsing thread's
// ends of the channels, which makes the reader thread stop after its current read. The thread is
// not joined: a read that blocks must not keep us from exiting.

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its data a few bytes at a time, like the kernel does.
    struct Trickle {
        data: Vec<u8>,
        position: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let count = out.len().min(4093).min(self.data.len() - self.position);
            out[..count].copy_from_slice(&self.data[self.position..self.position + count]);
            self.position += count;
            Ok(count)
        }
    }

    fn read_through(data: &[u8]) -> Vec<u8> {
        let mut prefetch = Prefetch::new(
            Trickle {
                data: data.to_vec(),
                position: 0,
            },
            Role::Read,
        )
        .unwrap();
        let mut copy = Vec::new();
        prefetch.read_to_end(&mut copy).unwrap();
        copy
    }

    #[test]
    fn only_a_reader_that_may_aggregate_takes_the_aggregator() {
        let aggregator = || Box::new(Aggregator::new(crate::Listing::Top(20), None));
        let big = || io::Cursor::new(vec![b'x'; 3 * BUFFER_BYTES]);
        let mut reads_only = Prefetch::new(big(), Role::Read).unwrap();
        assert!(reads_only.aggregate_aside(aggregator()).is_err());
        let mut small =
            Prefetch::new(io::Cursor::new(vec![1u8; 100]), Role::ReadAndAggregate).unwrap();
        assert!(
            small.aggregate_aside(aggregator()).is_err(),
            "no thread for a small input"
        );
        let mut both = Prefetch::new(big(), Role::ReadAndAggregate).unwrap();
        let aside = both
            .aggregate_aside(aggregator())
            .ok()
            .expect("a reader thread");
        assert!(
            both.aggregate_aside(aggregator()).is_err(),
            "one aggregator at a time"
        );
        drop(both);
        assert_eq!(aside.finish().region_count(), 0);
    }

    #[test]
    fn delivers_every_byte_in_order() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(read_through(&data), data);
    }

    #[test]
    fn small_and_exact_sizes_need_no_thread_or_end_cleanly() {
        for size in [
            0,
            1,
            4096,
            BUFFER_BYTES - 1,
            BUFFER_BYTES,
            BUFFER_BYTES + 1,
            2 * BUFFER_BYTES,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i % 13) as u8).collect();
            assert_eq!(read_through(&data), data, "{size} bytes");
        }
        let small = Prefetch::new(io::Cursor::new(vec![1u8; 100]), Role::Read).unwrap();
        assert!(small.reader.is_none());
    }

    #[test]
    fn passes_on_errors_after_the_data_before_them() {
        // An error within the first buffer must not end the input silently either.
        struct FailsEarly(bool);
        impl Read for FailsEarly {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    return Err(io::Error::other("early failure"));
                }
                out[..3].copy_from_slice(b"abc");
                Ok(3)
            }
        }
        let mut data = Vec::new();
        let error = Prefetch::new(FailsEarly(false), Role::Read)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap_err();
        assert_eq!(error.to_string(), "early failure");

        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                match self.0 {
                    1..=100 => {
                        out[..4096].fill(b'a');
                        Ok(4096)
                    }
                    _ => Err(io::Error::other("device went away")),
                }
            }
        }
        let mut prefetch = Prefetch::new(Failing(0), Role::Read).unwrap();
        let mut data = Vec::new();
        let error = prefetch.read_to_end(&mut data).unwrap_err();
        assert_eq!(error.to_string(), "device went away");
        assert_eq!(data.len(), 100 * 4096);
    }

    #[test]
    fn dropping_early_stops_the_reader() {
        /// Endless input that says when the reader thread lets go of it.
        struct Endless(mpsc::Sender<()>);
        impl Read for Endless {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                out.fill(b'x');
                Ok(out.len())
            }
        }
        impl Drop for Endless {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let (dropped_tx, dropped) = mpsc::channel();
        let mut prefetch = Prefetch::new(Endless(dropped_tx), Role::Read).unwrap();
        assert!(prefetch.reader.is_some(), "endless input starts the reader");
        let mut some = [0u8; 10];
        prefetch.read_exact(&mut some).unwrap();
        assert_eq!(&some, b"xxxxxxxxxx");
        // While the consumer holds both channels the reader cannot finish: it is blocked on a
        // full channel or waiting for a buffer back.
        assert_eq!(dropped.try_recv(), Err(mpsc::TryRecvError::Empty));
        drop(prefetch);
        // The reader notices the closed channels, returns, and drops its source. (The bound only
        // keeps a broken reader from hanging the test.)
        dropped
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the reader thread did not end after the Prefetch was dropped");
    }
}
