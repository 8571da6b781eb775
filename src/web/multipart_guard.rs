//! Bounds what the multipart parser would otherwise buffer without limit.
//!
//! multer holds a part's header block in memory until it sees the blank line that ends it, and
//! the bytes before the first boundary until it sees that boundary; neither has a size limit
//! of its own, so one request could make the server hold up to `max_request_bytes` in RAM.
//! [`PartHeaderGuard`] watches the raw body on its way to multer and fails the request as
//! soon as a header block, the preamble or the epilogue grows past [`MAX_HEADER_BLOCK`].
//! Part contents are only searched for the next boundary, with `memchr`'s SIMD search.

use memchr::memmem;

/// Largest header block of one part (or preamble, or epilogue), in bytes.
pub(crate) const MAX_HEADER_BLOCK: usize = 16 * 1024;

/// Tracks where the body is: inside a part's content, or inside a header block.
pub(crate) struct PartHeaderGuard {
    /// `\r\n--boundary`: what ends a part's content.
    delimiter: Vec<u8>,
    finder: memmem::Finder<'static>,
    /// The last bytes of content seen, shorter than the delimiter, for a delimiter split
    /// across chunks.
    tail: Vec<u8>,
    /// Before the first delimiter.
    in_preamble: bool,
    /// Inside a header block (after a delimiter, up to its blank line).
    in_header: bool,
    /// Bytes of the current header block, or of the preamble.
    counted: usize,
    /// The last four bytes of the header block, to find its end (`\r\n\r\n`).
    last4: u32,
}

impl PartHeaderGuard {
    /// A guard for a body with this `boundary`.
    pub(crate) fn new(boundary: &str) -> PartHeaderGuard {
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        PartHeaderGuard {
            finder: memmem::Finder::new(&delimiter).into_owned(),
            delimiter,
            // The first delimiter has no line break before it: pretend there was one.
            tail: b"\r\n".to_vec(),
            in_preamble: true,
            in_header: false,
            counted: 0,
            last4: 0,
        }
    }

    /// Takes the next chunk of the body; false once a header block is too long.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut i = 0;
        while i < chunk.len() {
            if self.in_header {
                // Header blocks are small: byte by byte is fine.
                let b = chunk[i];
                i += 1;
                self.counted += 1;
                self.last4 = (self.last4 << 8) | u32::from(b);
                if self.last4 == u32::from_be_bytes(*b"\r\n\r\n") {
                    self.in_header = false;
                    self.counted = 0;
                    self.tail.clear();
                } else if self.counted > MAX_HEADER_BLOCK {
                    return false;
                }
                continue;
            }
            let rest = &chunk[i..];
            let Some(end) = self.find_delimiter(rest) else {
                self.keep_tail(rest);
                if self.in_preamble {
                    self.counted += rest.len();
                    return self.counted <= MAX_HEADER_BLOCK;
                }
                return true;
            };
            i += end;
            if self.in_preamble {
                self.counted += end.saturating_sub(self.delimiter.len());
                if self.counted > MAX_HEADER_BLOCK {
                    return false;
                }
            }
            self.in_preamble = false;
            self.in_header = true;
            self.counted = 0;
            self.last4 = 0;
        }
        true
    }

    /// Where in `data` the delimiter ends, counting one that began in the tail.
    fn find_delimiter(&self, data: &[u8]) -> Option<usize> {
        let need = self.delimiter.len();
        if !self.tail.is_empty() {
            let head = &data[..data.len().min(need - 1)];
            let mut seam = self.tail.clone();
            seam.extend_from_slice(head);
            if let Some(at) = self.finder.find(&seam) {
                let end = at + need;
                if end > self.tail.len() {
                    return Some(end - self.tail.len());
                }
            }
        }
        self.finder.find(data).map(|at| at + need)
    }

    fn keep_tail(&mut self, data: &[u8]) {
        let keep = self.delimiter.len() - 1;
        if data.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - keep..]);
        } else {
            self.tail.extend_from_slice(data);
            if self.tail.len() > keep {
                self.tail.drain(..self.tail.len() - keep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(header_pad: usize, content: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for name in ["csrf_token", "message", "file"] {
            b.extend_from_slice(b"--BOUND\r\nContent-Disposition: form-data; name=\"");
            b.extend_from_slice(name.as_bytes());
            b.extend_from_slice(b"\"\r\n");
            if header_pad > 0 {
                b.extend_from_slice(b"X-Pad: ");
                b.extend(std::iter::repeat_n(b'p', header_pad));
                b.extend_from_slice(b"\r\n");
            }
            b.extend_from_slice(b"\r\n");
            b.extend(std::iter::repeat_n(b'-', content));
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--BOUND--\r\n");
        b
    }

    fn passes(data: &[u8], chunk: usize) -> bool {
        let mut g = PartHeaderGuard::new("BOUND");
        data.chunks(chunk).all(|c| g.feed(c))
    }

    #[test]
    fn normal_forms_pass_at_any_chunking() {
        for chunk in [1, 2, 3, 7, 13, 64, 1000, 1 << 20] {
            assert!(passes(&body(0, 100_000), chunk), "chunk {chunk}");
            assert!(passes(&body(10_000, 10), chunk), "chunk {chunk}");
        }
    }

    #[test]
    fn long_header_blocks_preambles_and_epilogues_fail() {
        for chunk in [1, 5, 4096, 1 << 20] {
            assert!(!passes(&body(20_000, 10), chunk), "header, chunk {chunk}");
            let mut pre = vec![b'x'; 20_000];
            pre.extend_from_slice(&body(0, 10));
            assert!(!passes(&pre, chunk), "preamble, chunk {chunk}");
            let mut post = body(0, 10);
            post.extend(std::iter::repeat_n(b'y', 20_000));
            assert!(!passes(&post, chunk), "epilogue, chunk {chunk}");
        }
        // A header block that never ends.
        let mut never = b"--BOUND\r\nContent-Disposition: form-data; name=\"a\"\r\n".to_vec();
        never.extend(std::iter::repeat_n(b'h', 1 << 20));
        assert!(!passes(&never, 65536));
    }
}
