//! Containers: bounded gzip and zip readers that hand out payload streams.
//!
//! Nothing here trusts a declared size. Every decompressed byte passes through a
//! [`BoundedReader`] that counts against the payload bound and the whole input's bound, so a
//! bomb ends as a typed [`LimitExceeded`] error after at most the bound's worth of work.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

use crate::limits::{LimitKind, Limits};
use crate::warning::{Warning, WarningKind};

/// A bound was hit while reading; travels inside an `io::Error` and is recovered by
/// [`limit_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} exceeds the limit of {max}")]
pub struct LimitExceeded {
    pub kind: LimitKind,
    pub max: u64,
}

impl LimitExceeded {
    fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// Finds a [`LimitExceeded`] inside an I/O error, however deep the decoders wrapped it.
pub fn limit_of(err: &io::Error) -> Option<LimitExceeded> {
    let mut inner: Option<&(dyn std::error::Error + 'static)> = err.get_ref().map(|e| e as _);
    while let Some(e) = inner {
        if let Some(l) = e.downcast_ref::<LimitExceeded>() {
            return Some(*l);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            inner = io.get_ref().map(|e| e as _);
            continue;
        }
        inner = e.source();
    }
    None
}

/// Bytes decompressed so far for one input, shared by every stream opened for it.
#[derive(Debug)]
pub struct Budget {
    used: Cell<u64>,
    max: u64,
    warnings: RefCell<Vec<Warning>>,
}

impl Budget {
    pub fn new(limits: &Limits) -> Self {
        Budget {
            used: Cell::new(0),
            max: limits.max_total_bytes,
            warnings: RefCell::new(Vec::new()),
        }
    }

    /// Container repairs noticed while streaming; taken by the report that was being read.
    pub fn take_warnings(&self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    fn warn(&self, warning: Warning) {
        self.warnings.borrow_mut().push(warning);
    }
}

/// Passes bytes through until the payload bound or the input's budget is reached, then fails.
pub struct BoundedReader<'b, R> {
    inner: R,
    left: u64,
    max: u64,
    kind: LimitKind,
    budget: &'b Budget,
}

impl<'b, R: Read> BoundedReader<'b, R> {
    /// Bounded by the payload limit.
    pub fn new(inner: R, limits: &Limits, budget: &'b Budget) -> Self {
        Self::with_bound(
            inner,
            LimitKind::PayloadBytes,
            limits.max_payload_bytes,
            budget,
        )
    }

    /// Bounded by another limit (e.g. the in-memory bound for payloads read whole).
    pub fn with_bound(inner: R, kind: LimitKind, max: u64, budget: &'b Budget) -> Self {
        BoundedReader {
            inner,
            left: max,
            max,
            kind,
            budget,
        }
    }
}

impl<R: Read> Read for BoundedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Read one byte past the bound so that a payload of exactly the bound still passes.
        let want = buf
            .len()
            .min(self.left.saturating_add(1).min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        let n64 = n as u64;
        if n64 > self.left {
            return Err(LimitExceeded {
                kind: self.kind,
                max: self.max,
            }
            .into_io());
        }
        self.left -= n64;
        let used = self.budget.used.get() + n64;
        if used > self.budget.max {
            return Err(LimitExceeded {
                kind: LimitKind::TotalBytes,
                max: self.budget.max,
            }
            .into_io());
        }
        self.budget.used.set(used);
        Ok(n)
    }
}

/// Reads every member of a gzip stream, and stops quietly (with a warning) at bytes after a
/// member that are not another member: Mimecast appends CRLF (field guide §2.1 item 12), and
/// others pad with zeros.
pub struct GzipMembers<'b, R: BufRead> {
    decoder: Option<GzDecoder<R>>,
    budget: &'b Budget,
    members: usize,
}

impl<'b, R: BufRead> GzipMembers<'b, R> {
    pub fn new(inner: R, budget: &'b Budget) -> Self {
        GzipMembers {
            decoder: Some(GzDecoder::new(inner)),
            budget,
            members: 1,
        }
    }
}

impl<R: BufRead> Read for GzipMembers<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // End of a member: another member follows only if the gzip magic does.
            let Some(decoder) = self.decoder.take() else {
                return Ok(0);
            };
            let mut rest = decoder.into_inner();
            let head = rest.fill_buf()?;
            if head.is_empty() {
                return Ok(0);
            }
            if head.starts_with(&[0x1f, 0x8b]) {
                self.members += 1;
                self.decoder = Some(GzDecoder::new(rest));
                continue;
            }
            let preview = crate::sniff::describe_prefix(head);
            self.budget.warn(Warning::new(
                WarningKind::ContainerRepaired,
                format!(
                    "ignored bytes after gzip member {} (starting {preview})",
                    self.members
                ),
            ));
            return Ok(0);
        }
    }
}

/// Fails a stream that runs longer than a bound without a `<` or without a `>`.
///
/// quick-xml buffers one whole text or tag per event, so a gigabyte of zeros after `<a>` would
/// become a gigabyte of memory. Real reports never carry more than a few KB between brackets.
/// Runs are counted across reads, so the bound holds to within one read's length (64 KiB
/// behind the parser's buffer, far below the default bound of 1 MiB).
pub struct MarkupRunGuard<R> {
    inner: R,
    since_open: usize,
    since_close: usize,
    max: usize,
}

impl<R: Read> MarkupRunGuard<R> {
    pub fn new(inner: R, max: usize) -> Self {
        MarkupRunGuard {
            inner,
            since_open: 0,
            since_close: 0,
            max,
        }
    }
}

impl<R: Read> Read for MarkupRunGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        self.since_open = match memchr::memrchr(b'<', chunk) {
            Some(i) => n - i - 1,
            None => self.since_open + n,
        };
        self.since_close = match memchr::memrchr(b'>', chunk) {
            Some(i) => n - i - 1,
            None => self.since_close + n,
        };
        if self.since_open > self.max || self.since_close > self.max {
            return Err(LimitExceeded {
                kind: LimitKind::XmlToken,
                max: self.max as u64,
            }
            .into_io());
        }
        Ok(n)
    }
}

/// Names of zip entries worth reading: `.xml` and `.json` files, any case, outside
/// `__MACOSX/`. When no entry qualifies, every file entry is tried (its content is sniffed).
pub fn zip_entry_wanted(name: &str, is_dir: bool) -> bool {
    if is_dir || name.ends_with('/') || is_macos_metadata(name) {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".xml") || lower.ends_with(".json")
}

/// Finder metadata that macOS adds to archives: `__MACOSX/…` and `._name` resource forks.
pub fn is_macos_metadata(name: &str) -> bool {
    name.starts_with("__MACOSX/")
        || name.contains("/__MACOSX/")
        || name
            .rsplit('/')
            .next()
            .is_some_and(|base| base.starts_with("._"))
}

/// Reads a whole stream into memory; the stream must already be bounded.
pub fn read_all(reader: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn multi_member_and_trailing_garbage() {
        let limits = Limits::default();
        let budget = Budget::new(&limits);
        let mut input = gz(b"hello ");
        input.extend(gz(b"world"));
        input.extend(b"\r\n");
        let mut r = BoundedReader::new(GzipMembers::new(&input[..], &budget), &limits, &budget);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
        let w = budget.take_warnings();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].message.contains("after gzip member 2"),
            "{}",
            w[0].message
        );
    }

    #[test]
    fn payload_bound_is_exact() {
        let limits = Limits {
            max_payload_bytes: 5,
            ..Limits::default()
        };
        let budget = Budget::new(&limits);
        let mut ok = BoundedReader::new(&b"12345"[..], &limits, &budget);
        assert_eq!(read_all(&mut ok).unwrap(), b"12345");
        let mut over = BoundedReader::new(&b"123456"[..], &limits, &budget);
        let err = read_all(&mut over).unwrap_err();
        assert_eq!(
            limit_of(&err),
            Some(LimitExceeded {
                kind: LimitKind::PayloadBytes,
                max: 5
            })
        );
    }

    /// Reads in 256-byte chunks, as a decoder behind a small buffer would deliver them.
    fn read_in_chunks(r: &mut impl Read) -> io::Result<usize> {
        let mut buf = [0u8; 256];
        let mut total = 0;
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    #[test]
    fn markup_runs_are_bounded() {
        // The bound is exact to within one read; real reads are far shorter than the bound.
        let fits = [b"<a>".as_slice(), &[b'x'; 1000], b"</a>"].concat();
        assert!(read_in_chunks(&mut MarkupRunGuard::new(&fits[..], 1024)).is_ok());
        let text_run = [b"<a>".as_slice(), &[b'x'; 5000], b"</a>"].concat();
        let err = read_in_chunks(&mut MarkupRunGuard::new(&text_run[..], 1024)).unwrap_err();
        assert_eq!(limit_of(&err).map(|l| l.kind), Some(LimitKind::XmlToken));
        let tag_run = [b"<a ".as_slice(), &[b'<'; 5000], b"/>"].concat();
        let err = read_in_chunks(&mut MarkupRunGuard::new(&tag_run[..], 1024)).unwrap_err();
        assert_eq!(limit_of(&err).map(|l| l.kind), Some(LimitKind::XmlToken));
    }

    #[test]
    fn zip_names() {
        assert!(zip_entry_wanted("report.XML", false));
        assert!(zip_entry_wanted("dir/tls.Json", false));
        assert!(!zip_entry_wanted("__MACOSX/._report.xml", false));
        assert!(!zip_entry_wanted("sub/._report.xml", false));
        assert!(!zip_entry_wanted("dir/", true));
        assert!(!zip_entry_wanted("notes.txt", false));
    }
}
