//! An independent HTTP/1.1 app (hyper on a tokio current-thread runtime) for the dynamic
//! request and setup tests. It keeps every request it served, in order, for the test to read.
//! Routes:
//! - `POST /login` with a JSON body `{"user": U, "password": "x"}`: `{"token": "tok-U"}`
//!   (401 for another password, 400 for a body that is not such JSON);
//! - `POST /groups`: `{"group_id": "grp-N"}`, N = 1, 2, 3...;
//! - `/private/...`: 401 unless `Authorization: Bearer T` with a token `/login` issued;
//! - anything else: 200 `ok`.
//!
//! hyper frames request bodies by their Content-Length: a wrong one fails the request (the
//! connection gets a 400 or stalls), so every body the app records had a correct length.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const LIFETIME: Duration = Duration::from_secs(120);

/// One request as the app saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub authorization: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
}

#[derive(Default)]
pub struct App {
    pub seen: Mutex<Vec<Seen>>,
    tokens: Mutex<HashSet<String>>,
    groups: Mutex<u64>,
}

impl App {
    /// The requests served so far whose path starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|s| s.target.starts_with(prefix)).cloned().collect()
    }
}

pub fn start() -> (SocketAddr, Arc<App>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(App::default());
    let shared = Arc::clone(&app);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = tokio::time::timeout(LIFETIME, async {
                loop {
                    let Ok((sock, _)) = listener.accept().await else { continue };
                    let app = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let svc = service_fn(move |req: Request<Incoming>| {
                            let app = Arc::clone(&app);
                            async move { Ok::<_, Infallible>(route(req, &app).await) }
                        });
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(sock), svc).await;
                    });
                }
            })
            .await;
        });
    });
    (addr, app)
}

async fn route(req: Request<Incoming>, app: &App) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let target = req.uri().path_and_query().map_or("/".to_string(), |p| p.to_string());
    let headers: Vec<(String, String)> =
        req.headers().iter().map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    let authorization = req.headers().get("authorization").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return answer(400, "bad body"),
    };
    let (status, text) = match (method.as_str(), target.split('?').next().unwrap_or("")) {
        ("POST", "/login") => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) if v["password"] == "x" && v["user"].is_string() => {
                let token = format!("tok-{}", v["user"].as_str().unwrap_or(""));
                app.tokens.lock().unwrap().insert(token.clone());
                (200, serde_json::json!({ "token": token }).to_string())
            }
            Ok(_) => (401, "{\"error\":\"bad password\"}".to_string()),
            Err(_) => (400, "{\"error\":\"not json\"}".to_string()),
        },
        ("POST", "/groups") => {
            let mut n = app.groups.lock().unwrap();
            *n += 1;
            (200, serde_json::json!({ "group_id": format!("grp-{n}"), "n": *n }).to_string())
        }
        (_, p) if p.starts_with("/private") => {
            let ok =
                authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).is_some_and(|t| app.tokens.lock().unwrap().contains(t));
            if ok {
                (200, "ok".to_string())
            } else {
                (401, "unauthorized".to_string())
            }
        }
        _ => (200, "ok".to_string()),
    };
    app.seen.lock().unwrap().push(Seen { method, target, authorization, headers, body, status });
    answer(status, &text)
}

fn answer(status: u16, text: &str) -> Response<Full<Bytes>> {
    Response::builder().status(status).body(Full::new(Bytes::from(text.to_string()))).unwrap()
}
