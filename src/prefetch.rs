//! Reads ahead on a second thread, so the kernel's cost of generating `/proc/<pid>/smaps` text
//! (it walks every page table: the expensive part) overlaps with our parsing on another core.
//! Memory stays bounded: a fixed number of fixed-size buffers circulate between the two threads.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

/// Size of each buffer. The kernel returns about 4 KiB of smaps per read, so one buffer
/// collects many reads before it is handed over.
const BUFFER_BYTES: usize = 256 * 1024;
/// Buffers in flight: enough to keep the reader busy while the parser works on one.
const BUFFERS: usize = 4;

/// A filled buffer, or the reader's error. An empty buffer means end of input.
type Filled = io::Result<Vec<u8>>;

/// A `Read` whose data is read ahead by a background thread.
pub struct Prefetch {
    filled: Receiver<Filled>,
    recycle: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
    finished: bool,
    /// Kept to name the thread's lifetime; never joined (see `Drop`).
    reader: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Starts reading `source` on a new thread.
    pub fn new<R: Read + Send + 'static>(source: R) -> io::Result<Prefetch> {
        let (filled_tx, filled) = mpsc::sync_channel::<Filled>(BUFFERS);
        let (recycle, recycle_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        for _ in 0..BUFFERS {
            recycle
                .send(Vec::with_capacity(BUFFER_BYTES))
                .expect("the receiver is alive and the channel has room for every buffer");
        }
        let reader = thread::Builder::new()
            .name("smaps-reader".to_string())
            .spawn(move || read_ahead(source, filled_tx, recycle_rx))?;
        Ok(Prefetch {
            filled,
            recycle,
            current: Vec::new(),
            position: 0,
            finished: false,
            reader: Some(reader),
        })
    }
}

fn read_ahead<R: Read>(mut source: R, filled: SyncSender<Filled>, recycle: Receiver<Vec<u8>>) {
    // Each iteration fills one recycled buffer; the loop ends at end of input, on an error, or
    // when the consumer has gone away (its channels are closed).
    while let Ok(mut buffer) = recycle.recv() {
        buffer.clear();
        buffer.resize(BUFFER_BYTES, 0);
        let mut length = 0;
        let result = loop {
            if length == buffer.len() {
                break Ok(());
            }
            match source.read(&mut buffer[length..]) {
                Ok(0) => break Ok(()),
                Ok(read) => length += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => break Err(error),
            }
        };
        buffer.truncate(length);
        let at_end = length == 0;
        let message = match result {
            Ok(()) => Ok(buffer),
            // Hand over what was read before the error first, then the error.
            Err(error) if length > 0 => {
                if filled.send(Ok(buffer)).is_err() {
                    return;
                }
                Err(error)
            }
            Err(error) => Err(error),
        };
        let stop = at_end || message.is_err();
        if filled.send(message).is_err() || stop {
            return;
        }
    }
}

impl Read for Prefetch {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            if self.finished {
                return Ok(0);
            }
            let next = match self.filled.recv() {
                Ok(next) => next,
                Err(_) => {
                    self.finished = true;
                    return Ok(0);
                }
            };
            let buffer = next.inspect_err(|_| self.finished = true)?;
            if buffer.is_empty() {
                self.finished = true;
            }
            let used = std::mem::replace(&mut self.current, buffer);
            // The reader may already have exited; then the buffer is simply dropped.
            let _ = self.recycle.try_send(used);
            self.position = 0;
        }
        let available = &self.current[self.position..];
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.position += count;
        Ok(count)
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Dropping our ends of both channels makes the reader stop after its current read. It is
        // not joined: a read that blocks must not keep us from exiting.
        let (_, closed_filled) = mpsc::sync_channel(0);
        self.filled = closed_filled;
        let (closed_recycle, _) = mpsc::sync_channel(0);
        self.recycle = closed_recycle;
        drop(self.reader.take());
    }
}

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

    #[test]
    fn delivers_every_byte_in_order() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut prefetch = Prefetch::new(Trickle {
            data: data.clone(),
            position: 0,
        })
        .unwrap();
        let mut copy = Vec::new();
        prefetch.read_to_end(&mut copy).unwrap();
        assert_eq!(copy, data);
    }

    #[test]
    fn passes_on_errors_after_the_data_before_them() {
        struct Failing(bool);
        impl Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    Err(io::Error::other("device went away"))
                } else {
                    out[..3].copy_from_slice(b"abc");
                    Ok(3)
                }
            }
        }
        let mut prefetch = Prefetch::new(Failing(false)).unwrap();
        let mut start = [0u8; 3];
        prefetch.read_exact(&mut start).unwrap();
        assert_eq!(&start, b"abc");
        let error = prefetch.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(error.to_string(), "device went away");
    }

    #[test]
    fn dropping_early_stops_the_reader() {
        let endless = io::repeat(b'x');
        let mut prefetch = Prefetch::new(endless).unwrap();
        let mut some = [0u8; 10];
        prefetch.read_exact(&mut some).unwrap();
        drop(prefetch); // must return: the reader thread notices the closed channel
    }
}
