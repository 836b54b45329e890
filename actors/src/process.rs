//! The process around a node's actors, shared by full nodes and light
//! clients: why a start fails, the HTTP servers and actor threads a clean
//! stop waits for, and the signals that start the stop.

use actix::prelude::*;

use crate::threads::{label_current_thread, ThreadRole};

/// Why a node could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error("{0}")]
    Start(String),
}

pub(crate) fn start_err(what: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Start(format!("{what}: {e}"))
}

/// What a clean stop waits for before the process exits: the HTTP servers
/// (their workers hold store handles) and the actor threads (their actors
/// own the stores). Every RocksDB database must be closed by then: RocksDB's
/// static state is torn down at exit, and a database still open in another
/// thread aborts the process ("pthread lock: Invalid argument").
struct Running {
    servers: Vec<actix_web::dev::ServerHandle>,
    threads: Vec<Arbiter>,
}

static RUNNING: std::sync::Mutex<Running> = std::sync::Mutex::new(Running {
    servers: Vec::new(),
    threads: Vec::new(),
});

fn running() -> std::sync::MutexGuard<'static, Running> {
    // The lists stay valid whatever a panicking holder was doing.
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves `server` on the current system until the node stops.
pub(crate) fn spawn_server(server: actix_web::dev::Server) {
    running().servers.push(server.handle());
    actix_rt::spawn(server);
}

/// How long a stopping HTTP server lets requests in progress finish.
pub(crate) const SERVER_SHUTDOWN_SECS: u64 = 2;

/// Stops and joins every actor thread (after the event loop has ended).
pub(crate) fn join_threads() {
    let threads = std::mem::take(&mut running().threads);
    for thread in threads {
        thread.stop();
        if thread.join().is_err() {
            tracing::warn!("an actor thread panicked while stopping");
        }
    }
}

pub(crate) fn stop_on_signals() {
    actix_rt::spawn(async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot watch SIGTERM: {e}");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stopping");
        // Requests in progress get a moment to finish (long polls are cut
        // at SERVER_SHUTDOWN_SECS); then the workers and their store
        // handles are gone.
        let servers = std::mem::take(&mut running().servers);
        for server in servers {
            server.stop(true).await;
        }
        System::current().stop();
    });
}

/// A new actix arbiter (thread and event loop) for one actor, named and
/// weighted by its role; the system stops it on shutdown.
pub(crate) fn own_thread(
    name: String,
    role: ThreadRole,
) -> Result<actix::ArbiterHandle, NodeError> {
    let arbiter = Arbiter::try_new().map_err(|e| start_err("cannot start an actor thread", e))?;
    let handle = arbiter.handle();
    handle.spawn_fn(move || label_current_thread(&name, role));
    running().threads.push(arbiter);
    Ok(handle)
}

/// Bytes available to the node and the size of the file system holding
/// `data_dir` (statvfs), for the disk gauges; `None` if it cannot be read.
pub fn data_dir_bytes(data_dir: &std::path::Path) -> Option<(i64, i64)> {
    let fs = rustix::fs::statvfs(data_dir).ok()?;
    let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(fs.f_frsize)).unwrap_or(i64::MAX);
    Some((bytes(fs.f_bavail), bytes(fs.f_blocks)))
}

/// The text a metrics scrape answers, rendered at each scrape.
pub type RenderMetrics = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `GET /metrics` on `addr` (Prometheus text from `render`), on one
/// worker thread of its own: full nodes and light clients alike.
pub fn serve_metrics_text(
    addr: std::net::SocketAddr,
    render: RenderMetrics,
) -> Result<(), NodeError> {
    let server = actix_web::HttpServer::new(move || {
        // The factory runs once on each worker thread.
        label_current_thread("strata-metrics", ThreadRole::Background);
        let render = render.clone();
        actix_web::App::new().route(
            "/metrics",
            actix_web::web::get().to(move || {
                let text = render();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4; charset=utf-8")
                        .body(text)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(SERVER_SHUTDOWN_SECS)
    .bind(addr)
    .map_err(|e| NodeError::Start(format!("cannot listen for metrics on {addr}: {e}")))?
    .run();
    spawn_server(server);
    Ok(())
}
