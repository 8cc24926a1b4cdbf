//! Readers for feeding parsers the way pipes and the kernel do: a little at a time.

use std::io::{self, Read};

/// A reader that hands out at most `piece` bytes a call.
pub struct Pieces<'a> {
    data: &'a [u8],
    piece: usize,
}

impl<'a> Pieces<'a> {
    pub fn new(data: &'a [u8], piece: usize) -> Pieces<'a> {
        Pieces { data, piece }
    }
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let take = self.piece.min(out.len()).min(self.data.len());
        out[..take].copy_from_slice(&self.data[..take]);
        self.data = &self.data[take..];
        Ok(take)
    }
}
