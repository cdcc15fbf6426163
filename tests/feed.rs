//! The change feed (`GET /api/v1/events`): event shapes, gap-free reading
//! under concurrent writers, long-polling, and expired cursors.

#[macro_use]
mod common;

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use common::{Backend, TestServer};

on_both_backends!(
    future_cursor_is_rejected,
    wrong_method_is_problem,
    lifecycle_events_in_commit_order,
    long_poll_returns_new_event,
    expired_cursor_is_gone_until_resync
);
on_both_backends!(multi_thread: concurrent_writers_leave_no_gap);

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn events_after(server: &TestServer, token: &str, cursor: &str) -> Value {
    server
        .get_json(token, &format!("/api/v1/events?after={cursor}&limit=1000"))
        .await
}

async fn lifecycle_events_in_commit_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.read_token().await;
    let user = server.create_user("ada").await;
    let title = patch(json!([{"op": "replace", "path": "title", "value": "Engineer"}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Users/{user}"), &title)
            .await
            .status(),
        200
    );
    let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Users/{user}"), &off)
            .await
            .status(),
        200
    );
    let on = patch(json!([{"op": "replace", "path": "active", "value": true}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Users/{user}"), &on)
            .await
            .status(),
        200
    );
    let group = server.create_group("Staff", &[&user]).await;
    let rename = patch(json!([{"op": "replace", "path": "displayName", "value": "Team"}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Groups/{group}"), &rename)
            .await
            .status(),
        204
    );
    assert_eq!(
        server
            .request(Method::DELETE, &format!("/Users/{user}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        server
            .request(Method::DELETE, &format!("/Groups/{group}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    let page = events_after(&server, &token, "0").await;
    let events = page["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "user.created",
            "user.updated",
            "user.deactivated",
            "user.reactivated",
            "group.created",
            "group.member_added",
            "group.updated",
            "group.member_removed",
            "user.deleted",
            "group.deleted",
        ]
    );
    let seqs: Vec<i64> = events
        .iter()
        .map(|event| event["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");
    assert_eq!(page["next_cursor"], events.last().unwrap()["id"]);

    let directory = server
        .store
        .find_directory("default")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(events[0]["directory_id"], directory.id.to_string());
    assert_eq!(events[0]["resource_type"], "user");
    assert_eq!(events[0]["resource_id"], user);
    assert_eq!(events[0]["data"]["user_name"], "ada");
    assert_eq!(events[1]["changed_attributes"], json!(["title"]));
    assert_eq!(events[1]["data"]["title"], "Engineer");
    assert_eq!(events[2]["data"]["active"], false);
    assert_eq!(events[2]["changed_attributes"], json!(["active"]));
    assert_eq!(events[3]["data"]["active"], true);
    assert_eq!(
        events[5]["data"],
        json!({"group": {"id": group, "name": "Staff"}, "member": {"id": user, "type": "user"}})
    );
    assert_eq!(events[6]["data"]["name"], "Team");
    assert_eq!(events[6]["changed_attributes"], json!(["displayName"]));
    // The deleted user's last known state, with the group it was in.
    assert_eq!(events[8]["data"]["title"], "Engineer");
    assert_eq!(
        events[8]["data"]["groups"],
        json!([{"id": group, "name": "Team"}])
    );
    assert_eq!(events[9]["data"]["name"], "Team");

    // The event's data is what the REST API showed for the same state.
    let rest_user = server.create_user("grace").await;
    let shown = server
        .get_json(&token, &format!("/api/v1/users/{rest_user}"))
        .await;
    let later = events_after(&server, &token, page["next_cursor"].as_str().unwrap()).await;
    assert_eq!(later["events"][0]["data"], shown);
    server.stop().await;
}

/// Runs writers concurrently while a consumer tails the feed with
/// long-polls. The consumer must see exactly the committed records, once
/// each and in sequence order, whatever order the transactions commit in.
async fn concurrent_writers_leave_no_gap(backend: Backend) {
    const WRITERS: usize = 4;
    const USERS_PER_WRITER: usize = 12;
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let token = server.read_token().await;
    let group = server.create_group("Everyone", &[]).await;
    let start = events_after(&server, &token, "0").await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let start_seq: i64 = start.parse().unwrap();
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let consumer = {
        let server = server.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let mut cursor = start;
            let mut seen: Vec<(i64, String, String)> = Vec::new();
            let mut empty_after_done = 0;
            // Bounded: writers finish in seconds; a page waits at most 2 s.
            for _ in 0..2000 {
                let page = server
                    .get_json(
                        &token,
                        &format!("/api/v1/events?after={cursor}&limit=7&wait=2"),
                    )
                    .await;
                let events = page["events"].as_array().unwrap();
                for event in events {
                    seen.push((
                        event["id"].as_str().unwrap().parse().unwrap(),
                        event["type"].as_str().unwrap().to_owned(),
                        event["resource_id"].as_str().unwrap().to_owned(),
                    ));
                }
                cursor = page["next_cursor"].as_str().unwrap().to_owned();
                if *done_rx.borrow_and_update() && events.is_empty() {
                    empty_after_done += 1;
                    if empty_after_done == 2 {
                        return seen;
                    }
                }
            }
            panic!("the consumer did not catch up after 2000 pages");
        })
    };

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let server = server.clone();
        let group = group.clone();
        writers.push(tokio::spawn(async move {
            for index in 0..USERS_PER_WRITER {
                let id = server.create_user(&format!("w{writer}-u{index}")).await;
                let add =
                    patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
                let response = server
                    .send(Method::PATCH, &format!("/Groups/{group}"), &add)
                    .await;
                assert_eq!(response.status(), 204);
                let title = patch(
                    json!([{"op": "replace", "path": "title", "value": format!("t{index}")}]),
                );
                let response = server
                    .send(Method::PATCH, &format!("/Users/{id}"), &title)
                    .await;
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    done_tx.send(true).unwrap();
    let seen = consumer.await.unwrap();

    let written: Vec<(i64, String, String)> = server
        .pool
        .change_resources()
        .await
        .into_iter()
        .filter(|(seq, _, _)| *seq > start_seq)
        .collect();
    assert_eq!(written.len(), WRITERS * USERS_PER_WRITER * 3);
    assert_eq!(seen, written);
    let unique: HashSet<i64> = seen.iter().map(|event| event.0).collect();
    assert_eq!(unique.len(), seen.len(), "no event is delivered twice");

    match std::sync::Arc::try_unwrap(server) {
        Ok(server) => server.stop().await,
        Err(_) => panic!("server still shared"),
    }
}

async fn long_poll_returns_new_event(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.read_token().await;
    server.create_user("ada").await;
    let head = events_after(&server, &token, "0").await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let empty = server
        .get_json(&token, &format!("/api/v1/events?after={head}&wait=0"))
        .await;
    assert_eq!(empty, json!({"events": [], "next_cursor": head}));

    let poll_path = format!("/api/v1/events?after={head}&wait=20");
    let poll = server.get_with(&token, &poll_path);
    let write = async {
        // Give the poll a moment to start waiting; the result is the same
        // if it has not, so this only makes the wait path likelier.
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.create_user("grace").await
    };
    let (response, grace) = tokio::join!(poll, write);
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["events"][0]["type"], "user.created");
    assert_eq!(page["events"][0]["resource_id"], grace);

    let response = server.get_with(&token, "/api/v1/events?after=abc").await;
    assert_eq!(response.status(), 400);
    server.stop().await;
}

async fn expired_cursor_is_gone_until_resync(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.read_token().await;
    server.create_user("ada").await;
    server.create_user("bob").await;

    let deleted = server
        .store
        .prune_changes(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(deleted, 2);

    let response = server.get_with(&token, "/api/v1/events?after=0").await;
    assert_eq!(response.status(), 410);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 410);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("GET /api/v1/users"), "{detail}");
    assert!(detail.contains("feed_cursor"), "{detail}");

    // Resynchronise: list, then follow the feed from the listing's cursor.
    let listing = server.get_json(&token, "/api/v1/users").await;
    assert_eq!(listing["data"].as_array().unwrap().len(), 2);
    let cursor = listing["feed_cursor"].as_str().unwrap().to_owned();
    let page = events_after(&server, &token, &cursor).await;
    assert_eq!(page["events"], json!([]));
    let carol = server.create_user("carol").await;
    let page = events_after(&server, &token, &cursor).await;
    assert_eq!(page["events"][0]["resource_id"], carol);
    server.stop().await;
}

/// A cursor beyond the newest event was never issued (a restored or
/// replaced database): following it would skip events silently.
async fn future_cursor_is_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.read_token().await;
    server.create_user("ada@example.com").await;
    let response = server.get_with(&token, "/api/v1/events?after=999999").await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Resynchronise"),
        "{problem}"
    );
    let page = events_after(&server, &token, "0").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    server.stop().await;
}

async fn wrong_method_is_problem(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.read_token().await;
    let response = server
        .client
        .post(format!("{}/api/v1/users", server.origin))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}"
    );
    server.stop().await;
}
