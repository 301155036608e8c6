//! A stage's own request (http plans): method, path, headers, body or body_file, with
//! `{payload:N}` in a body standing for N filler bytes (`{payload:1MB}`). Pure: parsing and the
//! checks; the body is a template of the one engine (`proto::template`), rendered once when the
//! request is encoded (`RequestTemplate::encode_fixed`) into the run's shared buffer, so a 1 MB
//! body is one buffer that every send of every connection slices, never a copy.

/// The checks of a plan or of one named request (`expect_status`, `expect_body`,
/// `expect_header`: the `--expect-*` flags); a request's own replace the plan's, kind by kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checks {
    pub status: Option<String>,
    pub body: Vec<String>,
    pub header: Vec<String>,
}

impl Checks {
    pub fn new(status: Option<String>, body: Option<Texts>, header: Option<Texts>) -> Checks {
        Checks { status, body: body.map_or_else(Vec::new, Texts::list), header: header.map_or_else(Vec::new, Texts::list) }
    }

    pub fn is_empty(&self) -> bool {
        self == &Checks::default()
    }

    /// As `--expect-*` flags with their values.
    pub fn flags(&self) -> Vec<(String, Vec<String>)> {
        let status = self.status.iter().map(|s| ("expect-status".to_string(), vec![s.clone()]));
        let body = self.body.iter().map(|b| ("expect-body".to_string(), vec![b.clone()]));
        status.chain(body).chain(self.header.iter().map(|h| ("expect-header".to_string(), vec![h.clone()]))).collect()
    }
}

/// A text or a list of texts (`expect_body = "ok"` or `["a", "b"]`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum Texts {
    One(String),
    Many(Vec<String>),
}

impl Texts {
    fn list(self) -> Vec<String> {
        match self {
            Texts::One(s) => vec![s],
            Texts::Many(v) => v,
        }
    }
}

/// What a stage changes of the plan's request (unset: the plan's own).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageRequest {
    pub method: Option<String>,
    /// Starts with `/`: joined with the plan's origin.
    pub path: Option<String>,
    /// Added to the plan's headers.
    pub headers: Vec<String>,
    pub body: Option<String>,
    pub body_file: Option<String>,
}

/// Largest `{payload:N}`.
pub const MAX_PAYLOAD: u64 = 64 << 20;

impl StageRequest {
    /// Checks a stage's fields; `None` when the stage changes nothing.
    pub fn new(
        method: Option<String>,
        path: Option<String>,
        headers: Vec<String>,
        body: Option<String>,
        body_file: Option<String>,
    ) -> Result<Option<StageRequest>, (&'static str, String)> {
        if let Some(m) = &method {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(("method", format!("'{m}' is not a method (GET, POST, PUT...)")));
            }
            if m == "HEAD" {
                return Err(("method", "HEAD answers carry no body: set method = \"HEAD\" for the whole plan in [options]".into()));
            }
        }
        if path.as_ref().is_some_and(|p| !p.starts_with('/')) {
            return Err(("path", "must start with /".into()));
        }
        if body.is_some() && body_file.is_some() {
            return Err(("body", "give body or body_file, not both".into()));
        }
        if let Some(b) = &body {
            check_fixed(b).map_err(|e| ("body", e))?;
        }
        let r = StageRequest { method, path, headers, body, body_file };
        Ok((r != StageRequest::default()).then_some(r))
    }
}

/// Checks a raw stage's own `message`: a template (`proto::template`) that renders the same
/// every time (literals and `{payload:N}`), so that it is framed once into the shared buffer.
pub fn check_message(message: &str) -> Result<(), String> {
    if message.is_empty() {
        return Err("is empty".into());
    }
    check_fixed(message).map_err(|e| format!("a stage's message {e}"))
}

/// A stage's body or message: a template (`proto::template`, the one engine) that renders the
/// same every time, at most [`MAX_PAYLOAD`] bytes once rendered.
fn check_fixed(text: &str) -> Result<(), String> {
    let t = crate::proto::template::Template::parse(text.as_bytes(), &[]).map_err(|e| e.to_string())?;
    if !t.is_fixed() {
        return Err("is rendered once: it may hold {payload:N} but no per-request placeholder ({seq}, {conn}, {rand:A:B}, {uuid})".into());
    }
    if t.max_len() as u64 > MAX_PAYLOAD {
        return Err(format!("at most {MAX_PAYLOAD} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_bodies_and_messages_are_fixed_templates() {
        for ok in ["{payload:3}", "{\"d\":\"{payload:2}\",\"e\":\"{payload:1}\"}", "{payload:1MB}", "{payload:1MiB}", "plain {x}"] {
            assert!(StageRequest::new(None, None, vec![], Some(ok.into()), None).is_ok(), "{ok}");
            assert_eq!(check_message(ok), Ok(()), "{ok}");
        }
        for bad in ["{payload:lots}", "{payload:1GB}", "{payload:65MiB}", "n={seq}", "{uuid}"] {
            assert!(StageRequest::new(None, None, vec![], Some(bad.into()), None).is_err(), "{bad}");
            assert!(check_message(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stage_requests_are_checked() {
        assert_eq!(StageRequest::new(None, None, vec![], None, None), Ok(None));
        let r = StageRequest::new(Some("POST".into()), Some("/echo".into()), vec![], Some("{payload:4}".into()), None).unwrap();
        assert_eq!(r.unwrap().method.as_deref(), Some("POST"));
        assert_eq!(StageRequest::new(None, Some("echo".into()), vec![], None, None).unwrap_err().0, "path");
        assert_eq!(StageRequest::new(Some("HEAD".into()), None, vec![], None, None).unwrap_err().0, "method");
        assert_eq!(StageRequest::new(Some("post".into()), None, vec![], None, None).unwrap_err().0, "method");
        assert_eq!(StageRequest::new(None, None, vec![], Some("a".into()), Some("f".into())).unwrap_err().0, "body");
    }
}
