//! The values a templated request or message draws from, besides the built-in placeholders:
//! values captured by a plan's `[[setup]]` ([`Captures`]) and the rows of a `--data` CSV file
//! ([`DataSet`]). Plain validated types: every scenario reads them when it parses its templates
//! (their names) and when it renders (their values).

use std::sync::Arc;

use crate::proto::csv::Csv;

/// Values captured by `[[setup]]` requests, by name, in capture order.
///
/// A capture made by one request is one value; by N requests (`count = N`), a list of N values.
/// The rule for handing out a list: the `k`-th value goes to index `k` modulo the list's length,
/// where the index is the room (`{room}`, chat) or else the connection's global index
/// (`WorkerCtx::global_conn` in the scenarios): room k gets the k-th value; connections take
/// them round-robin. One value goes to everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Captures {
    names: Vec<String>,
    /// `values[i]`: the values of name `i` (never empty).
    values: Vec<Vec<String>>,
}

impl Captures {
    /// Adds (or replaces) a name with its values; an empty list is ignored.
    pub fn insert(&mut self, name: &str, values: Vec<String>) {
        if values.is_empty() {
            return;
        }
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.values[i] = values,
            None => {
                self.names.push(name.to_string());
                self.values.push(values);
            }
        }
    }

    /// The captured names, in capture order (give them to `Template::parse`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Every value of name `i`.
    pub fn values(&self, i: usize) -> &[String] {
        self.values.get(i).map_or(&[], Vec::as_slice)
    }

    /// The value of name `i` for index `k` (a room or a global connection index): the
    /// `k mod len`-th (the only one for a single capture).
    pub fn pick(&self, i: usize, k: u64) -> &[u8] {
        match self.values.get(i) {
            Some(v) if !v.is_empty() => v[(k % v.len() as u64) as usize].as_bytes(),
            Some(_) | None => b"",
        }
    }

    /// The shortest and longest value of name `i` (for `Template::bound_name`).
    pub fn width(&self, i: usize) -> (usize, usize) {
        let lens = self.values(i).iter().map(String::len);
        (lens.clone().min().unwrap_or(0), lens.max().unwrap_or(0))
    }
}

/// How the rows of `--data` are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataOrder {
    /// Request number `s` of the run (its `{seq}`, from 1) takes row `(s - 1) mod rows`: the
    /// rows are dealt round-robin over every worker of every process, each worker goes through
    /// its share in file order, and a run of at least `rows` requests uses every row.
    Sequential,
    /// Each request takes a row at random (seeded per connection).
    Random,
}

/// A `--data FILE.csv`: its columns are template names (`{user}`).
#[derive(Clone, Debug)]
pub struct DataSet {
    pub path: String,
    pub csv: Arc<Csv>,
    pub order: DataOrder,
}

/// A templated HTTP request and what it draws from.
#[derive(Clone, Debug)]
pub struct DynamicHttp {
    pub template: crate::proto::http::request_template::RequestTemplate,
    /// `--data`: the CSV columns come first among the template's names, the captures after.
    pub data: Option<DataSet>,
}

/// Most names (CSV columns and captures) one request may draw from: their values are gathered
/// per request on the stack, without allocating.
pub const MAX_NAMES: usize = 64;

/// The extra names a template may use: the CSV columns, then the captures.
pub fn template_names<'a>(data: Option<&'a DataSet>, captures: &'a Captures) -> Vec<&'a str> {
    let cols = data.map_or(&[][..], |d| d.csv.names());
    cols.iter().chain(captures.names()).map(String::as_str).collect()
}

/// `{word}` in `text` that is neither a built-in placeholder nor one of `names`: in a run with
/// CSV columns or captures, almost surely a typo (`{usr}` for `{user}`), sent as typed otherwise.
pub fn unknown_name(text: &[u8], names: &[&str]) -> Option<String> {
    const BUILTIN: [&str; 7] = ["conn", "room", "seq", "uuid", "mark", "rand", "payload"];
    let mut i = 0;
    while let Some(at) = text[i..].iter().position(|&b| b == b'{') {
        let from = i + at + 1;
        if text.get(from) == Some(&b'{') {
            i = from + 1;
            continue;
        }
        let len = text[from..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
        i = from;
        if len == 0 || text.get(from + len) != Some(&b'}') || text[from].is_ascii_digit() {
            continue;
        }
        let word = std::str::from_utf8(&text[from..from + len]).unwrap_or("");
        if !BUILTIN.contains(&word) && !names.contains(&word) {
            return Some(word.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_hand_out_lists_round_robin() {
        let mut c = Captures::default();
        c.insert("token", vec!["t".into()]);
        c.insert("group_id", vec!["g0".into(), "g1".into(), "g2".into()]);
        c.insert("nothing", vec![]);
        assert_eq!(c.names(), ["token", "group_id"]);
        assert_eq!((c.pick(0, 0), c.pick(0, 7)), (&b"t"[..], &b"t"[..]));
        let got: Vec<&[u8]> = (0..5).map(|k| c.pick(1, k)).collect();
        assert_eq!(got, [&b"g0"[..], b"g1", b"g2", b"g0", b"g1"]);
        assert_eq!(c.width(1), (2, 2));
        let back: Captures = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_names_are_found_and_json_is_not() {
        let names = ["user", "token"];
        assert_eq!(unknown_name(b"/u/{user}?t={token}&s={seq}&r={rand:1:2}", &names), None);
        assert_eq!(unknown_name(br#"{"a":{"b":1}} {{usr}"#, &names), None);
        assert_eq!(unknown_name(b"x {usr} y", &names).as_deref(), Some("usr"));
        assert_eq!(unknown_name(b"{{{usr}", &names).as_deref(), Some("usr"));
    }
}
