//! `/Groups` behaviour over HTTP against a real server, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use reqwest::Method;
use serde_json::{json, Value};

use common::{json_body, Backend, TestServer};

on_both_backends!(
    unknown_members_are_skipped,
    member_display_returned_as_sent,
    patch_returns_group_only_when_asked,
    repeated_member_add_changes_nothing,
    put_replaces_membership_as_difference,
    member_value_filter_finds_groups,
    group_names_are_unique,
    nested_groups_and_deletion,
    large_group_member_change,
);

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}

async fn unknown_members_are_skipped(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.create_user("ada@example.com").await;
    let group = server
        .create_group(
            "Eng",
            &[&ada, "00000000-0000-0000-0000-000000000001", "junk"],
        )
        .await;
    let body = json_body(server.get(&format!("/Groups/{group}")).await).await;
    assert_eq!(member_ids(&body), vec![ada.clone()]);
    assert_eq!(body["members"][0]["type"], "User");
    assert_eq!(
        body["members"][0].get("display"),
        None,
        "no display was sent"
    );
    assert_eq!(
        body["members"][0]["$ref"],
        format!("{}/Users/{ada}", server.base_url)
    );

    let grace = server.create_user("grace@example.com").await;
    let add = patch(
        json!([{"op": "add", "path": "members", "value": [{"value": "00000000-0000-0000-0000-000000000002"}, {"value": grace}]}]),
    );
    let response = server
        .send(Method::PATCH, &format!("/Groups/{group}"), &add)
        .await;
    assert_eq!(response.status(), 204);
    let body = json_body(server.get(&format!("/Groups/{group}")).await).await;
    assert_eq!(member_ids(&body), sorted(&[&ada, &grace]));
    server.stop().await;
}

async fn member_display_returned_as_sent(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.create_user("ada@example.com").await;
    let grace = server.create_user("grace@example.com").await;
    let body = json!({"displayName": "Eng", "members": [{"value": ada, "display": "Ada L."}]});
    let group: Value = json_body(server.send(Method::POST, "/Groups", &body).await).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["members"][0]["display"], "Ada L.");

    let add = patch(
        json!([{"op": "add", "path": "members", "value": [{"value": grace, "display": "Grace H."}]}]),
    );
    let response = server
        .send(Method::PATCH, &format!("/Groups/{group_id}"), &add)
        .await;
    assert_eq!(response.status(), 204);
    let group = json_body(server.get(&format!("/Groups/{group_id}")).await).await;
    let mut displays: Vec<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["display"].as_str().unwrap())
        .collect();
    displays.sort();
    assert_eq!(displays, vec!["Ada L.", "Grace H."]);
    server.stop().await;
}

async fn patch_returns_group_only_when_asked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.create_user("ada@example.com").await;
    let group = server.create_group("Eng", &[]).await;
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": ada}]}]));
    let response = server
        .send(Method::PATCH, &format!("/Groups/{group}"), &add)
        .await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());

    let rename = patch(json!([{"op": "replace", "path": "displayName", "value": "Engineering"}]));
    let response = server
        .send(
            Method::PATCH,
            &format!("/Groups/{group}?excludedAttributes=members"),
            &rename,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["displayName"], "Engineering");
    assert_eq!(body.get("members"), None);
    assert_eq!(body["meta"]["version"], "W/\"3\"");

    let response = server
        .send(
            Method::PATCH,
            &format!("/Groups/{group}?attributes=members"),
            &rename,
        )
        .await;
    let body = json_body(response).await;
    assert_eq!(member_ids(&body), vec![ada.clone()]);
    assert_eq!(body.get("displayName"), None);
    assert_eq!(body["meta"].get("version"), None, "meta was not requested");
    server.stop().await;
}

async fn repeated_member_add_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.create_user("ada@example.com").await;
    let group = server.create_group("Eng", &[&ada]).await;
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": ada}]}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Groups/{group}"), &add)
            .await
            .status(),
        204
    );
    let remove_absent = patch(
        json!([{"op": "remove", "path": "members", "value": [{"value": "00000000-0000-0000-0000-000000000009"}]}]),
    );
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Groups/{group}"), &remove_absent)
            .await
            .status(),
        204
    );
    let body = json_body(server.get(&format!("/Groups/{group}")).await).await;
    assert_eq!(body["meta"]["version"], "W/\"1\"");
    assert_eq!(body["meta"]["lastModified"], body["meta"]["created"]);
    assert_eq!(
        server.change_kinds().await,
        vec!["user.created", "group.created", "group.member_added"]
    );
    server.stop().await;
}

async fn put_replaces_membership_as_difference(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.create_user("ada@example.com").await;
    let grace = server.create_user("grace@example.com").await;
    let alan = server.create_user("alan@example.com").await;
    let group = server.create_group("Eng", &[&ada, &grace]).await;

    let body = json!({"displayName": "Eng", "members": [{"value": grace}, {"value": alan}]});
    let response = server
        .send(Method::PUT, &format!("/Groups/{group}"), &body)
        .await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(member_ids(&body), sorted(&[&grace, &alan]));

    // Only the difference was written: one removal and one addition.
    let kinds = server.change_kinds().await;
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["group.member_removed", "group.member_added"]
    );

    // A PUT without members keeps the membership.
    let body = json!({"displayName": "Engineering"});
    let body = json_body(
        server
            .send(Method::PUT, &format!("/Groups/{group}"), &body)
            .await,
    )
    .await;
    assert_eq!(member_ids(&body), sorted(&[&grace, &alan]));
    assert_eq!(body["displayName"], "Engineering");
    server.stop().await;
}

async fn member_value_filter_finds_groups(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.create_user("ada@example.com").await;
    let grace = server.create_user("grace@example.com").await;
    let eng = server.create_group("Eng", &[&ada]).await;
    let ops = server.create_group("Ops", &[&ada, &grace]).await;

    let filter = |value: &str| format!("members.value eq \"{value}\"");
    let list = json_body(
        server
            .request(Method::GET, "/Groups")
            .query(&[
                ("filter", filter(&ada)),
                ("excludedAttributes", "members".into()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ids: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![eng.as_str(), ops.as_str()]);
    assert_eq!(list["Resources"][0].get("members"), None);

    let list = json_body(
        server
            .request(Method::GET, "/Groups")
            .query(&[("filter", filter(&grace))])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["id"], ops.as_str());

    let list = json_body(
        server
            .request(Method::GET, "/Groups")
            .query(&[("filter", "displayName eq \"eng\"")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["totalResults"], 1);
    server.stop().await;
}

async fn group_names_are_unique(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.create_group("Eng", &[]).await;
    let other = server.create_group("Ops", &[]).await;
    let response = server
        .send(Method::POST, "/Groups", &json!({"displayName": "Eng"}))
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_body(response).await["scimType"], "uniqueness");
    let rename = patch(json!([{"op": "replace", "path": "displayName", "value": "Eng"}]));
    let response = server
        .send(Method::PATCH, &format!("/Groups/{other}"), &rename)
        .await;
    assert_eq!(response.status(), 409);
    server.stop().await;
}

async fn nested_groups_and_deletion(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.create_user("ada@example.com").await;
    let inner = server.create_group("Inner", &[&ada]).await;
    let outer = server.create_group("Outer", &[&inner]).await;
    let body = json_body(server.get(&format!("/Groups/{outer}")).await).await;
    assert_eq!(body["members"][0]["type"], "Group");
    assert_eq!(body["members"][0]["value"], inner.as_str());

    // A group cannot contain itself.
    let add_self = patch(json!([{"op": "add", "path": "members", "value": [{"value": outer}]}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Groups/{outer}"), &add_self)
            .await
            .status(),
        204
    );

    let response = server
        .request(Method::DELETE, &format!("/Groups/{inner}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let body = json_body(server.get(&format!("/Groups/{outer}")).await).await;
    assert_eq!(body["members"], json!([]));
    assert_eq!(server.get(&format!("/Groups/{inner}")).await.status(), 404);
    let user = json_body(server.get(&format!("/Users/{ada}")).await).await;
    assert_eq!(user.get("groups"), None);
    server.stop().await;
}

async fn large_group_member_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut ids = Vec::new();
    for index in 0..50 {
        ids.push(
            server
                .create_user(&format!("user{index}@example.com"))
                .await,
        );
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let group = server.create_group("Everyone", &refs).await;
    let remove =
        patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[7])}]));
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/Groups/{group}"), &remove)
            .await
            .status(),
        204
    );
    let count = server
        .pool
        .count("select count(*) from group_members")
        .await;
    assert_eq!(count, 49);
    let removed = server
        .pool
        .count("select count(*) from changes where kind = 'group.member_removed'")
        .await;
    assert_eq!(removed, 1);
    server.stop().await;
}
