//! Reads ahead on a second thread, so the kernel's cost of generating `/proc/<pid>/smaps` text
//! (it walks every page table: the expensive part) overlaps with our parsing on another core.
//! Memory stays bounded: a fixed number of fixed-size buffers circulate between the two threads.
//! Small inputs never start the thread: the first buffer is filled before deciding.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

use crate::smaps::Chunks;

/// Size of each buffer. The kernel returns about 4 KiB of smaps per read, so one buffer
/// collects many reads before it is handed over.
const BUFFER_BYTES: usize = 128 * 1024;
/// Buffers in flight: enough to keep the reader busy while the parser works on one.
const BUFFERS: usize = 4;

/// A buffer and how many of its bytes hold data; `last` marks the end of the input.
struct Chunk {
    buffer: Vec<u8>,
    length: usize,
    last: bool,
}

/// Channels to the reader thread, once it runs.
struct Reader {
    filled: Receiver<io::Result<Chunk>>,
    recycle: SyncSender<Vec<u8>>,
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
    /// Reads the first buffer now; if the input goes on, reads the rest on a new thread.
    pub fn new<R: Read + Send + 'static>(mut source: R) -> io::Result<Prefetch> {
        let mut buffer = new_buffer();
        let (length, last) = fill(&mut source, &mut buffer)?;
        let reader = if last {
            None
        } else {
            Some(Reader::start(source)?)
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
    fn start<R: Read + Send + 'static>(source: R) -> io::Result<Reader> {
        let (filled_tx, filled) = mpsc::sync_channel(BUFFERS);
        let (recycle, recycle_rx) = mpsc::sync_channel(BUFFERS);
        thread::Builder::new()
            .name("smaps-reader".to_string())
            .spawn(move || read_ahead(source, filled_tx, recycle_rx))?;
        Ok(Reader { filled, recycle })
    }
}

fn read_ahead<R: Read>(
    mut source: R,
    filled: SyncSender<io::Result<Chunk>>,
    recycle: Receiver<Vec<u8>>,
) {
    let mut allocated = 1; // the consumer holds the first buffer
    loop {
        // A new buffer while the pool is not complete, else wait for one the parser is done with.
        let mut buffer = match recycle.try_recv() {
            Ok(buffer) => buffer,
            Err(_) if allocated < BUFFERS => {
                allocated += 1;
                new_buffer()
            }
            Err(_) => match recycle.recv() {
                Ok(buffer) => buffer,
                Err(_) => return, // the consumer has gone away
            },
        };
        let message = fill(&mut source, &mut buffer).map(|(length, last)| Chunk {
            buffer,
            length,
            last,
        });
        let stop = message.as_ref().map_or(true, |chunk| chunk.last);
        if filled.send(message).is_err() || stop {
            return;
        }
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
            let _ = reader.recycle.try_send(used.buffer);
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

// Dropping a `Prefetch` drops its ends of both channels, which makes the reader thread stop
// after its current read. The thread is not joined: a read that blocks must not keep us from
// exiting.

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
        let mut prefetch = Prefetch::new(Trickle {
            data: data.to_vec(),
            position: 0,
        })
        .unwrap();
        let mut copy = Vec::new();
        prefetch.read_to_end(&mut copy).unwrap();
        copy
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
        let small = Prefetch::new(io::Cursor::new(vec![1u8; 100])).unwrap();
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
        let error = Prefetch::new(FailsEarly(false))
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
        let mut prefetch = Prefetch::new(Failing(0)).unwrap();
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
        let mut prefetch = Prefetch::new(Endless(dropped_tx)).unwrap();
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
