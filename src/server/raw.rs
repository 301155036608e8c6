//! `serve --raw-listen ADDR`: a raw echo: every byte a client sends is written back as it is,
//! so a delimited, length-prefixed or fixed-size request comes back as a complete response of
//! the same framing (the target of `stampede raw` in tests and demos).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpListener;

use super::Shared;

const BUF: usize = 16 * 1024;

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                monoio::spawn(echo(stream, Arc::clone(&shared)));
            }
            Err(_) => monoio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

async fn echo<S: AsyncReadRent + AsyncWriteRent>(mut stream: S, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(BUF);
    while !shared.stop.load(Ordering::Relaxed) {
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let (res, b) = stream.write_all(buf).await;
                buf = b;
                if res.is_err() {
                    return;
                }
                buf.clear();
            }
        }
    }
}
