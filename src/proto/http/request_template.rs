//! A templated HTTP/1.1 request (RFC 9112 §3, §6.2): placeholders in the request target, the
//! header values and the body, rendered per request by the template engine into the caller's
//! buffer. The head is one template (request line and header section, as [`encode_request`]
//! writes it, less the final CRLF); the body another. When the body is fixed its
//! `Content-Length` is part of the head; when it varies, the length is written per request
//! from the rendered body (never guessed), unless the user gave `Content-Length` or
//! `Transfer-Encoding` himself.
//!
//! Pure: values, the RNG and every buffer come from the caller; after the first requests the
//! buffers have their capacity and rendering allocates nothing.

use super::request::{encode_request, RequestSpec};
use crate::proto::template::{Rendered, Rng, Template, TemplateError, Values};

/// What the template of one part of the request says about it, for errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartError {
    /// `URL`, `-H 'Name: value'` or `--body`.
    pub part: String,
    pub error: TemplateError,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Length {
    /// In the head already (fixed body), or the user's own header: nothing to add.
    InHead,
    /// Written per request after the head, from the rendered body's length.
    PerRequest,
}

/// A request whose bytes vary per request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTemplate {
    head: Template,
    body: Template,
    length: Length,
}

impl RequestTemplate {
    /// Parses the path, the header values and the body of `spec` with the extra `names`.
    /// `Ok(None)`: nothing varies (no placeholder but literals and `{payload}`): the request is
    /// encoded once by [`RequestTemplate::encode_fixed`].
    pub fn parse(spec: &RequestSpec, names: &[&str]) -> Result<Option<RequestTemplate>, PartError> {
        let err = |part: String| move |error| PartError { part, error };
        let path = Template::parse(spec.path.as_bytes(), names).map_err(err("URL".into()))?;
        let mut varies = !path.is_fixed();
        for (n, v) in spec.headers {
            varies |= !Template::parse(v.as_bytes(), names).map_err(err(format!("-H '{n}: {v}'")))?.is_fixed();
        }
        let body = Template::parse(spec.body, names).map_err(err("--body".into()))?;
        varies |= !body.is_fixed();
        if !varies {
            return Ok(None);
        }
        let has = |name: &str| spec.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let own_length = has("content-length") || has("transfer-encoding");
        let wants_length = !body.is_literal() || !spec.body.is_empty() || matches!(spec.method, "POST" | "PUT" | "PATCH");
        let length = if body.is_fixed() || own_length || !wants_length { Length::InHead } else { Length::PerRequest };
        // The head as the fixed encoder writes it (less the blank line); with a varying body,
        // without the length, written per request.
        let head = if body.is_fixed() {
            let mut b = Vec::new();
            body.render_to(&Values::default(), &mut Rng::new(0), &mut Rendered::default(), &mut b);
            let mut full = encode_request(&RequestSpec { body: &b, ..*spec });
            full.truncate(full.len() - b.len() - 2);
            full
        } else {
            let mut hs = spec.headers.to_vec();
            if length == Length::PerRequest {
                // A stand-in keeps the encoder from adding a length of its own; cut below.
                hs.push(("Content-Length".into(), String::new()));
            }
            let mut full = encode_request(&RequestSpec { headers: &hs, body: b"", ..*spec });
            full.truncate(full.len() - 2);
            if length == Length::PerRequest {
                full.truncate(full.len() - b"Content-Length: \r\n".len());
            }
            full
        };
        let head = Template::parse(&head, names).map_err(err("the request head".into()))?;
        Ok(Some(RequestTemplate { head, body, length }))
    }

    /// The request of a `spec` in which nothing varies ([`RequestTemplate::parse`] gave `None`),
    /// encoded once: the body rendered through the template engine (`{payload:N}` becomes its
    /// N filler bytes, `{{` a `{`), the path and header values as typed.
    pub fn encode_fixed(spec: &RequestSpec) -> Result<Vec<u8>, PartError> {
        let body = Template::parse(spec.body, &[]).map_err(|error| PartError { part: "--body".into(), error })?;
        if !body.is_fixed() {
            let error = TemplateError(
                "varies per request: a request encoded once may hold {payload:N}, not {seq}, {conn}, {rand:A:B} or {uuid}".into(),
            );
            return Err(PartError { part: "--body".into(), error });
        }
        let mut b = Vec::with_capacity(body.max_len());
        body.render_to(&Values::default(), &mut Rng::new(0), &mut Rendered::default(), &mut b);
        Ok(encode_request(&RequestSpec { body: &b, ..*spec }))
    }

    /// Declares the shortest and longest value of name `i` (the CSV column's, the capture's).
    pub fn bound_name(&mut self, i: usize, min: usize, max: usize) {
        self.head.bound_name(i, min, max);
        self.body.bound_name(i, min, max);
    }

    /// Appends one request to `out`. `scratch` is the caller's reused render buffer.
    pub fn encode(&self, v: &Values<'_>, rng: &mut Rng, scratch: &mut Rendered, out: &mut Vec<u8>) {
        self.head.render_to(v, rng, scratch, out);
        self.body.render(v, rng, scratch);
        if self.length == Length::PerRequest {
            out.extend_from_slice(b"Content-Length: ");
            push_usize(out, scratch.len);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        scratch.write_to(self.body.shared(), out);
    }

    /// The shortest and longest request in bytes (`usize::MAX`: a name without bounds).
    pub fn len_bounds(&self) -> (usize, usize) {
        let extra = match self.length {
            Length::InHead => 2,
            Length::PerRequest => b"Content-Length: 0\r\n\r\n".len(),
        };
        let max_extra = extra + if self.length == Length::PerRequest { 19 } else { 0 };
        let (lo, hi) = (self.head.min_len() + self.body.min_len(), self.head.max_len().saturating_add(self.body.max_len()));
        (lo + extra, hi.saturating_add(max_extra))
    }
}

fn push_usize(out: &mut Vec<u8>, n: usize) {
    crate::proto::template::push_u64(out, n as u64);
}

#[cfg(test)]
#[path = "request_template_tests.rs"]
mod tests;
