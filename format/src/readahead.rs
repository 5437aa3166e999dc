//! Read-ahead on another thread: `spawn` reads a source into a few fixed
//! chunks while the caller consumes earlier ones, so stages like hashing,
//! decompressing and writing files overlap, as `zstd -dc | tar -x` overlaps
//! two processes. Memory is bounded: `DEPTH` chunks of `CHUNK` bytes per stage,
//! reused, whatever the size of the source.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

/// Bytes per chunk.
pub const CHUNK: usize = 1 << 20;
/// Chunks per stage: one being filled, the rest queued or being consumed.
pub const DEPTH: usize = 4;

/// A filled chunk: the buffer and how many of its bytes are data.
type Chunk = (Vec<u8>, usize);

/// The consuming end: yields the source's bytes in order, then EOF. EOF also
/// comes early if the producing thread failed; its join handle says why.
pub struct ChunkReader {
    full: Receiver<Chunk>,
    empty: SyncSender<Vec<u8>>,
    current: Option<Chunk>,
    pos: usize,
}

/// Starts a thread in `scope` that reads `source` to its end into a
/// `ChunkReader`. The thread returns `source` at its end, so the caller can
/// finish it (e.g. take a digest), or an error: the source's, or `BrokenPipe`
/// when the reader was dropped first (then the reader's side has the cause).
pub fn spawn<'scope, R>(scope: &'scope Scope<'scope, '_>, source: R) -> (ChunkReader, ScopedJoinHandle<'scope, io::Result<R>>)
where
    R: Read + Send + 'scope,
{
    let (full_tx, full_rx) = sync_channel::<Chunk>(DEPTH);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(DEPTH);
    for _ in 0..DEPTH {
        empty_tx.send(vec![0; CHUNK]).expect("bug: the chunk queue has room for every chunk");
    }
    let handle = scope.spawn(move || pump(source, &full_tx, &empty_rx));
    (ChunkReader { full: full_rx, empty: empty_tx, current: None, pos: 0 }, handle)
}

/// The producing thread: fills free chunks from `source` until its end.
fn pump<R: Read>(mut source: R, full: &SyncSender<Chunk>, empty: &Receiver<Vec<u8>>) -> io::Result<R> {
    loop {
        let Ok(mut buf) = empty.recv() else { return Err(hung_up()) };
        let n = fill(&mut source, &mut buf)?;
        if n == 0 {
            return Ok(source);
        }
        full.send((buf, n)).map_err(|_| hung_up())?;
    }
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn fill(source: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match source.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn hung_up() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the reader stopped early")
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.current.as_ref().is_some_and(|(_, n)| self.pos == *n) {
            let (buf, _) = self.current.take().expect("bug: checked above");
            // The producer may have ended and dropped its side; the buffer is then not needed.
            let _ = self.empty.try_send(buf);
        }
        if self.current.is_none() {
            match self.full.recv() {
                Ok(chunk) => {
                    self.current = Some(chunk);
                    self.pos = 0;
                }
                Err(_) => return Ok(&[]),
            }
        }
        let (buf, n) = self.current.as_ref().expect("bug: set above");
        Ok(&buf[self.pos..*n])
    }

    fn consume(&mut self, amt: usize) {
        self.pos += amt;
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let data = self.fill_buf()?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_every_byte_in_order() {
        let data: Vec<u8> = (0..(3 * CHUNK + 12345)).map(|i| (i % 251) as u8).collect();
        std::thread::scope(|s| {
            let (mut reader, handle) = spawn(s, &data[..]);
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert!(out == data);
            assert!(handle.join().unwrap().unwrap().is_empty());
        });
    }

    #[test]
    fn dropping_the_reader_stops_the_producer() {
        let endless = io::repeat(7);
        std::thread::scope(|s| {
            let (mut reader, handle) = spawn(s, endless);
            let mut first = [0u8; 10];
            reader.read_exact(&mut first).unwrap();
            drop(reader);
            let err = handle.join().unwrap().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        });
    }

    #[test]
    fn a_source_error_ends_the_reader_and_is_returned() {
        #[derive(Debug)]
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
        }
        std::thread::scope(|s| {
            let (mut reader, handle) = spawn(s, Failing(CHUNK + 5));
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert_eq!(out.len(), CHUNK, "the full chunk arrives, the partial one does not");
            assert_eq!(handle.join().unwrap().unwrap_err().to_string(), "disk on fire");
        });
    }
}
