//! Webhooks against a real receiver on a loopback port: Standard Webhooks
//! signatures, event filters, retries in order per resource, disabling a
//! failing endpoint, and the admin API.

#[macro_use]
mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use common::receiver::{Behaviour, Receiver};
use common::{Backend, TestServer};
use scimgate::webhook::retry::RetryPolicy;

on_both_backends!(
    deliveries_signed_filtered_and_equal_to_feed,
    retry_keeps_resource_order,
    failing_endpoint_disabled_then_resumed,
    admin_api_checks_token_and_input
);
on_both_backends!(multi_thread: two_replicas_send_each_delivery_once);

const ADMIN_TOKEN: &str = "admin-token-for-tests";
const BOUND: Duration = Duration::from_secs(20);

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// Starts a server whose dispatcher retries fast and disables an endpoint
/// after three failed attempts.
async fn start_server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |config| {
        config.admin_token = Some(scimgate::config::Secret(ADMIN_TOKEN.into()));
        config.webhooks.poll_interval = Duration::from_millis(50);
        config.webhooks.retry = RetryPolicy {
            base: Duration::from_millis(400),
            max: Duration::from_secs(2),
            disable_after_failures: 3,
            disable_after: Duration::ZERO,
        };
    })
    .await
}

async fn admin(
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .client
        .request(method, format!("{}/admin/v1{path}", server.origin))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Registers `receiver` for the default directory and returns the endpoint id.
async fn register(server: &TestServer, receiver: &Receiver, event_types: Value) -> String {
    let (status, endpoint) = admin(
        server,
        Method::POST,
        "/directories/default/webhooks",
        Some(json!({"url": receiver.url, "event_types": event_types})),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    receiver.set_secret(endpoint["secret"].as_str().unwrap());
    endpoint["id"].as_str().unwrap().to_owned()
}

async fn deliveries_signed_filtered_and_equal_to_feed(backend: Backend) {
    let server = start_server(backend).await;
    let all = Receiver::start().await;
    let members_only = Receiver::start().await;
    register(&server, &all, json!([])).await;
    register(&server, &members_only, json!(["group.member_added"])).await;

    let ada = server.create_user("ada").await;
    let title = patch(json!([{"op": "replace", "path": "title", "value": "Engineer"}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Users/{ada}"), &title)
            .await
            .status(),
        200
    );
    let group = server.create_group("Staff", &[&ada]).await;

    all.wait_until(BOUND, "four events", |received| received.len() == 4)
        .await;
    members_only
        .wait_until(BOUND, "one member event", |received| received.len() == 1)
        .await;

    // Deliveries keep their order per resource; different resources may
    // arrive interleaved.
    let received = all.received();
    let types_of = |resource: &str| -> Vec<&str> {
        received
            .iter()
            .filter(|r| r.event["resource_id"] == resource)
            .map(|r| r.event["type"].as_str().unwrap())
            .collect()
    };
    assert_eq!(types_of(&ada), vec!["user.created", "user.updated"]);
    assert_eq!(
        types_of(&group),
        vec!["group.created", "group.member_added"]
    );
    assert!(
        received.iter().all(|r| r.verified),
        "every signature verifies: {received:#?}"
    );
    assert!(received.iter().all(|r| r.webhook_id.starts_with("msg_")));

    // The payload is the feed's event, byte for byte as JSON.
    let token = server.read_token().await;
    let feed = server.get_json(&token, "/api/v1/events?after=0").await;
    let bodies: Vec<Value> = received.iter().map(|r| r.event.clone()).collect();
    assert_eq!(Value::Array(bodies), feed["events"]);

    let member = &members_only.received()[0];
    assert!(member.verified);
    assert_eq!(member.event["type"], "group.member_added");
    assert_eq!(member.event["data"]["group"]["id"], group);
    server.stop().await;
}

/// Reads an endpoint's delivery log once every delivery in it is
/// delivered. It waits (bounded) because the receiver responds before the
/// dispatcher records the outcome.
async fn settled_log(server: &TestServer, endpoint: &str) -> Value {
    let path = format!("/webhooks/{endpoint}/deliveries");
    for _ in 0..200 {
        let (status, log) = admin(server, Method::GET, &path, None).await;
        assert_eq!(status, 200);
        let rows = log["data"].as_array().unwrap();
        if !rows.is_empty() && rows.iter().all(|row| row["status"] == "delivered") {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the delivery log of {endpoint} did not settle");
}

async fn retry_keeps_resource_order(backend: Backend) {
    let server = start_server(backend).await;
    let receiver = Receiver::start().await;
    let endpoint = register(&server, &receiver, json!(["user.created", "user.updated"])).await;
    receiver.set_behaviour(Behaviour::FailOnce(503));

    let ada = server.create_user("ada").await;
    let title = patch(json!([{"op": "replace", "path": "title", "value": "Engineer"}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Users/{ada}"), &title)
            .await
            .status(),
        200
    );

    receiver
        .wait_until(BOUND, "both events accepted", |received| {
            received.iter().filter(|r| r.status == 204).count() == 2
        })
        .await;
    let seen: Vec<(String, u16)> = receiver
        .received()
        .iter()
        .map(|r| (r.event["type"].as_str().unwrap().to_owned(), r.status))
        .collect();
    // The update waits behind the failed creation of the same user.
    assert_eq!(
        seen,
        vec![
            ("user.created".to_owned(), 503),
            ("user.created".to_owned(), 204),
            ("user.updated".to_owned(), 204),
        ]
    );
    let received = receiver.received();
    assert_eq!(
        received[0].webhook_id, received[1].webhook_id,
        "a retry keeps its webhook-id"
    );

    let log = settled_log(&server, &endpoint).await;
    let rows = log["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["event_type"], "user.updated");
    assert_eq!(rows[0]["attempts"], 1);
    assert_eq!(rows[1]["event_type"], "user.created");
    assert_eq!(rows[1]["status"], "delivered");
    assert_eq!(rows[1]["attempts"], 2);
    assert_eq!(rows[1]["last_status_code"], 204);
    assert_eq!(rows[1]["last_error"], Value::Null);
    server.stop().await;
}

async fn failing_endpoint_disabled_then_resumed(backend: Backend) {
    // Retries 1 to 2 s and 2 to 4 s apart: disabling after the third failure
    // happens long before a fourth attempt could be due.
    let server = TestServer::start_with(backend, |config| {
        config.admin_token = Some(scimgate::config::Secret(ADMIN_TOKEN.into()));
        config.webhooks.poll_interval = Duration::from_millis(50);
        config.webhooks.retry = RetryPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(8),
            disable_after_failures: 3,
            disable_after: Duration::ZERO,
        };
    })
    .await;
    let receiver = Receiver::start().await;
    let endpoint = register(&server, &receiver, json!([])).await;
    receiver.set_behaviour(Behaviour::Fail(500));

    server.create_user("ada").await;
    receiver
        .wait_until(BOUND, "three failed attempts", |received| {
            received.len() >= 3
        })
        .await;

    // The endpoint is disabled once the third failure is recorded.
    let mut state = Value::Null;
    for _ in 0..200 {
        let (_, body) = admin(&server, Method::GET, &format!("/webhooks/{endpoint}"), None).await;
        if body["enabled"] == false {
            state = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["enabled"], false, "endpoint not disabled: {state}");
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(state["consecutive_failures"], 3);
    assert_eq!(
        state["disabled_reason"],
        "disabled automatically after 3 consecutive failed attempts over at least 0 s"
    );
    let (_, log) = admin(
        &server,
        Method::GET,
        &format!("/webhooks/{endpoint}/deliveries"),
        None,
    )
    .await;
    let row = &log["data"][0];
    assert_eq!(row["status"], "pending");
    assert_eq!(row["attempts"], 3);
    assert_eq!(row["last_status_code"], 500);
    assert_eq!(
        row["last_error"],
        "the receiver answered HTTP 500 Internal Server Error"
    );

    // Disabled endpoints get no new deliveries.
    server.create_user("bob").await;
    assert_eq!(receiver.received().len(), 3);

    // Re-enabled, the pending delivery goes out.
    receiver.set_behaviour(Behaviour::Accept);
    let (status, enabled) = admin(
        &server,
        Method::PATCH,
        &format!("/webhooks/{endpoint}"),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["consecutive_failures"], 0);
    receiver
        .wait_until(BOUND, "the retried delivery", |received| {
            received.len() == 4
        })
        .await;
    let last = &receiver.received()[3];
    assert_eq!(last.status, 204);
    assert_eq!(last.event["data"]["user_name"], "ada");
    assert!(last.verified);
    server.stop().await;
}

async fn admin_api_checks_token_and_input(backend: Backend) {
    let server = start_server(backend).await;
    // Registered endpoints point here, never at a port this test did not open.
    let receiver = Receiver::start().await;
    let url = format!("{}/admin/v1/directories/default/webhooks", server.origin);

    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = server
        .client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = server
        .client
        .get(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "a SCIM token is not the admin token"
    );

    let bad = [
        (json!({"url": "ftp://example.com"}), "ftp://example.com"),
        (
            json!({"url": receiver.url, "event_types": ["user.exploded"]}),
            "user.exploded",
        ),
        (json!({"url": receiver.url, "secret": "plain"}), "whsec_"),
        (json!({"url": receiver.url, "colour": "blue"}), "colour"),
    ];
    for (body, expected) in bad {
        let (status, problem) = admin(
            &server,
            Method::POST,
            "/directories/default/webhooks",
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{problem}"
        );
    }
    let (status, _) = admin(
        &server,
        Method::POST,
        "/directories/nope/webhooks",
        Some(json!({"url": receiver.url})),
    )
    .await;
    assert_eq!(status, 404);

    let (status, created) = admin(
        &server,
        Method::POST,
        "/directories/default/webhooks",
        Some(json!({"url": receiver.url, "event_types": ["user.deleted"]})),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    let (_, list) = admin(&server, Method::GET, "/directories/default/webhooks", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["event_types"], json!(["user.deleted"]));
    assert_eq!(
        list["data"][0].get("secret"),
        None,
        "the secret is shown only at creation"
    );
    let (status, _) = admin(&server, Method::DELETE, &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = admin(&server, Method::GET, &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, 404);
    server.stop().await;

    let unconfigured = TestServer::start(backend).await;
    let response = unconfigured
        .client
        .get(format!(
            "{}/admin/v1/directories/default/webhooks",
            unconfigured.origin
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "no admin token configured");
    unconfigured.stop().await;
}

async fn two_replicas_send_each_delivery_once(backend: Backend) {
    let server = start_server(backend).await;
    let receiver = Receiver::start().await;
    register(&server, &receiver, json!(["user.created"])).await;

    // A second replica on the same database, with its own store (a pool of
    // its own) and dispatcher. On SQLite both claim under the file's write
    // lock; on PostgreSQL with `skip locked`.
    let replica_store = scimgate::store::connect(server.database_url(), 5)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut config = scimgate::app::ServerConfig::default();
    config.webhooks.poll_interval = Duration::from_millis(50);
    let replica = tokio::spawn(scimgate::app::run(
        replica_store.clone(),
        config,
        listener,
        async {
            let _ = stopped.await;
        },
    ));

    const USERS: usize = 30;
    for index in 0..USERS {
        server.create_user(&format!("user{index}")).await;
    }
    receiver
        .wait_until(BOUND, "every user.created", |received| {
            received.len() >= USERS
        })
        .await;
    // Wait (bounded) until every outcome is recorded. An attempt reaches
    // the receiver before its outcome is written, so after this no attempt
    // can still be on its way.
    let mut delivered: i64 = 0;
    for _ in 0..200 {
        delivered = server
            .pool
            .count("select count(*) from webhook_deliveries where status = 'delivered'")
            .await;
        if delivered == i64::try_from(USERS).unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, i64::try_from(USERS).unwrap());
    let attempted_once = server
        .pool
        .count("select count(*) from webhook_deliveries where attempts = 1")
        .await;
    assert_eq!(attempted_once, i64::try_from(USERS).unwrap());

    let received = receiver.received();
    let ids: std::collections::HashSet<&str> =
        received.iter().map(|r| r.webhook_id.as_str()).collect();
    assert_eq!(ids.len(), USERS);
    assert_eq!(received.len(), USERS, "no delivery was attempted twice");

    stop.send(()).unwrap();
    replica.await.unwrap().unwrap();
    // The replica's pool must be closed before the database is removed.
    drop(replica_store);
    server.stop().await;
}
