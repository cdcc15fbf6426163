//! Start-up and graceful shutdown, as functions that tests can call.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::ServiceExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::util::MapRequestLayer;
use tower::Layer;

use crate::config::{PublicUrl, Secret};
use crate::feed::FeedSettings;
use crate::http::{normalize_path, router, AppState, Limits};
use crate::jwt::JwtVerifier;
use crate::store::{SharedStore, StoreError};
use crate::webhook::{dispatcher, WebhookSettings};

/// Name of the directory that exists after the first start.
pub const DEFAULT_DIRECTORY: &str = "default";

/// Server settings besides the listener.
#[derive(Clone)]
pub struct ServerConfig {
    /// Public base URL for links.
    pub public_url: Option<PublicUrl>,
    /// Request limits.
    pub limits: Limits,
    /// JWT validation for the application API; `None` accepts API tokens only.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Admin API token; `None` disables the admin API.
    pub admin_token: Option<Secret>,
    /// Change feed retention and long-poll bound.
    pub feed: FeedSettings,
    /// Webhook dispatcher settings.
    pub webhooks: WebhookSettings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public_url: None,
            limits: default_limits(),
            jwt: None,
            admin_token: None,
            feed: FeedSettings::default(),
            webhooks: WebhookSettings::default(),
        }
    }
}

/// Creates the `default` directory if it does not exist yet.
pub async fn prepare(store: &SharedStore) -> Result<(), StoreError> {
    let directory = store.ensure_directory(DEFAULT_DIRECTORY).await?;
    tracing::debug!(directory.id = %directory.id, "default directory ready");
    Ok(())
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
///
/// Background workers start and stop with the server: the change listener
/// (which wakes long-polls and the dispatcher), the webhook dispatcher and
/// the pruning task. On shutdown they finish their current step.
pub async fn run<F>(
    store: SharedStore,
    config: ServerConfig,
    listener: TcpListener,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (change_tx, change_rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);

    let mut workers = JoinSet::new();
    workers.spawn(listen_for_changes(
        store.clone(),
        change_tx,
        stop_rx.clone(),
    ));
    workers.spawn(dispatcher::run(
        store.clone(),
        config.webhooks,
        change_rx.clone(),
        stop_rx.clone(),
    ));
    workers.spawn(prune_changes(store.clone(), config.feed, stop_rx.clone()));

    let state = AppState {
        store,
        public_url: config.public_url,
        jwt: config.jwt,
        admin_token: config.admin_token,
        feed: config.feed,
        change_signal: change_rx,
        shutdown: stop_rx,
    };
    let app = MapRequestLayer::new(normalize_path::<axum::body::Body>)
        .layer(router(state, config.limits));
    let address = listener.local_addr()?;
    tracing::info!(listen = %address, "scimgate listening");
    let stop_on_shutdown = stop_tx.clone();
    let served = axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Wake long-polls so that draining does not wait for them.
            stop_on_shutdown.send_replace(true);
        })
        .await;

    stop_tx.send_replace(true);
    while let Some(result) = workers.join_next().await {
        if let Err(err) = result {
            tracing::error!(error = %err, "background worker failed");
        }
    }
    served?;
    tracing::info!("scimgate stopped");
    Ok(())
}

/// Keeps a change listener connected, reconnecting after errors.
async fn listen_for_changes(
    store: SharedStore,
    signal: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    const RECONNECT_DELAY: Duration = Duration::from_secs(1);
    while !*stop.borrow() {
        tokio::select! {
            result = store.watch_changes(&signal) => {
                if let Err(err) = result {
                    tracing::warn!(error = %err, retry_in_secs = RECONNECT_DELAY.as_secs(),
                        "change listener failed; long-polls fall back to periodic reads until it reconnects");
                }
                tokio::select! {
                    () = tokio::time::sleep(RECONNECT_DELAY) => {}
                    _ = stop.changed() => {}
                }
            }
            _ = stop.changed() => {}
        }
    }
}

/// Deletes change records older than the retention, once per interval.
async fn prune_changes(
    store: SharedStore,
    settings: FeedSettings,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let retention =
            chrono::Duration::from_std(settings.retention).unwrap_or(chrono::Duration::MAX);
        let cutoff = chrono::Utc::now()
            .checked_sub_signed(retention)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        match store.prune_changes(cutoff).await {
            Ok(0) => tracing::debug!("no change records to prune"),
            Ok(deleted) => {
                tracing::info!(deleted, cutoff = %cutoff, "pruned change records older than the retention")
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in_secs = settings.prune_interval.as_secs(),
                "failed to prune change records; retrying at the next interval")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(settings.prune_interval) => {}
            _ = stop.changed() => {}
        }
    }
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
