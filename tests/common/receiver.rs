//! A real webhook receiver on a loopback port. It verifies every request
//! with the Standard Webhooks reference library (`standardwebhooks`),
//! records it, and responds as the test sets it to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::sync::{oneshot, watch, Notify};

/// How the receiver responds to the next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 204 No Content.
    Accept,
    /// This status for every request.
    Fail(u16),
    /// This status for the next request only, then accept.
    FailOnce(u16),
    /// Hold the next request open until [`Receiver::release`], then accept.
    HoldOnce,
}

/// One received request.
#[derive(Clone, Debug)]
pub struct Received {
    /// `webhook-id` header.
    pub webhook_id: String,
    /// Whether the signature verified with the endpoint's secret.
    pub verified: bool,
    /// The parsed body.
    pub event: Value,
    /// The status the receiver responded with (0 for a request held and dropped).
    pub status: u16,
}

struct Shared {
    secret: Mutex<Option<String>>,
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
    changed: watch::Sender<usize>,
    release: Notify,
}

/// A running receiver.
pub struct Receiver {
    /// URL to register as the endpoint.
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1 with a free port.
    pub async fn start() -> Receiver {
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            secret: Mutex::new(None),
            behaviour: Mutex::new(Behaviour::Accept),
            received: Mutex::new(Vec::new()),
            changed,
            release: Notify::new(),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            url,
            shared,
            stop: Some(stop),
        }
    }

    /// Sets the signing secret to verify with.
    pub fn set_secret(&self, secret: &str) {
        *self.shared.secret.lock().unwrap() = Some(secret.to_owned());
    }

    /// Sets how the receiver responds to the next requests.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// Lets a held request finish.
    pub fn release(&self) {
        self.shared.release.notify_one();
    }

    /// Returns every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the received requests, failing after
    /// `bound`.
    pub async fn wait_until(
        &self,
        bound: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) {
        let mut changed = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if done(&self.received()) {
                    return;
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(bound, wait).await.is_err() {
            panic!(
                "timed out after {bound:?} waiting for {what}; received: {:#?}",
                self.received()
            );
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = shared.secret.lock().unwrap().clone();
    let verified = secret
        .map(|secret| {
            standardwebhooks::Webhook::new(&secret)
                .and_then(|webhook| webhook.verify(&body, &headers))
                .is_ok()
        })
        .unwrap_or(false);
    let behaviour = {
        let mut current = shared.behaviour.lock().unwrap();
        let now = *current;
        if matches!(now, Behaviour::FailOnce(_) | Behaviour::HoldOnce) {
            *current = Behaviour::Accept;
        }
        now
    };
    let mut record = Received {
        webhook_id: headers
            .get("webhook-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        verified,
        event: serde_json::from_slice(&body).unwrap_or(Value::Null),
        status: 0,
    };
    let status = match behaviour {
        Behaviour::Accept => StatusCode::NO_CONTENT,
        Behaviour::Fail(code) | Behaviour::FailOnce(code) => StatusCode::from_u16(code).unwrap(),
        Behaviour::HoldOnce => {
            // Record the held request first, so that a test can see it is
            // in flight; if the sender dies, this future is dropped here.
            shared.received.lock().unwrap().push(record.clone());
            shared.changed.send_modify(|count| *count += 1);
            shared.release.notified().await;
            return StatusCode::NO_CONTENT;
        }
    };
    record.status = status.as_u16();
    shared.received.lock().unwrap().push(record);
    shared.changed.send_modify(|count| *count += 1);
    status
}
