//! Connections: the accept loop, one task per connection (with the socket duplicate that
//! lets a fault reset it), and the async handler that sends admin requests to
//! [`super::admin`] and Graph requests through [`super::pipeline`], sleeping the simulated
//! network time around them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;

use super::admin::admin;
use super::body::RespBody;
use super::pipeline::Outcome;
use super::types::Shared;

/// Answers one HTTP request: admin routes directly, Graph requests after the arrival
/// jitter, with their latency, or by resetting the connection.
async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    kill: Arc<Notify>,
) -> Response<RespBody> {
    if req.uri().path().starts_with("/__emulator") {
        return admin(shared, req).await;
    }
    let travel = shared.arrival_delay();
    if !travel.is_zero() {
        tokio::time::sleep(travel).await;
    }
    let outcome = shared.graph(
        req.method(),
        req.uri().path(),
        req.uri().query(),
        req.headers(),
    );
    match outcome {
        Outcome::Respond(resp, delay) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            resp
        }
        Outcome::Reset => {
            kill.notify_one();
            // The connection task drops this future when it resets the socket.
            std::future::pending().await
        }
    }
}

/// Serves one TCP connection until it closes, or resets it when a handler asks to.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    // A duplicate of the socket lets us set SO_LINGER=0 after hyper took the stream, so that
    // dropping both sends an RST: the client sees "connection reset", not a clean close.
    let (stream, dup) = match stream.into_std().and_then(|s| {
        let dup = s.try_clone()?;
        Ok((TcpStream::from_std(s)?, TcpStream::from_std(dup)?))
    }) {
        Ok(pair) => pair,
        Err(_) => return,
    };
    let kill = Arc::new(Notify::new());
    let svc_kill = kill.clone();
    let svc = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let kill = svc_kill.clone();
        async move { Ok::<_, Infallible>(handle(shared, req, kill).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {
            let _ = dup.set_zero_linger();
        }
    }
}

/// Accepts connections until `shutdown` fires, then aborts every open connection.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve_connection(stream, shared.clone()));
                }
                // Out of file descriptors and the like: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
