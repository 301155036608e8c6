//! TLS end to end: https:// against an independent server (`openssl s_server -www`, a different
//! TLS stack), certificate failures classified, session resumption seen in the result.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_accounted, stampede, u};

/// A temp directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("stampede-tls-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `openssl s_server`, killed (by its PID) on drop.
struct OpenSsl(Child);

impl Drop for OpenSsl {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openssl` on PATH; otherwise the test fails under CI=true with the install command and is
/// reported SKIPPED elsewhere (tests/common/peer.rs). scripts/test.sh installs it as root.
fn openssl() -> Option<PathBuf> {
    common::peer::peer("openssl", "apt-get install -y openssl")
}

/// A self-signed certificate made by openssl (marked as a CA, as `openssl req -x509` makes
/// them) for `cn` and the subjectAltName `san`: (cert.pem, key.pem) in `dir`, named by `tag`.
fn make_cert(dir: &Path, tag: &str, cn: &str, san: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join(format!("{tag}-cert.pem")), dir.join(format!("{tag}-key.pem")));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={cn}"), "-addext", &format!("subjectAltName={san}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "openssl req failed");
    (cert, key)
}

/// `openssl s_server -www` on a free port with `args` (certificates), once it accepts.
fn start_s_server(args: &[&Path]) -> (OpenSsl, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(addr.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = OpenSsl(child);
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, addr)
}

/// s_server with one certificate for localhost and 127.0.0.1; stopped and its files removed on
/// drop.
struct SServer {
    _server: OpenSsl,
    _dir: TempDir,
    /// `https://localhost:PORT/`
    url: String,
    /// The certificate, for --cacert.
    cacert: String,
}

/// Starts an [`SServer`]; `None` (the reason printed) where openssl is missing.
fn openssl_server(tag: &str) -> Option<SServer> {
    openssl()?;
    let dir = TempDir::new(tag);
    let (cert, key) = make_cert(&dir.0, "one", "localhost", "DNS:localhost,IP:127.0.0.1");
    let (server, addr) = start_s_server(&[Path::new("-cert"), &cert, Path::new("-key"), &key]);
    let url = format!("https://localhost:{}/", addr.port());
    Some(SServer { _server: server, url, cacert: cert.to_str().unwrap().to_string(), _dir: dir })
}

#[test]
fn sni_picks_the_certificate_and_tls_server_name_sets_it() {
    let Some(_) = openssl() else { return };
    // s_server serves `localhost`'s certificate to clients whose SNI says localhost, and the
    // default one (for default.test only) to any other or none.
    let dir = TempDir::new("sni");
    let (a_cert, a_key) = make_cert(&dir.0, "default", "default.test", "DNS:default.test");
    let (b_cert, b_key) = make_cert(&dir.0, "named", "localhost", "DNS:localhost");
    let both = dir.0.join("both.pem");
    let pem = [std::fs::read(&a_cert).unwrap(), std::fs::read(&b_cert).unwrap()].concat();
    std::fs::write(&both, pem).unwrap();
    let sni = Path::new("localhost");
    let args = [Path::new("-cert"), &a_cert, Path::new("-key"), &a_key, Path::new("-cert2"), &b_cert, Path::new("-key2"), &b_key];
    let (_server, addr) = start_s_server(&[&args[..], &[Path::new("-servername"), sni]].concat());
    let ca = both.to_str().unwrap();
    let port = addr.port();
    // SNI "localhost": the named certificate, which verifies for localhost.
    let run = stampede(&["http", &format!("https://localhost:{port}/"), "-n", "20", "-c", "1", "-t", "1", "--cacert", ca]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 20, "SNI localhost must get the localhost certificate: {v}\n{}", run.stderr);
    // An IP address carries no SNI: the default certificate, not valid for 127.0.0.1.
    let run = stampede(&["http", &format!("https://127.0.0.1:{port}/"), "-d", "1s", "-c", "1", "-t", "1", "--cacert", ca]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");
    assert!(u(&v, &["errors", "tls_cert"]) >= 1, "{v}");
    // --tls-server-name: sent in SNI and checked, whatever the URL's host.
    let run = stampede(&[
        "http",
        &format!("https://127.0.0.1:{port}/"),
        "-n",
        "20",
        "-c",
        "1",
        "-t",
        "1",
        "--cacert",
        ca,
        "--tls-server-name",
        "default.test",
    ]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 20, "{v}\n{}", run.stderr);
}

#[test]
fn https_against_openssl_s_server_with_cacert_resumes_sessions() {
    let Some(SServer { url, cacert, .. }) = &openssl_server("cacert") else { return };
    // s_server -www answers HTTP/1.0 and closes: every request is a new TLS connection.
    let run = stampede(&["http", url, "-n", "60", "-c", "2", "-t", "1", "--cacert", cacert]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json.expect("json");
    assert_accounted(&v);
    assert_eq!(u(&v, &["requests", "ok"]), 60, "{v}");
    assert_eq!(u(&v, &["status", "200"]), 60);
    let handshakes = u(&v, &["tls", "handshakes"]);
    assert!(handshakes >= 60, "one handshake per request at least: {handshakes}");
    // Every connection after the first few resumes a session the server issued.
    let resumed = u(&v, &["tls", "resumed"]);
    assert!(resumed >= handshakes / 2, "{resumed} of {handshakes} resumed");
    assert!(v["tls"]["handshake_ms"]["p50"].as_f64().is_some_and(|p| p > 0.0), "{v}");
    assert!(run.stdout.contains("TLS ") && run.stdout.contains("resumed"), "{}", run.stdout);

    // Without resumption every handshake is a full one.
    let run = stampede(&["http", url, "-n", "20", "-c", "1", "-t", "1", "--cacert", cacert, "--no-tls-resume"]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 20, "{v}");
    assert_eq!(u(&v, &["tls", "resumed"]), 0, "{v}");
}

#[test]
fn certificate_failures_are_classified_and_say_what_to_do() {
    let Some(SServer { url, cacert, .. }) = &openssl_server("badcert") else { return };
    // No --cacert: the built-in roots do not know the certificate.
    let run = stampede(&["http", url, "-d", "1s", "-c", "1", "-t", "1"]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 0);
    assert!(u(&v, &["errors", "tls_cert"]) >= 1, "{v}");
    assert_eq!(u(&v, &["errors", "tls"]), 0, "{v}");
    assert!(run.stderr.contains("--cacert") && run.stderr.contains("--insecure"), "{}", run.stderr);
    assert!(run.stdout.contains("tls_cert: the server's certificate is not trusted"), "{}", run.stdout);
    assert_ne!(run.code, 0, "a run without one answer must fail");

    // The right certificate, but a name it does not carry.
    let run = stampede(&["http", url, "-d", "1s", "-c", "1", "-t", "1", "--cacert", cacert, "--tls-server-name", "example.com"]);
    let v = run.json.expect("json");
    assert!(u(&v, &["errors", "tls_cert"]) >= 1, "{v}");
    assert!(run.stderr.contains("example.com"), "{}", run.stderr);

    // --insecure: no check, answers come back.
    let run = stampede(&["http", url, "-n", "10", "-c", "1", "-t", "1", "--insecure"]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 10, "{v}");

    // https:// against a plain HTTP server is a TLS error, not a certificate one.
    let plain = common::embedded(None, None);
    let url = format!("https://{}/", plain.local_addr());
    let run = stampede(&["http", &url, "-d", "1s", "-c", "1", "-t", "1", "--insecure"]);
    let v = run.json.expect("json");
    assert!(u(&v, &["errors", "tls"]) >= 1, "{v}");
    assert_eq!(u(&v, &["errors", "tls_cert"]), 0, "{v}");
    plain.stop();
}

fn dir_file(dir: &TempDir, name: &str) -> PathBuf {
    dir.0.join(name)
}

/// The embedded server serving TLS with a generated certificate; its CA in a file.
fn embedded_tls(tag: &str) -> (stampede::server::ServerHandle, TempDir, PathBuf) {
    let cert = stampede::net::tls::SelfSigned::generate().unwrap();
    let dir = TempDir::new(tag);
    let ca = dir.0.join("ca.pem");
    std::fs::write(&ca, &cert.ca_pem).unwrap();
    let cfg = stampede::server::ServeConfig { tls: Some(cert.server_config().unwrap()), ..common::loopback() };
    (stampede::server::start(&cfg).unwrap(), dir, ca)
}

#[test]
fn https_wss_asr_and_tls_raw_against_the_embedded_server() {
    let (srv, _dir, ca) = embedded_tls("embedded");
    let ca = ca.to_str().unwrap();
    let port = srv.local_addr().port();

    // Keep-alive https: one handshake per connection, exact counts.
    let run = stampede(&["http", &format!("https://localhost:{port}/"), "-n", "2000", "-c", "4", "-t", "1", "--cacert", ca]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json.expect("json");
    assert_accounted(&v);
    assert_eq!(u(&v, &["requests", "ok"]), 2000, "{v}");
    assert_eq!(u(&v, &["tls", "handshakes"]), 4, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 4, "{v}");
    // Merged results add the TLS figures; the HTML report shows them.
    let (a, b, all, html) = (dir_file(&_dir, "a.json"), dir_file(&_dir, "b.json"), dir_file(&_dir, "all.json"), dir_file(&_dir, "r.html"));
    std::fs::write(&a, v.to_string()).unwrap();
    std::fs::write(&b, v.to_string()).unwrap();
    let r = common::stampede_raw(&["merge", a.to_str().unwrap(), b.to_str().unwrap(), "-o", all.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let merged: serde_json::Value = serde_json::from_slice(&std::fs::read(&all).unwrap()).unwrap();
    assert_eq!((u(&merged, &["tls", "handshakes"]), u(&merged, &["tls", "resumed"])), (8, 2 * u(&v, &["tls", "resumed"])), "{merged}");
    let r = common::stampede_raw(&["report", all.to_str().unwrap(), "-o", html.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("data-key=\"tls.handshakes\">8 ("), "TLS handshakes row missing");

    // A POST body through TLS comes back whole (records of 16 KiB and reads split at any size).
    let body: String = (0..100_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let run = stampede(&[
        "http",
        &format!("https://127.0.0.1:{port}/echo"),
        "-m",
        "POST",
        "--body",
        &body,
        "-n",
        "50",
        "-c",
        "2",
        "-t",
        "1",
        "--cacert",
        ca,
    ]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 50, "{v}");
    assert!(u(&v, &["bytes", "read"]) >= 50 * 100_000, "{v}");

    // One request per connection: every reconnect resumes a session. 16 connections at once
    // need more TLS 1.3 tickets than rustls's own cache keeps (8 per server).
    let url = format!("https://localhost:{port}/");
    let run = stampede(&["http", &url, "-H", "Connection: close", "-n", "800", "-c", "16", "-t", "1", "--cacert", ca]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 800, "{v}");
    let (hs, resumed) = (u(&v, &["tls", "handshakes"]), u(&v, &["tls", "resumed"]));
    assert!(hs >= 800 && resumed + 16 >= hs, "{resumed} of {hs} handshakes resumed");

    // wss echo.
    let run =
        stampede(&["ws", &format!("wss://localhost:{port}/ws/echo"), "-n", "1000", "-c", "4", "-t", "1", "--size", "3000", "--cacert", ca]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 1000, "{v}");
    assert_eq!(u(&v, &["tls", "handshakes"]), 4, "{v}");

    // ASR streaming over wss: reader and writer halves of one TLS connection at once.
    let run = stampede(&["asr", &format!("wss://localhost:{port}/asr"), "--streams", "3", "--signal-length", "600ms", "--cacert", ca]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["asr", "sessions", "completed"]), 3, "{v}");
    assert_eq!(u(&v, &["tls", "handshakes"]), 3, "{v}");

    // raw over tls://: an HTTP request as a fixed message, answers framed by the blank line.
    let msg = "GET /bytes/0 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let run = stampede(&[
        "raw",
        &format!("tls://localhost:{port}"),
        "--message",
        msg,
        "--delimiter",
        "\\r\\n\\r\\n",
        "--expect",
        "200 OK",
        "-n",
        "200",
        "-c",
        "2",
        "-t",
        "1",
        "--cacert",
        ca,
    ]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 200, "{v}");
    assert_eq!(u(&v, &["errors", "check_failed"]), 0, "{v}");
    srv.stop();
}

#[test]
fn serve_tls_self_signed_from_two_processes_shares_one_certificate() {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut serve = Interrupted(
        Command::new(env!("CARGO_BIN_EXE_stampede"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "-t", "1", "--processes", "2", "--tls-self-signed"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let server = serve.0.id();
    let mut lines = BufReader::new(serve.0.stdout.take().unwrap()).lines();
    let mut ca = None;
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        assert!(!line.contains("http://"), "a TLS server announces https: {line}");
        if let Some(at) = line.find("--cacert ") {
            ca = line[at + 9..].split_whitespace().next().map(PathBuf::from);
            break;
        }
    }
    let ca = ca.expect("the CA file is printed");
    assert!(ca.exists());
    // The second process runs, and serves the parent's certificate files, not its own. (Its
    // command line reads empty for a moment after exec: wait for it, 2 s at most.)
    let children = std::fs::read_to_string(format!("/proc/{server}/task/{server}/children")).unwrap();
    let second = children.split_whitespace().next().expect("a second server process").to_string();
    let t0 = Instant::now();
    let args = loop {
        let cmdline = std::fs::read(format!("/proc/{second}/cmdline")).unwrap_or_default();
        if !cmdline.is_empty() || t0.elapsed() > Duration::from_secs(2) {
            break cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(args.iter().any(|a| a == "--tls-cert") && !args.iter().any(|a| a == "--tls-self-signed"), "{args:?}");
    // Both processes answer (SO_REUSEPORT spreads 16 connections); each serves the same
    // certificate, so one --cacert verifies every connection.
    let run =
        stampede(&["http", &format!("https://localhost:{port}/"), "-n", "800", "-c", "16", "-t", "1", "--cacert", ca.to_str().unwrap()]);
    let v = run.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 800, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 16, "{v}");
    drop(serve);
    assert!(!ca.exists(), "the certificate files are removed when the server stops");
}

/// A server process that gets SIGINT (by its PID) and is waited for on drop, also when an
/// assertion fails first.
struct Interrupted(Child);

impl Drop for Interrupted {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let _ = self.0.wait();
    }
}
