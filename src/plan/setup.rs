//! `[[setup]]` tables of a plan: HTTP requests run once before the load, in file order, whose
//! JSON answers are captured by JSON pointer (RFC 6901) into template names for the load
//! (`{token}` in a header, `{group_id}` in a WebSocket message). Pure parsing and validation;
//! errors read "line N: setup K (name).field: problem".
//!
//! ```toml
//! [[setup]]
//! name = "login"
//! method = "POST"                          # default GET
//! url = "http://127.0.0.1:8080/login"      # or path = "/login" (relative to the plan's url)
//! header = ["Content-Type: application/json"]
//! body = '{"user":"u{seq}","password":"x"}'
//! count = 1                                # default 1
//! rate = 50                                # optional, requests/s
//! capture = { token = "/token" }
//! max_failed = 0                           # default 0
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// Most requests one setup may make.
pub const MAX_SETUP_COUNT: u64 = 10_000_000;

/// One `[[setup]]`, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSetup {
    pub name: String,
    pub method: String,
    /// Absolute `http://` or `https://` URL (a path joined with the plan's origin).
    pub url: String,
    pub headers: Vec<String>,
    pub body: Option<String>,
    pub count: u64,
    pub rate: Option<f64>,
    /// (name, JSON pointer), in the file's order.
    pub capture: Vec<(String, String)>,
    pub max_failed: u64,
}

impl PlanSetup {
    /// "POST http://h/login ×1, captures {token}" for `--print` and the banner.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {} {}", self.name, self.method, self.url);
        if self.count != 1 {
            s.push_str(&format!(" x{}", self.count));
        }
        if let Some(r) = self.rate {
            s.push_str(&format!(" at {r}/s"));
        }
        if !self.capture.is_empty() {
            let c: Vec<String> = self.capture.iter().map(|(n, p)| format!("{{{n}}} = {p}")).collect();
            s.push_str(&format!(", capture {}", c.join(", ")));
        }
        s
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSetup {
    name: Spanned<String>,
    method: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default, alias = "headers")]
    header: Vec<String>,
    body: Option<String>,
    count: Option<Spanned<i64>>,
    rate: Option<Spanned<f64>>,
    #[serde(default)]
    capture: BTreeMap<String, Spanned<String>>,
    max_failed: Option<Spanned<i64>>,
}

const BUILTINS: [&str; 7] = ["conn", "room", "seq", "rand", "uuid", "payload", "mark"];

/// Validates the `[[setup]]` tables; `plan_url` is the plan's target (its origin is where a
/// `path` goes; a `ws://` target's origin is reached by `http://`).
pub(super) fn parse_setups(text: &str, raw: &[Spanned<RawSetup>], plan_url: &str) -> Result<Vec<PlanSetup>, String> {
    let at = |span: std::ops::Range<usize>, field: &str, msg: String| format!("line {}: {field}: {msg}", super::line_of(text, span.start));
    let mut out: Vec<PlanSetup> = Vec::new();
    for (i, st) in raw.iter().enumerate() {
        let s = st.get_ref();
        let name = s.name.get_ref().clone();
        let field = |f: &str| format!("setup {} ({name}).{f}", i + 1);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(at(s.name.span(), &field("name"), "use letters, digits, - and _".into()));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(at(s.name.span(), &field("name"), "another setup has this name".into()));
        }
        let url = match (&s.path, &s.url) {
            (Some(_), Some(_)) => return Err(at(st.span(), &field("url"), "give path or url, not both".into())),
            (None, Some(u)) if u.starts_with("http://") || u.starts_with("https://") => u.clone(),
            (None, Some(_)) => return Err(at(st.span(), &field("url"), "must be an http:// or https:// URL".into())),
            (Some(p), None) if p.starts_with('/') => format!("{}{p}", http_origin(plan_url)),
            (Some(_), None) => return Err(at(st.span(), &field("path"), "must start with /".into())),
            (None, None) => return Err(at(st.span(), &field("url"), "give the request's url or path".into())),
        };
        let count = match &s.count {
            Some(c) if !(1..=MAX_SETUP_COUNT as i64).contains(c.get_ref()) => {
                return Err(at(c.span(), &field("count"), format!("must be between 1 and {MAX_SETUP_COUNT}")))
            }
            Some(c) => *c.get_ref() as u64,
            None => 1,
        };
        let rate = match &s.rate {
            Some(r) if !(r.get_ref().is_finite() && *r.get_ref() > 0.0 && *r.get_ref() <= 1e6) => {
                return Err(at(r.span(), &field("rate"), "must be a number of requests per second above 0 (at most 1M)".into()))
            }
            Some(r) => Some(*r.get_ref()),
            None => None,
        };
        let max_failed = match &s.max_failed {
            Some(m) if *m.get_ref() < 0 => return Err(at(m.span(), &field("max_failed"), "must be 0 or more".into())),
            Some(m) => *m.get_ref() as u64,
            None => 0,
        };
        let mut capture = Vec::new();
        for (k, p) in &s.capture {
            let f = field(&format!("capture.{k}"));
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.as_bytes()[0].is_ascii_digit() {
                return Err(at(p.span(), &f, "a capture name uses letters, digits and _ (it becomes {name})".into()));
            }
            if BUILTINS.contains(&k.as_str()) {
                return Err(at(p.span(), &f, format!("'{k}' is a built-in placeholder: choose another name")));
            }
            if !(p.get_ref().is_empty() || p.get_ref().starts_with('/')) {
                return Err(at(p.span(), &f, "a JSON pointer starts with / (e.g. \"/token\", \"/data/0/id\")".into()));
            }
            if out.iter().any(|o| o.capture.iter().any(|(n, _)| n == k)) {
                return Err(at(p.span(), &f, "an earlier setup captures this name".into()));
            }
            capture.push((k.clone(), p.get_ref().clone()));
        }
        let method = s.method.clone().unwrap_or_else(|| "GET".into()).trim().to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(at(st.span(), &field("method"), format!("'{method}' is not an HTTP method")));
        }
        out.push(PlanSetup { name, method, url, headers: s.header.clone(), body: s.body.clone(), count, rate, capture, max_failed });
    }
    Ok(out)
}

/// `scheme://authority` of the plan's URL, with `ws`/`wss` made `http`/`https`.
fn http_origin(url: &str) -> String {
    let Some(i) = url.find("://") else { return String::new() };
    let scheme = match &url[..i] {
        "ws" => "http",
        "wss" => "https",
        other => other,
    };
    let rest = &url[i + 3..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{scheme}://{}", &rest[..end])
}

#[cfg(test)]
mod tests {
    use crate::plan::parse;

    const STAGE: &str = "[[stage]]\nduration = \"1s\"\nrate = 1\n";

    #[test]
    fn setups_parse_in_order_with_defaults_and_paths_on_the_plans_server() {
        let text = format!(
            "scenario = \"ws\"\nurl = \"wss://h:9/chat\"\n[[setup]]\nname = \"login\"\nmethod = \"post\"\npath = \"/login\"\n\
             headers = [\"A: b\"]\ncapture = {{ token = \"/token\", id = \"/user/id\" }}\n[[setup]]\nname = \"g\"\n\
             url = \"http://x:1/g\"\ncount = 3\nrate = 2.5\nmax_failed = 1\n{STAGE}"
        );
        let p = parse(&text).unwrap();
        let (a, b) = (&p.setups[0], &p.setups[1]);
        assert_eq!((a.method.as_str(), a.url.as_str(), a.count, a.rate, a.max_failed), ("POST", "https://h:9/login", 1, None, 0));
        assert_eq!(a.headers, ["A: b"]);
        assert_eq!(a.capture, [("id".to_string(), "/user/id".to_string()), ("token".to_string(), "/token".to_string())]);
        assert_eq!((b.url.as_str(), b.count, b.rate, b.max_failed), ("http://x:1/g", 3, Some(2.5), 1));
        assert!(b.describe().contains("x3 at 2.5/s"), "{}", b.describe());
        assert!(parse(&format!("scenario = \"http\"\nurl = \"http://h/\"\n{STAGE}")).unwrap().setups.is_empty());
    }

    #[test]
    fn bad_setups_name_the_line_and_the_field() {
        for (body, want) in [
            ("name = \"a b\"\npath = \"/\"", "line 4: setup 1 (a b).name"),
            ("name = \"s\"\nurl = \"ftp://x/\"", "must be an http:// or https:// URL"),
            ("name = \"s\"\npath = \"x\"", "must start with /"),
            ("name = \"s\"\npath = \"/\"\nrate = 0", "setup 1 (s).rate"),
            ("name = \"s\"\npath = \"/\"\nmax_failed = -1", "max_failed: must be 0 or more"),
            ("name = \"s\"\npath = \"/\"\ncapture = { \"a-b\" = \"/x\" }", "capture.a-b"),
            ("name = \"s\"\npath = \"/\"\nbogus = 1", "unknown field"),
            ("name = \"s\"\npath = \"/\"\ncapture = { t = \"/t\" }\n[[setup]]\nname = \"s\"\npath = \"/\"", "another setup has this name"),
            (
                "name = \"s\"\npath = \"/\"\ncapture = { t = \"/t\" }\n[[setup]]\nname = \"u\"\npath = \"/\"\ncapture = { t = \"/u\" }",
                "an earlier setup captures this name",
            ),
        ] {
            let text = format!("scenario = \"http\"\nurl = \"http://h/\"\n[[setup]]\n{body}\n{STAGE}");
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
    }
}
