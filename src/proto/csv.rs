//! CSV (RFC 4180) for template values: the header row names the columns, then one record per
//! line. Fields may be quoted (`"a,b"`, `""` for a quote, line breaks inside quotes); lines end
//! with CRLF or LF; a last line without a line break counts; empty lines are skipped. Every
//! record has as many fields as the header. Rows are stored compactly: one buffer of field
//! bytes and one offset per field.

use std::ops::Range;

/// A parse error with the (1-based) line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for CsvError {}

/// A parsed CSV: the column names and the rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Csv {
    names: Vec<String>,
    /// Every field's bytes, back to back.
    data: Vec<u8>,
    /// `ends[k]`: where field `k` (row-major) ends in `data`.
    ends: Vec<usize>,
}

impl Csv {
    pub fn parse(text: &[u8]) -> Result<Csv, CsvError> {
        let mut p = Parser { text, at: 0, line: 1 };
        let mut data = Vec::new();
        let mut ends = Vec::new();
        let header = loop {
            match p.record(&mut data, &mut ends)? {
                None => return Err(CsvError { line: p.line, message: "no header row (the CSV is empty)".into() }),
                Some(0) => continue,
                Some(n) => break n,
            }
        };
        let mut names = Vec::with_capacity(header);
        let mut from = 0;
        for &end in &ends {
            let name =
                std::str::from_utf8(&data[from..end]).map_err(|_| CsvError { line: 1, message: "a column name is not UTF-8".into() })?;
            if name.is_empty() {
                return Err(CsvError { line: 1, message: format!("column {} has no name", names.len() + 1) });
            }
            if names.iter().any(|n| n == name) {
                return Err(CsvError { line: 1, message: format!("the column name '{name}' appears twice") });
            }
            names.push(name.to_string());
            from = end;
        }
        data.clear();
        ends.clear();
        loop {
            let line = p.line;
            match p.record(&mut data, &mut ends)? {
                None => break,
                Some(0) => continue,
                Some(n) if n == header => {}
                Some(n) => {
                    return Err(CsvError { line, message: format!("{n} fields, the header has {header}") });
                }
            }
        }
        Ok(Csv { names, data, ends })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The number of rows (the header excluded).
    pub fn len(&self) -> usize {
        self.ends.len() / self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn span(&self, k: usize) -> Range<usize> {
        let from = if k == 0 { 0 } else { self.ends[k - 1] };
        from..self.ends[k]
    }

    /// Field `col` of row `row` (panics when out of range, like indexing).
    pub fn field(&self, row: usize, col: usize) -> &[u8] {
        assert!(col < self.names.len());
        &self.data[self.span(row * self.names.len() + col)]
    }

    /// Row `row`'s fields into `out` (cleared first), in column order: the `names` values of
    /// a template render.
    pub fn row<'a>(&'a self, row: usize, out: &mut Vec<&'a [u8]>) {
        out.clear();
        let w = self.names.len();
        out.extend((row * w..row * w + w).map(|k| &self.data[self.span(k)]));
    }

    /// The shortest and longest field of column `col` (`(0, 0)` without rows): a template's
    /// name bounds.
    pub fn width(&self, col: usize) -> (usize, usize) {
        let w = self.names.len();
        let lens = (0..self.len()).map(|r| self.span(r * w + col).len());
        lens.fold(None, |b: Option<(usize, usize)>, l| Some(b.map_or((l, l), |(a, z)| (a.min(l), z.max(l))))).unwrap_or((0, 0))
    }
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    /// Reads one record, appending its fields; `None` at the end of the text, `Some(0)` for an
    /// empty line.
    fn record(&mut self, data: &mut Vec<u8>, ends: &mut Vec<usize>) -> Result<Option<usize>, CsvError> {
        if self.at >= self.text.len() {
            return Ok(None);
        }
        if self.eol() {
            return Ok(Some(0));
        }
        let mut n = 0;
        loop {
            self.field(data)?;
            ends.push(data.len());
            n += 1;
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                None => return Ok(Some(n)),
                Some(_) if self.eol() => return Ok(Some(n)),
                // A field stops only at a comma, a line end or the end; kept as an error, not a panic.
                Some(_) => return Err(self.err("a field ends without a comma or a line end")),
            }
        }
    }

    /// Consumes a line end (CRLF or LF) if one is next.
    fn eol(&mut self) -> bool {
        let len = match self.text.get(self.at..self.at + 2) {
            Some(b"\r\n") => 2,
            _ if self.text.get(self.at) == Some(&b'\n') => 1,
            _ => return false,
        };
        self.at += len;
        self.line += 1;
        true
    }

    fn field(&mut self, data: &mut Vec<u8>) -> Result<(), CsvError> {
        let t = self.text;
        if t.get(self.at) != Some(&b'"') {
            let end = t[self.at..].iter().position(|&b| matches!(b, b',' | b'\n' | b'\r' | b'"'));
            let end = end.map_or(t.len(), |e| self.at + e);
            match t.get(end) {
                Some(b'"') => return Err(self.err("a quote inside an unquoted field (quote the whole field and double it: \"a\"\"b\")")),
                Some(b'\r') if t.get(end + 1) != Some(&b'\n') => return Err(self.err("a carriage return not followed by a line feed")),
                _ => {}
            }
            data.extend_from_slice(&t[self.at..end]);
            self.at = end;
            return Ok(());
        }
        let open = self.line;
        self.at += 1;
        loop {
            let Some(q) = t[self.at..].iter().position(|&b| b == b'"') else {
                return Err(CsvError { line: open, message: "a quoted field is never closed".into() });
            };
            let chunk = &t[self.at..self.at + q];
            self.line += chunk.iter().filter(|&&b| b == b'\n').count();
            data.extend_from_slice(chunk);
            self.at += q + 1;
            if t.get(self.at) == Some(&b'"') {
                data.push(b'"');
                self.at += 1;
                continue;
            }
            return match t.get(self.at) {
                None | Some(b',') | Some(b'\n') => Ok(()),
                Some(b'\r') if t.get(self.at + 1) == Some(&b'\n') => Ok(()),
                Some(_) => Err(self.err("text after a closing quote (double a quote inside a quoted field: \"\")")),
            };
        }
    }

    fn err(&self, message: &str) -> CsvError {
        CsvError { line: self.line, message: message.into() }
    }
}

#[cfg(test)]
#[path = "csv_tests.rs"]
mod tests;
