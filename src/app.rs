//! Start-up and graceful shutdown, as functions that tests can call.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::ServiceExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::util::MapRequestLayer;
use tower::Layer;

use crate::auth::generate_token;
use crate::config::{PublicUrl, Secret};
use crate::feed::FeedSettings;
use crate::http::{normalize_path, router, AppState, Limits};
use crate::jwt::JwtVerifier;
use crate::store::{SharedStore, StoreError, TokenScope};
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

/// Creates a SCIM token for the `default` directory when the store contains
/// no token at all (revoked ones count), and returns its secret. This is
/// the first start of a new store: afterwards it returns `None`, also when
/// several servers start at once on one database (the store checks and
/// inserts atomically), so the secret is shown once.
pub async fn create_first_token(store: &SharedStore) -> Result<Option<String>, StoreError> {
    let directory = store.ensure_directory(DEFAULT_DIRECTORY).await?;
    let token = generate_token();
    let created = store
        .create_first_token(
            directory.id,
            TokenScope::Scim,
            &token.lookup_prefix,
            &token.hash,
        )
        .await?;
    Ok(created.map(|record| {
        tracing::info!(token.id = %record.id, directory.id = %directory.id,
            "created the first SCIM token");
        token.secret
    }))
}

/// Builds the SCIM base URL (RFC 7644 §1.3) to show operators: `--public-url`
/// when set, else the listen address, with a loopback address in place of
/// an unspecified one (`0.0.0.0` or `::`), which no client can connect to.
pub fn scim_base_url(public_url: Option<&PublicUrl>, listen: SocketAddr) -> String {
    if let Some(url) = public_url {
        return format!("{}/scim/v2", url.as_str());
    }
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    format!("http://{address}/scim/v2")
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
        max_body_bytes: config.limits.max_body_bytes,
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

/// Returns a future that completes on Ctrl-C or SIGTERM. On Unix the
/// handlers are installed when this function is called, not when the future
/// is first polled, because until then a SIGTERM would end the process at
/// once instead of shutting it down gracefully. Call it before the server
/// reports that it is listening.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (interrupt, terminate) = signals;
            let interrupt = wait_for(interrupt, "SIGINT");
            let terminate = wait_for(terminate, "SIGTERM");
            tokio::select! {
                () = interrupt => {},
                () = terminate => {},
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "failed to listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown requested, finishing in-flight requests");
    }
}

/// Waits for one signal; waits forever if its handler could not be installed.
#[cfg(unix)]
async fn wait_for(handler: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match handler {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(err) => {
            tracing::error!(error = %err, signal = name, "failed to listen for the signal");
            std::future::pending::<()>().await;
        }
    }
}

/// Returns the default request limits.
pub fn default_limits() -> Limits {
    Limits {
        max_body_bytes: 1024 * 1024,
        request_timeout: Duration::from_secs(30),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_public_url;

    #[test]
    fn base_url_prefers_public_url() {
        let public = parse_public_url("https://scim.example.com/").unwrap();
        let listen: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(
            scim_base_url(Some(&public), listen),
            "https://scim.example.com/scim/v2"
        );
    }

    #[test]
    fn base_url_replaces_unspecified_address() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let v6: SocketAddr = "[::]:8443".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(scim_base_url(None, v4), "http://127.0.0.1:8080/scim/v2");
        assert_eq!(scim_base_url(None, v6), "http://[::1]:8443/scim/v2");
        assert_eq!(scim_base_url(None, local), "http://127.0.0.1:9000/scim/v2");
    }
}
