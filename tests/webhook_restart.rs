//! Crash safety of webhook delivery: the real `scimgate` binary is killed
//! (SIGKILL) while a delivery is in flight, a new process is started on the
//! same database, and every event must still reach the receiver.

#[macro_use]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use common::receiver::{Behaviour, Receiver};
use common::{create_token, Backend, TestDatabase};
use scimgate::store::TokenScope;

on_both_backends!(killed_server_loses_no_delivery);

const ADMIN_TOKEN: &str = "admin-token-for-tests";
const BOUND: Duration = Duration::from_secs(30);

/// A `scimgate serve` process on a free loopback port.
struct Process {
    child: Child,
    origin: String,
}

impl Process {
    async fn start(database_url: &str) -> Process {
        // Ask the OS for a free port, then hand it to the process.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_scimgate"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", database_url)
            .env("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SCIMGATE_WEBHOOK_TIMEOUT_SECS", "2")
            .env("SCIMGATE_WEBHOOK_LEASE_SECS", "3")
            .env("SCIMGATE_WEBHOOK_RETRY_BASE_MS", "200")
            .env("SCIMGATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scimgate");
        let origin = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(response) = client.get(format!("{origin}/healthz")).send().await {
                if response.status() == 200 {
                    return Process { child, origin };
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("scimgate did not become ready on {origin}");
    }

    fn kill(mut self) {
        self.child.kill().expect("kill scimgate");
        self.child.wait().expect("reap scimgate");
    }
}

async fn create_user(
    client: &reqwest::Client,
    process: &Process,
    token: &str,
    name: &str,
) -> String {
    let response = client
        .request(Method::POST, format!("{}/scim/v2/Users", process.origin))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "create {name}");
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn killed_server_loses_no_delivery(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let url = database.url.clone();
    let first = Process::start(&url).await;
    let store = scimgate::store::connect(&url, 2).await.unwrap();
    let pool = database.pool().await;
    let token = create_token(store.as_ref(), "default", TokenScope::Scim).await;
    let client = reqwest::Client::new();

    let receiver = Receiver::start().await;
    let response = client
        .post(format!(
            "{}/admin/v1/directories/default/webhooks",
            first.origin
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"url": receiver.url, "event_types": ["user.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let endpoint: Value = response.json().await.unwrap();
    receiver.set_secret(endpoint["secret"].as_str().unwrap());

    // The first delivery is held open by the receiver while the server dies.
    receiver.set_behaviour(Behaviour::HoldOnce);
    let mut users = Vec::new();
    for index in 0..5 {
        users.push(create_user(&client, &first, &token, &format!("before{index}")).await);
    }
    receiver
        .wait_until(BOUND, "the first delivery in flight", |received| {
            !received.is_empty()
        })
        .await;
    first.kill();
    receiver.release();

    let second = Process::start(&url).await;
    for index in 0..3 {
        users.push(create_user(&client, &second, &token, &format!("after{index}")).await);
    }

    receiver
        .wait_until(BOUND, "every user.created delivered", |received| {
            users.iter().all(|id| {
                received
                    .iter()
                    .any(|r| r.status == 204 && r.event["resource_id"] == id.as_str())
            })
        })
        .await;
    let received = receiver.received();
    assert!(received.iter().all(|r| r.verified), "{received:#?}");
    // The delivery cut off by the kill was sent again with the same id.
    let held = &received[0];
    let resent = received
        .iter()
        .filter(|r| r.webhook_id == held.webhook_id && r.status == 204)
        .count();
    assert_eq!(resent, 1, "{received:#?}");

    // The receiver responds before the dispatcher records the outcome, so
    // wait (bounded) for the log to catch up.
    let mut pending: i64 = -1;
    for _ in 0..100 {
        pending = pool
            .count("select count(*) from webhook_deliveries where status <> 'delivered'")
            .await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending, 0);
    let delivered = pool.count("select count(*) from webhook_deliveries").await;
    assert_eq!(delivered, 8);

    second.kill();
    pool.close().await;
    drop(store);
    database.remove().await;
}
