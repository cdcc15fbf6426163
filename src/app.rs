//! Start-up and graceful shutdown, as functions that tests can call.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::extract::Request;
use axum::ServiceExt;
use tokio::net::TcpListener;
use tower::util::MapRequestLayer;
use tower::Layer;

use crate::auth::generate_token;
use crate::config::PublicUrl;
use crate::http::{normalize_path, router, AppState, Limits};
use crate::store::{SharedStore, StoreError, TokenScope};

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
