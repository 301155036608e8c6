use super::*;
use crate::cli::{Cli, Command};
use clap::Parser;

/// An idle connection costs its task and little else: the task must stay small (issue 6's
/// budget was 4 KiB per idle connection, issue 21's is 2 KiB). Timers and reads are boxed out of it; a future that
/// holds one of monoio's cache-padded timer entries inline is 128-aligned and over 1.5 KiB.
#[test]
fn a_connection_task_stays_small() {
    let Command::Http(a) = Cli::try_parse_from(["stampede", "http", "http://127.0.0.1:9/"]).unwrap().command else { panic!("not http") };
    let load = crate::config::load_config(&a.load).unwrap();
    let cfg = crate::config::build_http(crate::config::parse_target(&a.url).unwrap(), &a.request, load).unwrap();
    let ex = Exchange::http(cfg);
    let ctx = WorkerCtx::new(0, 1, 0, None, None, None, crate::net::SourcePool::new(Vec::new(), 0));
    let task = ex.connection(&ctx, 0);
    let (size, align) = (std::mem::size_of_val(&task), std::mem::align_of_val(&task));
    println!("connection future: {size} bytes, aligned to {align}");
    // 928 on the branch that shrank it; 984 once the per-connection read deadline (issue 19) and
    // the send time taken before the write (issue 18) joined it: still under the 1,024 it was.
    assert!(size <= 1000 && align <= 16, "connection future is {size} bytes, aligned to {align} (984 measured)");
}
