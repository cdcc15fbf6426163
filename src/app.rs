//! Start-up and graceful shutdown, as functions that tests can call.

use std::future::Future;
use std::time::Duration;

use axum::extract::Request;
use axum::ServiceExt;
use tokio::net::TcpListener;
use tower::util::MapRequestLayer;
use tower::Layer;

use crate::config::PublicUrl;
use crate::http::{normalize_path, router, AppState, Limits};
use crate::store::{SharedStore, StoreError};

/// Name of the directory that exists after the first start.
pub const DEFAULT_DIRECTORY: &str = "default";

/// Server settings besides the listener.
#[derive(Clone)]
pub struct ServerConfig {
    /// Public base URL for links.
    pub public_url: Option<PublicUrl>,
    /// Request limits.
    pub limits: Limits,
}

/// Creates the `default` directory if it does not exist yet.
pub async fn prepare(store: &SharedStore) -> Result<(), StoreError> {
    let directory = store.ensure_directory(DEFAULT_DIRECTORY).await?;
    tracing::debug!(directory.id = %directory.id, "default directory ready");
    Ok(())
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn run<F>(
    store: SharedStore,
    config: ServerConfig,
    listener: TcpListener,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let state = AppState {
        store,
        public_url: config.public_url,
        max_body_bytes: config.limits.max_body_bytes,
    };
    let app = MapRequestLayer::new(normalize_path::<axum::body::Body>)
        .layer(router(state, config.limits));
    let address = listener.local_addr()?;
    tracing::info!(listen = %address, "scimgate listening");
    axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("scimgate stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "failed to listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested, finishing in-flight requests");
}

/// Returns the default request limits.
pub fn default_limits() -> Limits {
    Limits {
        max_body_bytes: 1024 * 1024,
        request_timeout: Duration::from_secs(30),
    }
}
