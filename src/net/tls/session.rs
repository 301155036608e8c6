//! The client's TLS session cache, shared by every connection of a run.

use rustls::pki_types::ServerName;

/// The client's session cache. rustls's own keeps 8 TLS 1.3 tickets per server, and a ticket
/// serves one resumption: 64 connections reconnecting at once found one for 1 handshake in 5
/// (measured against `serve --tls-self-signed`, one request per connection). This one keeps up
/// to `per_server` tickets (the run's connection count), oldest dropped first.
pub(super) struct SessionStore {
    per_server: usize,
    /// By server name (as text: a borrowed `ServerName` cannot look up an owned key).
    servers: std::sync::Mutex<std::collections::HashMap<String, Sessions>>,
}

#[derive(Default)]
struct Sessions {
    kx_hint: Option<rustls::NamedGroup>,
    tls12: Option<rustls::client::Tls12ClientSessionValue>,
    tls13: std::collections::VecDeque<rustls::client::Tls13ClientSessionValue>,
}

impl SessionStore {
    pub(super) fn new(per_server: usize) -> SessionStore {
        SessionStore { per_server: per_server.max(1), servers: Default::default() }
    }

    fn with<R>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Sessions) -> R) -> R {
        let mut servers = self.servers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = name.to_str();
        match servers.get_mut(key.as_ref()) {
            Some(s) => f(s),
            None => f(servers.entry(key.into_owned()).or_default()),
        }
    }
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore").field("per_server", &self.per_server).finish_non_exhaustive()
    }
}

impl rustls::client::ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.with(&name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.with(name, |s| s.kx_hint)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: rustls::client::Tls12ClientSessionValue) {
        self.with(&name, |s| s.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.with(name, |s| s.tls12.clone())
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |s| s.tls12 = None);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: rustls::client::Tls13ClientSessionValue) {
        let cap = self.per_server;
        self.with(&name, |s| {
            if s.tls13.len() >= cap {
                s.tls13.pop_front();
            }
            s.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<rustls::client::Tls13ClientSessionValue> {
        // The newest first: it has the longest to live.
        self.with(name, |s| s.tls13.pop_back())
    }
}
