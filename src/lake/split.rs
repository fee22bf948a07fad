//! Reads a file of `CloudTrail` records as a stream, record by record, in a window of bounded size:
//! one document (`{"Records":[…]}`, `{"Events":[…]}` or an array) or a sequence of documents
//! (NDJSON, concatenated objects). Each piece is a record of a document's list, or a top-level
//! value. A document cut short keeps the records before the cut; a piece that does not parse is
//! reported and reading resumes at the next line that starts an object. Memory is the window:
//! the largest record plus one read, never the file.

use std::io::Read;

/// How much is read at a time.
const READ: usize = 1 << 20;
/// The largest record read; a longer one stops the file (nothing after it can be found safely).
pub const MAX_PIECE: usize = 64 << 20;

/// What the splitter hands over.
#[derive(Debug)]
pub enum Piece<'a> {
    /// A value: `record` when it is an element of a document's list of records, else a
    /// top-level value (a record, or a document whose list irp finds itself).
    Value { text: &'a [u8], line: u64, record: bool },
    /// Something wrong at `line`.
    Problem { line: u64, message: String },
}

/// Where the splitter is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a list of records; `wrapped` when the list is a value of a top-level object.
    List { wrapped: bool },
    /// After a wrapped list: the rest of its object, skipped.
    Rest,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The stream ended.
    Done,
    /// More than `cap` bytes: reading stopped there.
    Cap,
    /// A read failed (a damaged gzip stream, an I/O error): reading stopped there.
    Failed,
}

/// Splits `src` into pieces for `sink`, reading at most `cap` bytes (and one more, to tell). `sink` answers whether a
/// value parsed (a value that does not makes the splitter resume at the next object line).
/// Returns how the stream ended, the bytes read, and the error of a failed read.
pub fn split(
    mut src: impl Read,
    cap: u64,
    sink: &mut dyn FnMut(Piece<'_>) -> bool,
) -> (End, u64, Option<std::io::Error>) {
    let mut w = Window {
        buf: Vec::with_capacity(READ),
        pos: 0,
        line: 1,
        counted: 0,
        read: 0,
        eof: false,
    };
    let mut mode = Mode::Top;
    let mut rest_depth = 0usize;
    let mut failure = None;
    loop {
        // Enough in the window to find the next piece, or the end.
        match step(&mut w, &mut mode, &mut rest_depth, sink) {
            Step::Again => {}
            Step::More => {
                if w.eof {
                    finish(&mut w, mode, sink);
                    let end = if failure.is_some() { End::Failed } else { End::Done };
                    return (end, w.read, failure);
                }
                if w.buf.len() - w.pos > MAX_PIECE {
                    let line = w.line_at(w.pos);
                    sink(Piece::Problem {
                        line,
                        message: format!(
                            "a record longer than {} MB; the rest of the file was not read",
                            MAX_PIECE >> 20
                        ),
                    });
                    return (End::Done, w.read, None);
                }
                if w.read > cap {
                    return (End::Cap, w.read, None);
                }
                // A failed read ends the stream; what was read before it is still handed over.
                if let Err(e) = w.fill(&mut src, cap) {
                    failure = Some(e);
                }
            }
        }
    }
}

/// The bytes held, the next one to look at, and line numbers.
struct Window {
    buf: Vec<u8>,
    pos: usize,
    /// The line of `counted` (1-based).
    line: u64,
    counted: usize,
    read: u64,
    eof: bool,
}

impl Window {
    /// Drops what was handed over and reads more.
    fn fill(&mut self, src: &mut impl Read, cap: u64) -> std::io::Result<()> {
        self.line_at(self.pos);
        self.buf.drain(..self.pos);
        self.counted -= self.pos;
        self.pos = 0;
        // One byte past the cap, to tell a stream of exactly `cap` bytes from a longer one.
        let want = u64::try_from(READ)
            .unwrap_or(u64::MAX)
            .min(cap.saturating_add(1) - self.read);
        let before = self.buf.len();
        let got = src.take(want).read_to_end(&mut self.buf);
        let n = self.buf.len() - before;
        self.read += n as u64;
        match got {
            Ok(_) if n == 0 => {
                self.eof = true;
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => {
                self.eof = true;
                Err(e)
            }
        }
    }

    /// The line of byte `at` of the window (at or after the last one asked).
    fn line_at(&mut self, at: usize) -> u64 {
        let at = at.min(self.buf.len());
        if at > self.counted {
            self.line += memchr::memchr_iter(b'\n', &self.buf[self.counted..at]).count() as u64;
            self.counted = at;
        }
        self.line
    }
}

enum Step {
    /// Something was handed over or skipped; look again.
    Again,
    /// The window ends before the next piece does.
    More,
}

fn step(
    w: &mut Window,
    mode: &mut Mode,
    rest_depth: &mut usize,
    sink: &mut dyn FnMut(Piece<'_>) -> bool,
) -> Step {
    let list = matches!(mode, Mode::List { .. });
    if *mode == Mode::Rest {
        // The rest of the object that held the list: skipped to its closing brace.
        if let Some(end) = skip_value_rest(&w.buf, w.pos, rest_depth) {
            w.pos = end;
            *mode = Mode::Top;
            return Step::Again;
        }
        w.pos = w.buf.len();
        return Step::More;
    }
    let start = skip_ws(&w.buf, w.pos, list);
    w.pos = start;
    let Some(&first) = w.buf.get(start) else {
        return Step::More;
    };
    if let Mode::List { wrapped } = *mode
        && first == b']'
    {
        w.pos = start + 1;
        *mode = if wrapped { Mode::Rest } else { Mode::Top };
        *rest_depth = 1;
        return Step::Again;
    }
    if *mode == Mode::Top {
        match list_start(&w.buf, start, w.eof) {
            Opening::List { after, wrapped } => {
                w.pos = after;
                *mode = Mode::List { wrapped };
                return Step::Again;
            }
            Opening::NeedMore => return Step::More,
            Opening::No => {}
        }
    }
    let Some(end) = value_end(&w.buf, start) else {
        // Between top-level values (NDJSON), a value still open where a later line starts an
        // object at its first column is a torn line: handed over as it is (to be reported), and
        // reading goes on at that line.
        if *mode == Mode::Top
            && let Some(nl) = memchr::memmem::find(&w.buf[start..], b"\n{")
        {
            let line = w.line_at(start);
            sink(Piece::Value {
                text: &w.buf[start..start + nl],
                line,
                record: false,
            });
            w.pos = start + nl + 1;
            return Step::Again;
        }
        return Step::More;
    };
    let line = w.line_at(start);
    let ok = sink(Piece::Value {
        text: &w.buf[start..end],
        line,
        record: list,
    });
    if ok {
        w.pos = end;
        return Step::Again;
    }
    // Resume at the next line that starts an object, inside what did not parse if it holds one.
    w.pos = next_object_line(&w.buf[..end], start).unwrap_or(end);
    Step::Again
}

/// What is left when the stream ends: a list not closed, a value cut short, or trailing bytes.
fn finish(w: &mut Window, mode: Mode, sink: &mut dyn FnMut(Piece<'_>) -> bool) {
    let list = matches!(mode, Mode::List { .. });
    let start = skip_ws(&w.buf, w.pos, list);
    if start >= w.buf.len() {
        if list {
            let line = w.line_at(w.buf.len().saturating_sub(1));
            sink(Piece::Problem {
                line,
                message:
                    "the file ends inside its list of records (cut short?); the records before were read"
                        .to_owned(),
            });
        }
        return;
    }
    let line = w.line_at(start);
    if mode == Mode::Rest {
        return;
    }
    if list || matches!(w.buf[start], b'{' | b'[') {
        sink(Piece::Problem {
            line,
            message: "the file ends in the middle of this record (cut short?); the records before were read"
                .to_owned(),
        });
        return;
    }
    // A scalar at the very end: handed over whole, to be reported as what it is.
    let text = w.buf[start..].to_vec();
    sink(Piece::Value {
        text: &text,
        line,
        record: false,
    });
}

enum Opening {
    List { after: usize, wrapped: bool },
    NeedMore,
    No,
}

/// Whether the value at `pos` opens a list of records: `[`, or an object whose first key is
/// `Records` or `Events` holding a list.
fn list_start(data: &[u8], pos: usize, eof: bool) -> Opening {
    match data.get(pos) {
        Some(b'[') => Opening::List {
            after: pos + 1,
            wrapped: false,
        },
        Some(b'{') => {
            let p = skip_ws(data, pos + 1, false);
            let rest = &data[p..];
            // Too little read yet to tell.
            if rest.len() < 16 && !eof {
                return Opening::NeedMore;
            }
            let key_len = if rest.starts_with(b"\"Records\"") {
                9
            } else if rest.starts_with(b"\"Events\"") {
                8
            } else {
                return Opening::No;
            };
            let p = skip_ws(data, p + key_len, false);
            if data.get(p) != Some(&b':') {
                return Opening::No;
            }
            let p = skip_ws(data, p + 1, false);
            match data.get(p) {
                Some(b'[') => Opening::List {
                    after: p + 1,
                    wrapped: true,
                },
                None if !eof => Opening::NeedMore,
                _ => Opening::No,
            }
        }
        _ => Opening::No,
    }
}

/// The end of the JSON value starting at `pos` (just after it), when the window holds all of it:
/// brackets matched outside strings. A scalar ends at the next `,`, `]`, `}` or blank.
fn value_end(data: &[u8], pos: usize) -> Option<usize> {
    let first = *data.get(pos)?;
    if first != b'{' && first != b'[' {
        if first == b'"' {
            let end = string_end(data, pos + 1)?;
            return Some(end);
        }
        let len = data[pos..]
            .iter()
            .position(|b| matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace())?;
        return Some(pos + len.max(1));
    }
    let mut depth = 0usize;
    let mut i = pos;
    while i < data.len() {
        match data[i] {
            b'"' => {
                i = string_end(data, i + 1)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Just after the closing quote of a string whose text starts at `pos`.
fn string_end(data: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let q = memchr::memchr2(b'"', b'\\', &data[pos..])? + pos;
        if data[q] == b'\\' {
            pos = q + 2;
            if pos > data.len() {
                return None;
            }
        } else {
            return Some(q + 1);
        }
    }
}

/// Skips the rest of an object whose list was read, `depth` levels deep; just after its `}`.
fn skip_value_rest(data: &[u8], mut pos: usize, depth: &mut usize) -> Option<usize> {
    while pos < data.len() {
        match data[pos] {
            b'"' => {
                pos = string_end(data, pos + 1)?;
                continue;
            }
            b'{' | b'[' => *depth += 1,
            b'}' | b']' => {
                *depth = depth.saturating_sub(1);
                if *depth == 0 {
                    return Some(pos + 1);
                }
            }
            _ => {}
        }
        pos += 1;
    }
    None
}

fn skip_ws(data: &[u8], mut pos: usize, commas: bool) -> usize {
    while let Some(&b) = data.get(pos) {
        if b.is_ascii_whitespace() || (commas && b == b',') {
            pos += 1;
        } else {
            break;
        }
    }
    pos
}

/// The first line after `pos` whose first non-blank character opens an object.
fn next_object_line(data: &[u8], pos: usize) -> Option<usize> {
    let mut p = pos;
    loop {
        let nl = memchr::memchr(b'\n', &data[p..])? + p + 1;
        let start = nl
            + data[nl..]
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\r'))
                .count();
        if data.get(start) == Some(&b'{') {
            return Some(start);
        }
        p = nl;
        if p >= data.len() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{End, Piece, split};

    fn pieces(text: &str, window_cap: u64) -> (Vec<String>, End) {
        let mut out = Vec::new();
        let (end, _, _) = split(text.as_bytes(), window_cap, &mut |p| {
            match p {
                Piece::Value { text, line, record } => {
                    let t = String::from_utf8_lossy(text).into_owned();
                    let ok = serde_json::from_str::<serde_json::Value>(&t).is_ok();
                    out.push(format!("{line}:{}:{t}", if record { "r" } else { "v" }));
                    return ok;
                }
                Piece::Problem { line, message } => out.push(format!("{line}!{message}")),
            }
            true
        });
        (out, end)
    }

    #[test]
    fn documents_lists_and_lines_split_into_records() {
        let (p, end) = pieces(
            "{\"Records\": [{\"a\":\"]}\\\"\"},\n {\"b\":[1,{}]}], \"x\": {\"y\": 1}}\n{\"c\":1}",
            u64::MAX,
        );
        assert_eq!(end, End::Done);
        assert_eq!(
            p,
            ["1:r:{\"a\":\"]}\\\"\"}", "2:r:{\"b\":[1,{}]}", "3:v:{\"c\":1}"]
        );
        let (p, _) = pieces("[{\"a\":1},{\"b\":2}]", u64::MAX);
        assert_eq!(p, ["1:r:{\"a\":1}", "1:r:{\"b\":2}"]);
        // NDJSON with a torn line: reported, and reading resumes at the next object line.
        let (p, _) = pieces("{\"a\":1}\n{\"b\": oops\n{\"c\":3}\n", u64::MAX);
        assert_eq!(p, ["1:v:{\"a\":1}", "2:v:{\"b\": oops", "3:v:{\"c\":3}"]);
        // Cut short inside a record, and inside the list.
        let (p, _) = pieces("{\"Records\": [{\"a\":1}, {\"b\":", u64::MAX);
        assert_eq!(p[0], "1:r:{\"a\":1}");
        assert!(p[1].contains("ends in the middle of this record"), "{p:?}");
        let (p, _) = pieces("{\"Records\": [{\"a\":1},\n", u64::MAX);
        assert!(p[1].contains("ends inside its list of records"), "{p:?}");
        // The cap stops reading.
        let (_, end) = pieces(&" ".repeat(3 << 20), 1 << 20);
        assert_eq!(end, End::Cap);
    }
}
