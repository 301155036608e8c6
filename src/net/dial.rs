//! Dialing a run's target: its Unix socket (`--unix-socket`), or TCP from the next source
//! address, then the TLS handshake for a TLS target; retried with backoff until it connects or
//! the run ends. Every attempt is counted in the worker's shard.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::config::{LoadConfig, Target};
use crate::engine::timer::Timer;
use crate::net::tls::TlsStream;
use crate::net::{connect, Backoff, Conn, SourcePool};
use crate::stats::{ErrorClass, Shard};

/// What dialing needs from the worker's run: when it ends, where connects come from and where
/// they are counted. Cheap to copy: dial and open take it by value, so it lives in their
/// (boxed) futures, not in the connection task.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    /// Clock time at which the run ends (`None`: when the budget is spent).
    pub end_ns: Option<u64>,
    /// Set on SIGINT/SIGTERM.
    pub stop: &'a Cell<bool>,
    pub shard: &'a RefCell<Shard>,
    pub sources: &'a RefCell<SourcePool>,
    /// The worker's precise timer (`None`: the runtime's millisecond timer wheel).
    pub timer: Option<&'a Timer>,
}

impl Run<'_> {
    /// True when the run has an end time and `now` is past it.
    pub fn past_end(&self, now: u64) -> bool {
        self.end_ns.is_some_and(|e| now >= e)
    }

    pub async fn sleep_for(&self, d: Duration) -> bool {
        sleep_until(self.end_ns, self.stop, self.timer, clock::now_ns().saturating_add(d.as_nanos() as u64)).await
    }
}

/// Sleeps until clock time `t_ns`, or the run's end (`end_ns`) if that comes first, on the
/// worker's precise `timer` (to the microsecond) or else the runtime's wheel (1 ms steps). Returns
/// true when woken at `t_ns` and not `stop`ped (a stop wakes the timer's sleepers at once).
pub async fn sleep_until(end_ns: Option<u64>, stop: &Cell<bool>, timer: Option<&Timer>, t_ns: u64) -> bool {
    let wake = end_ns.map_or(t_ns, |e| e.min(t_ns));
    if !stop.get() && wake > clock::now_ns() {
        match timer {
            Some(t) => t.sleep_until(wake).await,
            // Boxed: monoio's timer entry is cache-padded (256 B, 128-aligned); inline it would
            // sit in every waiting connection's task.
            None => Box::pin(monoio::time::sleep_until(monoio::time::Instant::from_std(clock::instant_at(wake)))).await,
        }
    }
    !stop.get() && wake == t_ns && clock::now_ns() >= wake
}

/// Connects to the run's target: its Unix socket (`--unix-socket`), or TCP from the next source
/// address, then the TLS handshake for a TLS target. Backs off after each failure; every attempt
/// is counted, and a TLS failure counts as a failed connect of its class. `None` when the run
/// ended first.
pub async fn dial(run: Run<'_>, target: &Target, load: &LoadConfig, backoff: &mut Backoff) -> Option<Conn> {
    let opts = &load.connect;
    if let Some(path) = &load.unix {
        return retry(&run, backoff, || async move {
            match monoio::time::timeout(opts.timeout, monoio::net::UnixStream::connect(path)).await {
                Ok(Ok(s)) => Ok((Conn::Unix(s), None)),
                Ok(Err(e)) => Err(ErrorClass::from_io(&e)),
                Err(_) => Err(ErrorClass::ConnectTimeout),
            }
        })
        .await;
    }
    retry(&run, backoff, || {
        let source = run.sources.borrow_mut().next_addr();
        async move {
            let t0 = clock::now_ns();
            let tcp = connect(target.addr, source, opts).await?;
            let Some(tls) = &load.tls else { return Ok((Conn::Tcp(tcp), None)) };
            let t1 = clock::now_ns();
            run.shard.borrow_mut().on_tls_start();
            let hs = TlsStream::connect(tcp, Arc::clone(&tls.config), tls.server_name.clone());
            match monoio::time::timeout(opts.timeout, hs).await {
                Ok(Ok((stream, hs))) => {
                    let timing = TlsTiming { tcp_ns: t1 - t0, tls_ns: clock::now_ns().saturating_sub(t1), resumed: hs.resumed };
                    Ok((Conn::Tls(Box::new(stream)), Some(timing)))
                }
                Ok(Err(e)) => {
                    run.shard.borrow_mut().on_tls_error();
                    Err(tls_failed(&target.host, &e))
                }
                Err(_) => {
                    run.shard.borrow_mut().on_tls_error();
                    Err(ErrorClass::ConnectTimeout)
                }
            }
        }
    })
    .await
}

/// The first TLS failure of a process is printed with its reason; later ones are only counted.
static TLS_FAILURE_SHOWN: AtomicBool = AtomicBool::new(false);

fn tls_failed(host: &str, e: &std::io::Error) -> ErrorClass {
    let class = ErrorClass::from_io(e);
    if matches!(class, ErrorClass::TlsCert | ErrorClass::Tls) && !TLS_FAILURE_SHOWN.swap(true, Ordering::Relaxed) {
        eprintln!("stampede: TLS handshake with {host} failed: {e}");
    }
    class
}

/// How long the TCP connect and the TLS handshake of a TLS connection took.
struct TlsTiming {
    tcp_ns: u64,
    tls_ns: u64,
    resumed: bool,
}

/// Runs `attempt` until it connects or the run ends, counting every attempt once (when it
/// starts: one that the run's end interrupts stays pending) and backing off after each failure. An attempt that ran a TLS handshake returns its timing: the connect time
/// recorded is then the TCP part alone.
async fn retry<T, Fut>(run: &Run<'_>, backoff: &mut Backoff, mut attempt: impl FnMut() -> Fut) -> Option<T>
where
    Fut: std::future::Future<Output = Result<(T, Option<TlsTiming>), ErrorClass>>,
{
    loop {
        let t0 = clock::now_ns();
        // Only the end of the run stops a connect: the caller decides about its budget.
        if run.stop.get() || run.past_end(t0) {
            return None;
        }
        run.shard.borrow_mut().on_connect_start();
        match attempt().await {
            Ok((s, timing)) => {
                let mut shard = run.shard.borrow_mut();
                match timing {
                    None => shard.on_connect(clock::now_ns().saturating_sub(t0)),
                    Some(t) => {
                        shard.on_connect(t.tcp_ns);
                        shard.on_tls(t.tls_ns, t.resumed);
                    }
                }
                return Some(s);
            }
            Err(class) => {
                if run.past_end(clock::now_ns()) || run.stop.get() {
                    return None; // the run ended while connecting: not a failure of the target
                }
                run.shard.borrow_mut().on_connect_error(class);
                if !run.sleep_for(backoff.next_delay()).await {
                    return None;
                }
            }
        }
    }
}
