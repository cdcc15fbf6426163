//! `POST /Bulk` over HTTP against a real server and PostgreSQL.

#[macro_use]
mod common;

use reqwest::Method;
use serde_json::{json, Value};

use common::{json_body, Backend, TestServer};

on_both_backends!(
    bulk_creates_group_with_new_members,
    bulk_reports_errors_per_operation,
    bulk_fail_on_errors_stops,
    bulk_limits_and_syntax,
);

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn bulk(operations: Value) -> Value {
    json!({"schemas": [BULK], "Operations": operations})
}

async fn bulk_creates_group_with_new_members(backend: Backend) {
    let server = TestServer::start(backend).await;
    // The group comes first and refers to users created later in the request.
    let body = bulk(json!([
        {"method": "POST", "path": "/Groups", "bulkId": "eng", "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "members": [{"value": "bulkId:ada"}, {"value": "bulkId:grace"}]
        }},
        {"method": "POST", "path": "/Users", "bulkId": "ada", "data": {"userName": "ada@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "grace", "data": {"userName": "grace@example.com"}},
        {"method": "PATCH", "path": "/Users/bulkId:ada", "data": {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Ada"}]
        }}
    ]));
    let response = server.send(Method::POST, "/Bulk", &body).await;
    assert_eq!(response.status(), 200);
    let result = json_body(response).await;
    let operations = result["Operations"].as_array().unwrap();
    assert_eq!(operations.len(), 4);
    let statuses: Vec<&str> = operations
        .iter()
        .map(|op| op["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["201", "201", "201", "200"]);
    assert_eq!(
        result["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );

    let group_location = operations[0]["location"].as_str().unwrap();
    let ada_location = operations[1]["location"].as_str().unwrap();
    let ada_id = ada_location.rsplit('/').next().unwrap();
    let group = json_body(
        server
            .client
            .get(group_location)
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let grace_id = operations[2]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let mut members: Vec<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort();
    let mut expected = vec![ada_id, grace_id];
    expected.sort();
    assert_eq!(members, expected);

    // The group waited for its members; the patch did not need to.
    let kinds = server.change_kinds().await;
    assert_eq!(
        kinds,
        vec![
            "user.created",
            "user.created",
            "user.updated",
            "group.created",
            "group.member_added",
            "group.member_added"
        ]
    );
    server.stop().await;
}

async fn bulk_reports_errors_per_operation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = bulk(json!([
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "ada@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "ADA@example.com"}},
        {"method": "DELETE", "path": "/Users/00000000-0000-0000-0000-000000000000"},
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "G", "members": [{"value": "bulkId:b"}]}},
        {"method": "POST", "path": "/Groups", "bulkId": "x", "data": {"displayName": "X", "members": [{"value": "bulkId:y"}]}},
        {"method": "POST", "path": "/Groups", "bulkId": "y", "data": {"displayName": "Y", "members": [{"value": "bulkId:x"}]}}
    ]));
    let result = json_body(server.send(Method::POST, "/Bulk", &body).await).await;
    let operations = result["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = operations
        .iter()
        .map(|op| op["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["201", "409", "404", "409", "409", "409"]);
    assert_eq!(operations[1]["response"]["scimType"], "uniqueness");
    assert_eq!(operations[1]["bulkId"], "b");
    server.stop().await;
}

async fn bulk_fail_on_errors_stops(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
        {"method": "DELETE", "path": "/Users/00000000-0000-0000-0000-000000000000"},
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "ada@example.com"}}
    ]});
    let result = json_body(server.send(Method::POST, "/Bulk", &body).await).await;
    assert_eq!(result["Operations"].as_array().unwrap().len(), 1);
    let users = json_body(server.get("/Users").await).await;
    assert_eq!(users["totalResults"], 0);
    server.stop().await;
}

async fn bulk_limits_and_syntax(backend: Backend) {
    let server = TestServer::start(backend).await;
    let operations: Vec<Value> = (0..1001)
        .map(|_| json!({"method": "DELETE", "path": "/Users/x"}))
        .collect();
    let response = server
        .send(Method::POST, "/Bulk", &bulk(Value::Array(operations)))
        .await;
    assert_eq!(response.status(), 413);

    let big: Vec<Value> = (0..400)
        .map(|index| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{index}"), "data": {"userName": format!("user{index}@example.com"), "nickName": "x".repeat(200)}}))
        .collect();
    let response = server
        .send(Method::POST, "/Bulk", &bulk(Value::Array(big)))
        .await;
    assert_eq!(response.status(), 413, "payload above maxPayloadSize");

    let response = server
        .send(Method::POST, "/Bulk", &json!({"Operations": []}))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["scimType"], "invalidSyntax");
    server.stop().await;
}
