//! Concurrent writers over HTTP: parallel PATCHes on one group lose nothing
//! and record one change each, in sequence order.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use common::{json_body, Backend, TestServer};

on_both_backends!(parallel_member_adds_lose_nothing);

/// Number of parallel PATCH requests; more than the server's pool size (5),
/// so that requests also queue for connections.
const WRITERS: usize = 16;

async fn parallel_member_adds_lose_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let group = server.create_group("Everyone", &[]).await;
    let mut users = Vec::with_capacity(WRITERS);
    for index in 0..WRITERS {
        users.push(
            server
                .create_user(&format!("user{index}@example.com"))
                .await,
        );
    }
    let changes_before = server.pool.changes().await.len();

    let mut tasks = Vec::with_capacity(WRITERS);
    for user in &users {
        let request = server
            .request(Method::PATCH, &format!("/Groups/{group}"))
            .header("content-type", "application/scim+json")
            .body(
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}],
                })
                .to_string(),
            );
        tasks.push(tokio::spawn(async move {
            request.send().await.expect("PATCH").status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), 204);
    }

    let body = json_body(server.get(&format!("/Groups/{group}")).await).await;
    let members: BTreeSet<String> = body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|member| member["value"].as_str().expect("value").to_owned())
        .collect();
    let expected: BTreeSet<String> = users.iter().cloned().collect();
    assert_eq!(members, expected);
    assert_eq!(
        body["meta"]["version"],
        Value::from(format!("W/\"{}\"", WRITERS + 1))
    );

    let changes = server.pool.changes().await;
    let added: Vec<i64> = changes[changes_before..]
        .iter()
        .filter(|(_, kind)| kind == "group.member_added")
        .map(|(seq, _)| *seq)
        .collect();
    assert_eq!(added.len(), WRITERS);
    assert_eq!(changes.len() - changes_before, WRITERS, "no other records");
    for pair in changes.windows(2) {
        assert!(pair[0].0 < pair[1].0, "sequence numbers {pair:?}");
    }
    server.stop().await;
}
