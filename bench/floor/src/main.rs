//! Two minimal HTTP/1 reverse proxies on the runtime komainu uses (tokio,
//! one worker thread, mimalloc), to tell what the stack itself costs:
//!
//! - `raw`: each client connection gets its own upstream connection and
//!   bytes are copied both ways (`copy_bidirectional`). The same system
//!   calls per request as any keep-alive proxy, and no HTTP work at all:
//!   the floor of a tokio proxy.
//! - `hyper`: hyper's HTTP/1 server, and per client connection one
//!   upstream connection through hyper's low-level client; the request is
//!   forwarded with its headers as they came. No routing, no headers added,
//!   no metrics: the floor of a hyper proxy. The upstream connection runs on
//!   a task of its own and requests take it through a mutex, as simply as
//!   hyper allows; komainu drives its connections from the request's task,
//!   which costs less, so this floor is if anything set high.
//!
//! Usage: komainu-floor raw|hyper LISTEN_PORT UPSTREAM_PORT

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1 as client;
use hyper::server::conn::http1 as server;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(listen), Some(upstream)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: komainu-floor raw|hyper LISTEN_PORT UPSTREAM_PORT");
        std::process::exit(2);
    };
    let listen: SocketAddr = format!("127.0.0.1:{listen}").parse().expect("listen port");
    let upstream: SocketAddr = format!("127.0.0.1:{upstream}")
        .parse()
        .expect("upstream port");
    let hyper_mode = match mode.as_str() {
        "raw" => false,
        "hyper" => true,
        other => {
            eprintln!("unknown mode {other}: raw or hyper");
            std::process::exit(2);
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let listener = TcpListener::bind(listen).await.expect("bind");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                if hyper_mode {
                    tokio::spawn(serve_hyper(stream, upstream));
                } else {
                    tokio::spawn(copy_raw(stream, upstream));
                }
            }
        });
}

async fn copy_raw(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut backend) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = backend.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
}

async fn serve_hyper(client_stream: TcpStream, upstream: SocketAddr) {
    let Ok(backend) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = backend.set_nodelay(true);
    let Ok((sender, connection)) = client::handshake(TokioIo::new(backend)).await else {
        return;
    };
    tokio::spawn(connection);
    let sender = Arc::new(Mutex::new(sender));
    let service = service_fn(move |request: Request<Incoming>| {
        let sender = sender.clone();
        async move {
            let mut sender = sender.lock().await;
            let _ = sender.ready().await;
            let response = match sender.send_request(request).await {
                Ok(response) => response.map(Either::Left),
                Err(_) => {
                    let mut bad = Response::new(Either::Right(Empty::<Bytes>::new()));
                    *bad.status_mut() = http::StatusCode::BAD_GATEWAY;
                    bad
                }
            };
            Ok::<_, Infallible>(response)
        }
    });
    let _ = server::Builder::new()
        .serve_connection(TokioIo::new(client_stream), service)
        .await;
}
