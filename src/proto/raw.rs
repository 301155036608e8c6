//! Framing of raw request/response protocols (JSON over a socket, line protocols, binary RPC):
//! a response ends at a delimiter, after a length prefix's count of bytes, or after a fixed
//! size. Pure and push-driven: `feed` says whether the buffered bytes hold a complete response
//! and how long it is; partial input is not an error. Also the request side: a message with
//! placeholders (`{seq}`...), rendered by the template engine and framed anew for every
//! request ([`RawTemplate`]).

use super::template::{Rendered, Rng, Template, Values};

/// How a response is framed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Ends with these bytes (included in the response), e.g. `\n`.
    Delimiter(Vec<u8>),
    /// A length prefix, then that many bytes.
    LengthPrefix(Prefix),
    /// Exactly this many bytes.
    Fixed(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    U16Be,
    U32Be,
    U32Le,
}

impl Prefix {
    pub fn width(self) -> usize {
        match self {
            Prefix::U16Be => 2,
            Prefix::U32Be | Prefix::U32Le => 4,
        }
    }

    fn read(self, b: &[u8]) -> usize {
        match self {
            Prefix::U16Be => u16::from_be_bytes([b[0], b[1]]) as usize,
            Prefix::U32Be => u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
            Prefix::U32Le => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
        }
    }

    /// `n` as this prefix's bytes (for framing a request).
    pub fn encode(self, n: usize) -> Option<Vec<u8>> {
        match self {
            Prefix::U16Be => u16::try_from(n).ok().map(|v| v.to_be_bytes().to_vec()),
            Prefix::U32Be => u32::try_from(n).ok().map(|v| v.to_be_bytes().to_vec()),
            Prefix::U32Le => u32::try_from(n).ok().map(|v| v.to_le_bytes().to_vec()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawError {
    /// The response is longer than the limit (no delimiter within it, or a larger prefix).
    TooLong,
}

/// Where the decoder stands in the buffered bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDecoder {
    framing: Framing,
    max: usize,
    /// Delimiter framing: bytes already searched (a resumed search starts near here).
    scanned: usize,
}

impl RawDecoder {
    /// `max`: the longest response accepted, framing included.
    pub fn new(framing: Framing, max: usize) -> RawDecoder {
        RawDecoder { framing, max: max.max(1), scanned: 0 }
    }

    /// `Ok(Some(n))`: the first `n` bytes of `input` are a complete response (the decoder is
    /// ready for the next); `Ok(None)`: more bytes are needed. `input` must start where the
    /// last complete response ended, and grow between calls until a response completes.
    pub fn feed(&mut self, input: &[u8]) -> Result<Option<usize>, RawError> {
        match &self.framing {
            Framing::Delimiter(d) => {
                // Resume a little before where the last search ended: a delimiter may straddle.
                let from = self.scanned.saturating_sub(d.len().saturating_sub(1)).min(input.len());
                match find(&input[from..], d) {
                    Some(at) if from + at + d.len() <= self.max => {
                        self.scanned = 0;
                        Ok(Some(from + at + d.len()))
                    }
                    Some(_) => Err(RawError::TooLong),
                    None if input.len() >= self.max => Err(RawError::TooLong),
                    None => {
                        self.scanned = input.len();
                        Ok(None)
                    }
                }
            }
            Framing::LengthPrefix(p) => {
                if input.len() < p.width() {
                    return Ok(None);
                }
                let total = p.width().saturating_add(p.read(input));
                if total > self.max {
                    return Err(RawError::TooLong);
                }
                Ok((input.len() >= total).then_some(total))
            }
            Framing::Fixed(n) => {
                if *n > self.max {
                    return Err(RawError::TooLong);
                }
                Ok((input.len() >= *n).then_some(*n))
            }
        }
    }

    /// Forgets a partial response (new connection).
    pub fn reset(&mut self) {
        self.scanned = 0;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request rendered anew for every message through a [`Template`] (`raw --seq`), framed like
/// the fixed messages: the length prefixed, the delimiter appended unless the message ends with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTemplate {
    template: Template,
    prefix: Option<Prefix>,
    /// Appended after the message (the delimiter, unless the message ends with it).
    suffix: Vec<u8>,
}

impl RawTemplate {
    /// Parses `message` as a template (placeholders in `proto::template`). Fails on a malformed
    /// placeholder, or when the longest rendering would not fit the length prefix.
    pub fn new(message: &[u8], framing: &Framing) -> Result<RawTemplate, String> {
        let template = Template::parse(message, &[]).map_err(|e| e.to_string())?;
        let (prefix, suffix) = match framing {
            Framing::Delimiter(d) if !message.ends_with(d) => (None, d.clone()),
            Framing::LengthPrefix(p) => (Some(*p), Vec::new()),
            Framing::Delimiter(_) | Framing::Fixed(_) => (None, Vec::new()),
        };
        if let Some(p) = prefix {
            let longest = template.max_len().saturating_add(suffix.len());
            if p.encode(longest).is_none() {
                return Err(format!("the message with {{seq}} can reach {longest} bytes, too long for its --length-prefix"));
            }
        }
        Ok(RawTemplate { template, prefix, suffix })
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The shortest and longest framed message (prefix and delimiter included).
    pub fn len_bounds(&self) -> (usize, usize) {
        let framing = self.prefix.map_or(0, Prefix::width) + self.suffix.len();
        (self.template.min_len() + framing, self.template.max_len().saturating_add(framing))
    }

    /// Appends one framed message to `out`; `scratch` is the caller's reused render buffer.
    pub fn encode(&self, v: &Values<'_>, rng: &mut Rng, scratch: &mut Rendered, out: &mut Vec<u8>) {
        self.template.render(v, rng, scratch);
        if let Some(p) = self.prefix {
            // Checked at construction: the longest body fits the prefix.
            out.extend_from_slice(&p.encode(scratch.len + self.suffix.len()).unwrap_or_default());
        }
        scratch.write_to(self.template.shared(), out);
        out.extend_from_slice(&self.suffix);
    }
}

/// Parses a delimiter as written on a command line: `\n`, `\r\n`, `\0`, `\xNN` escapes.
pub fn parse_delimiter(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'0' => out.push(0),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = b.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
                    let v = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                    out.push(v.ok_or_else(|| format!("'{s}': \\x needs two hex digits"))?);
                    i += 2;
                }
                _ => return Err(format!("'{s}': unknown escape \\{}", b[i + 1] as char)),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if out.is_empty() {
        return Err("the delimiter is empty".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `step` bytes, collecting complete responses.
    fn frames(framing: Framing, stream: &[u8], step: usize) -> Result<Vec<Vec<u8>>, RawError> {
        let mut d = RawDecoder::new(framing, 64);
        let (mut buf, mut out, mut pos) = (Vec::new(), Vec::new(), 0);
        while pos < stream.len() {
            let end = (pos + step).min(stream.len());
            buf.extend_from_slice(&stream[pos..end]);
            pos = end;
            while let Some(n) = d.feed(&buf)? {
                out.push(buf.drain(..n).collect());
            }
        }
        Ok(out)
    }

    #[test]
    fn every_framing_splits_responses_however_they_arrive() {
        let lines = b"{\"ok\":1}\n{\"ok\":2}\r\n\n";
        let prefixed = [&[0u8, 3][..], b"abc", &[0, 0], &[0, 1], b"z"].concat();
        let le = [&[2u8, 0, 0, 0][..], b"hi"].concat();
        for step in [1, 2, 3, 5, 64] {
            let got = frames(Framing::Delimiter(b"\n".to_vec()), lines, step).unwrap();
            assert_eq!(got, vec![b"{\"ok\":1}\n".to_vec(), b"{\"ok\":2}\r\n".to_vec(), b"\n".to_vec()], "step {step}");
            let got = frames(Framing::Delimiter(b"\r\n".to_vec()), b"a\r\nbb\r\n", step).unwrap();
            assert_eq!(got, vec![b"a\r\n".to_vec(), b"bb\r\n".to_vec()], "step {step}");
            let got = frames(Framing::LengthPrefix(Prefix::U16Be), &prefixed, step).unwrap();
            assert_eq!(got, vec![[&[0u8, 3][..], b"abc"].concat(), vec![0, 0], vec![0, 1, b'z']], "step {step}");
            assert_eq!(frames(Framing::LengthPrefix(Prefix::U32Le), &le, step).unwrap(), vec![le.clone()]);
            assert_eq!(frames(Framing::Fixed(3), b"abcdef", step).unwrap(), vec![b"abc".to_vec(), b"def".to_vec()]);
        }
    }

    #[test]
    fn limits_are_enforced_at_the_first_byte_that_shows_them() {
        let mut d = RawDecoder::new(Framing::Delimiter(b"\n".to_vec()), 4);
        assert_eq!(d.feed(b"abc"), Ok(None));
        assert_eq!(d.feed(b"abcd"), Err(RawError::TooLong));
        let mut d = RawDecoder::new(Framing::LengthPrefix(Prefix::U32Be), 100);
        assert_eq!(d.feed(&[0, 0, 1, 0]), Err(RawError::TooLong), "256 bytes announced");
        assert_eq!(RawDecoder::new(Framing::Fixed(10), 5).feed(b""), Err(RawError::TooLong));
    }

    #[test]
    fn delimiters_parse_escapes() {
        assert_eq!(parse_delimiter("\\n").unwrap(), b"\n");
        assert_eq!(parse_delimiter("\\r\\n").unwrap(), b"\r\n");
        assert_eq!(parse_delimiter("\\x00END").unwrap(), b"\0END");
        assert_eq!(parse_delimiter("|").unwrap(), b"|");
        assert!(parse_delimiter("").is_err());
        assert!(parse_delimiter("\\q").is_err());
        assert!(parse_delimiter("\\xZZ").is_err());
    }

    #[test]
    fn prefixes_encode_what_they_read() {
        for p in [Prefix::U16Be, Prefix::U32Be, Prefix::U32Le] {
            let b = p.encode(300).unwrap();
            assert_eq!(b.len(), p.width());
            assert_eq!(p.read(&b), 300);
        }
        assert_eq!(Prefix::U16Be.encode(70_000), None);
    }

    #[test]
    fn seq_messages_carry_their_number_framed_like_fixed_ones() {
        let enc = |m: &[u8], f: Framing, seq: u64| {
            let mut out = b"old".to_vec();
            let v = Values { seq, ..Values::default() };
            RawTemplate::new(m, &f).unwrap().encode(&v, &mut Rng::new(0), &mut Rendered::default(), &mut out);
            out[3..].to_vec()
        };
        let nl = || Framing::Delimiter(b"\n".to_vec());
        assert_eq!(enc(b"{\"id\":{seq}}", nl(), 42), b"{\"id\":42}\n");
        assert_eq!(enc(b"{seq}-{seq}\n", nl(), 0), b"0-0\n", "the delimiter is not doubled");
        assert_eq!(enc(b"{seq}", nl(), u64::MAX), b"18446744073709551615\n");
        assert_eq!(enc(b"a{seq}", Framing::Fixed(4), 7), b"a7");
        assert_eq!(enc(b"n={seq}", Framing::LengthPrefix(Prefix::U16Be), 12345), b"\0\x07n=12345");
        assert_eq!(enc(b"{seq}", Framing::LengthPrefix(Prefix::U32Le), 9), b"\x01\0\0\x009");
        assert_eq!(enc(b"{seq}{payload:3}", Framing::LengthPrefix(Prefix::U16Be), 9), b"\0\x049abc", "other placeholders too");
        // Each number decodes back as one whole response of the same framing.
        for (f, seq) in [(nl(), 5u64), (Framing::LengthPrefix(Prefix::U16Be), 99_999)] {
            let mut out = Vec::new();
            let m = RawTemplate::new(b"x{seq}y", &f).unwrap();
            m.encode(&Values { seq, ..Values::default() }, &mut Rng::new(0), &mut Rendered::default(), &mut out);
            assert_eq!(RawDecoder::new(f, 64).feed(&out), Ok(Some(out.len())));
        }
        use super::super::template::Kind;
        assert!(!RawTemplate::new(b"no placeholder", &nl()).unwrap().template().uses(Kind::Seq));
        assert!(!RawTemplate::new(b"{se}q", &nl()).unwrap().template().uses(Kind::Seq));
        let long = [vec![b'x'; 65_530], b"{seq}".to_vec()].concat();
        assert!(RawTemplate::new(&long, &Framing::LengthPrefix(Prefix::U16Be)).is_err());
        assert!(RawTemplate::new(&long, &Framing::LengthPrefix(Prefix::U32Be)).is_ok());
        assert!(RawTemplate::new(b"{rand:2:1}", &nl()).unwrap_err().contains("MIN is above MAX"));
        assert_eq!(RawTemplate::new(b"id={seq}", &nl()).unwrap().len_bounds(), (5, 24));
        assert_eq!(RawTemplate::new(b"{seq}", &Framing::LengthPrefix(Prefix::U32Be)).unwrap().len_bounds(), (5, 24));
    }
}
