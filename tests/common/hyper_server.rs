//! An independent HTTP/1.1 server (hyper on a tokio current-thread runtime) for the e2e tests.
//! Routes: `/cl` (Content-Length body), `/chunked` (chunked body), `/close` (Connection: close),
//! `/stall` (the Nth request to it sleeps for a while, the others answer at once),
//! `/status/CODE` (that status, a `content-type: text/plain` body `status CODE`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// How long the server thread lives at most: it stops by itself.
const LIFETIME: Duration = Duration::from_secs(120);

/// A body of `n` frames with no size hint, so hyper sends it chunked.
struct Chunks(u32);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.0 == 0 {
            return Poll::Ready(None);
        }
        self.0 -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"0123456789abcdef")))))
    }
}

/// Starts hyper on 127.0.0.1:0. `stall`: the Nth request to `/stall` (1-based) sleeps this long.
pub fn start(stall: Option<(u64, Duration)>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let stalls = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = tokio::time::timeout(LIFETIME, async {
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        continue;
                    };
                    let stalls = Arc::clone(&stalls);
                    tokio::spawn(async move {
                        let svc = service_fn(move |req: Request<Incoming>| {
                            let stalls = Arc::clone(&stalls);
                            async move { Ok::<_, Infallible>(route(req, stalls, stall).await) }
                        });
                        let _ = http1::Builder::new().pipeline_flush(true).serve_connection(TokioIo::new(sock), svc).await;
                    });
                }
            })
            .await;
        });
    });
    addr
}

async fn route(req: Request<Incoming>, stalls: Arc<AtomicU64>, stall: Option<(u64, Duration)>) -> Response<BoxBody<Bytes, Infallible>> {
    match req.uri().path() {
        "/cl" => Response::new(Full::new(Bytes::from_static(b"hello from hyper")).boxed()),
        "/chunked" => Response::new(Chunks(8).boxed()),
        "/close" => Response::builder().header("connection", "close").body(Full::new(Bytes::from_static(b"bye")).boxed()).unwrap(),
        "/stall" => {
            let n = stalls.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some((nth, d)) = stall {
                if n == nth {
                    tokio::time::sleep(d).await;
                }
            }
            Response::new(Full::new(Bytes::from_static(b"ok")).boxed())
        }
        p if p.starts_with("/status/") => match p["/status/".len()..].parse::<u16>() {
            Ok(code) if (200..=999).contains(&code) => Response::builder()
                .status(code)
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from(format!("status {code}"))).boxed())
                .unwrap(),
            _ => Response::builder().status(400).body(Full::new(Bytes::new()).boxed()).unwrap(),
        },
        _ => Response::builder().status(404).body(Full::new(Bytes::new()).boxed()).unwrap(),
    }
}
