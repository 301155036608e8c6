//! Templated HTTP requests on a connection: the per-connection state and the per-request
//! values (`{seq}` numbered across the run, `{conn}` the connection's global index, the
//! `--data` row, the setup captures) rendered by `proto::http::request_template` into the
//! connection's own buffer, reused from batch to batch (no allocation once it has grown).
//!
//! `{payload:N}` in a templated body is copied into that buffer: the `Wire` hands the
//! connection one contiguous buffer per batch (no vectored write on that path yet). A request
//! without placeholders never comes here: it stays encoded once and sent zero-copy.

use crate::config::{DataOrder, DynamicHttp, LoadConfig, MAX_NAMES};
use crate::proto::http::response::ResponseParser;
use crate::proto::template::{Rendered, Rng, Values};
use crate::scenario::checks::CheckState;
use crate::scenario::WorkerCtx;

/// One HTTP connection's state: the response parser, and for a templated request its values.
pub struct HttpConn {
    pub resp: ResponseParser,
    /// The run's checks' state for the answer being read (`None`: no checks).
    pub checks: Option<CheckState>,
    dynamic: Option<Box<DynConn>>,
}

/// A templated request's per-connection state.
struct DynConn {
    conn: u64,
    rng: Rng,
    scratch: Rendered,
    out: Vec<u8>,
}

impl HttpConn {
    pub fn new(resp: ResponseParser, dynamic: bool, checks: Option<CheckState>) -> HttpConn {
        let d = dynamic.then(|| Box::new(DynConn { conn: 0, rng: Rng::new(0), scratch: Rendered::default(), out: Vec::new() }));
        HttpConn { resp, checks, dynamic: d }
    }

    /// The connection's global index (`{conn}`), which also seeds `{rand}`/`{uuid}`/random rows.
    pub fn attach(&mut self, conn: u64) {
        if let Some(d) = &mut self.dynamic {
            (d.conn, d.rng) = (conn, crate::proto::template::Rng::new(conn));
        }
    }

    /// Takes back the buffer of [`encode`].
    pub fn encoded(&mut self, buf: Vec<u8>) {
        if let Some(d) = &mut self.dynamic {
            d.out = buf;
        }
    }
}

/// `k` requests for this connection, rendered into its buffer.
pub fn encode(t: &DynamicHttp, load: &LoadConfig, ctx: &WorkerCtx, p: &mut HttpConn, k: usize) -> Vec<u8> {
    let Some(d) = &mut p.dynamic else { return Vec::new() };
    let mut out = std::mem::take(&mut d.out);
    out.clear();
    let (first, stride) = ctx.take_seqs(k as u64);
    let cols = t.data.as_ref().map_or(0, |d| d.csv.names().len());
    let caps = &load.captures;
    let n = (cols + caps.names().len()).min(MAX_NAMES);
    let mut names: [&[u8]; MAX_NAMES] = [&[]; MAX_NAMES];
    for (i, v) in names.iter_mut().enumerate().take(n).skip(cols) {
        *v = caps.pick(i - cols, d.conn);
    }
    for j in 0..k as u64 {
        let seq = first.wrapping_add(j.wrapping_mul(stride));
        if let Some(data) = &t.data {
            let rows = data.csv.len() as u64;
            let row = match data.order {
                DataOrder::Sequential => seq.wrapping_sub(1) % rows,
                DataOrder::Random => d.rng.range(0, rows as i64 - 1) as u64,
            };
            for (c, v) in names.iter_mut().enumerate().take(cols) {
                *v = data.csv.field(row as usize, c);
            }
        }
        let v = Values { seq, conn: d.conn, names: &names[..n], ..Values::default() };
        t.template.encode(&v, &mut d.rng, &mut d.scratch, &mut out);
    }
    out
}
