//! `serve --unix PATH`: every route of the server, also on a Unix socket.
//!
//! One listening socket, bound once; each worker registers its own duplicate of the descriptor
//! with its runtime and accepts from it (`SO_REUSEPORT` does not spread Unix sockets, and one
//! socket keeps one path). The kernel hands each connection to one of the waiting accepts.
//!
//! Owns the socket file's life: a file left by a server that died is replaced, a live socket or a
//! file that is not a socket is refused (connecting tells the two apart), and the file is removed
//! when the server stops, unless something else has replaced it by then.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};

use crate::error::{Error, Result};

/// What is at a socket path before the server binds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Existing {
    Nothing,
    /// A socket file nobody listens on (its server died): safe to replace.
    Stale,
    /// A socket something accepts connections on.
    Live,
    /// A file, directory or anything else that is not a socket: never removed.
    NotASocket,
}

/// Looks at `path` (and connects to it when it is a socket).
pub(crate) fn existing(path: &Path) -> io::Result<Existing> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Nothing),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Ok(Existing::NotASocket);
    }
    match UnixStream::connect(path) {
        Ok(_) => Ok(Existing::Live),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Ok(Existing::Stale),
        Err(e) => Err(e),
    }
}

/// The bound socket: the listener the workers duplicate, and the file to remove at the end.
pub(crate) struct Bound {
    path: PathBuf,
    /// Device and inode of the file this server created (removed only if it is still that one).
    file: (u64, u64),
    listener: UnixListener,
}

impl Bound {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A descriptor of the listening socket for one worker's runtime.
    pub fn for_worker(&self) -> io::Result<UnixListener> {
        self.listener.try_clone()
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.file);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds a listening Unix socket at `path`, replacing a stale socket file.
pub(crate) fn bind(path: &Path, backlog: i32) -> Result<Bound> {
    let shown = path.display();
    let fail = |what: &str, e: io::Error| Error::io(format!("cannot listen on the Unix socket {shown}: {what}"), e);
    match existing(path).map_err(|e| fail("cannot check what is there", e))? {
        Existing::Nothing => {}
        Existing::Stale => {
            std::fs::remove_file(path).map_err(|e| fail("a stale socket file is there and cannot be removed", e))?;
        }
        Existing::Live => {
            return Err(Error::run(format!(
                "cannot listen on the Unix socket {shown}: a server is already listening there (stop it, or choose another path)"
            )));
        }
        Existing::NotASocket => {
            return Err(Error::run(format!(
                "cannot listen on the Unix socket {shown}: the path exists and is not a socket (it is left alone; choose another path)"
            )));
        }
    }
    let addr = UnixAddr::new(path).map_err(|e| match e {
        nix::errno::Errno::ENAMETOOLONG => Error::run(format!(
            "cannot listen on the Unix socket {shown}: the path is {} bytes, over the 107 a socket address holds (choose a shorter one)",
            path.as_os_str().len()
        )),
        e => fail("bad path", e.into()),
    })?;
    let fd: OwnedFd = socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| fail("socket", e.into()))?;
    socket::bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).map_err(|e| fail("bind", e.into()))?;
    // From here the file is ours: dropping `bound` (on any error below) removes it.
    let meta = std::fs::symlink_metadata(path).map_err(|e| fail("the socket file vanished", e))?;
    let bound = Bound { path: path.to_path_buf(), file: (meta.dev(), meta.ino()), listener: UnixListener::from(fd) };
    crate::sys::listen(&bound.listener, backlog).map_err(|e| fail("listen", e))?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("stampede-unit-{}-{tag}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn tells_stale_from_live_and_from_other_files() {
        let p = temp("kinds");
        assert_eq!(existing(&p).unwrap(), Existing::Nothing);
        let l = UnixListener::bind(&p).unwrap();
        assert_eq!(existing(&p).unwrap(), Existing::Live);
        drop(l); // the file stays, nobody listens
        assert_eq!(existing(&p).unwrap(), Existing::Stale);
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"not a socket").unwrap();
        assert_eq!(existing(&p).unwrap(), Existing::NotASocket);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn binds_over_a_stale_file_refuses_the_rest_and_removes_its_own_file() {
        let p = temp("bind");
        drop(UnixListener::bind(&p).unwrap());
        let b = bind(&p, 16).expect("a stale file is replaced");
        assert_eq!(existing(&p).unwrap(), Existing::Live);
        let e = bind(&p, 16).err().expect("a live socket is refused").to_string();
        assert!(e.contains("already listening"), "{e}");
        drop(b);
        assert!(!p.exists(), "the file goes with the server");
        std::fs::write(&p, b"data").unwrap();
        let e = bind(&p, 16).err().expect("a regular file is refused").to_string();
        assert!(e.contains("not a socket"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"data", "and left alone");
        std::fs::remove_file(&p).unwrap();
        let long = std::env::temp_dir().join("x".repeat(120));
        assert!(bind(&long, 16).err().unwrap().to_string().contains("107"));
    }

    #[test]
    fn a_replaced_file_is_not_removed() {
        let p = temp("replaced");
        let b = bind(&p, 16).unwrap();
        std::fs::remove_file(&p).unwrap();
        let other = UnixListener::bind(&p).unwrap();
        drop(b);
        assert!(p.exists(), "someone else's socket stays");
        drop(other);
        std::fs::remove_file(&p).unwrap();
    }
}
