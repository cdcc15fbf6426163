//! `/Users` behaviour over HTTP against a real server, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use reqwest::Method;
use serde_json::{json, Value};

use common::{json_body, Backend, TestServer};

on_both_backends!(
    if_none_match_answers_304,
    schemas_cannot_be_patched,
    user_without_active_is_active,
    email_without_value_is_filterable,
    create_returns_location_and_etag,
    user_name_unique_ignoring_case,
    put_ignores_id_and_meta,
    patch_without_change_keeps_version,
    patch_is_atomic,
    patch_errors_have_scim_types,
    if_match_guards_writes,
    filters_find_expected_users,
    paging_is_stable_and_counted,
    delete_frees_user_name_and_records_changes,
    deactivation_and_reactivation_are_recorded,
    projection_on_reads,
);

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn create_returns_location_and_etag(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@example.com",
        "password": "Secret-123",
        "x-custom": {"kept": true},
    });
    let response = server.send(Method::POST, "/Users", &body).await;
    assert_eq!(response.status(), 201);
    let location = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let etag = response
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let user = json_body(response).await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(location, format!("{}/Users/{id}", server.base_url));
    assert_eq!(user["meta"]["location"], location);
    assert_eq!(etag, "W/\"1\"");
    assert_eq!(user["meta"]["version"], "W/\"1\"");
    assert_eq!(user.get("password"), None);
    assert_eq!(
        user["x-custom"],
        json!({"kept": true}),
        "unmodelled attributes round-trip"
    );

    let stored = server.pool.json("select resource from users").await;
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].to_string().contains("Secret-123"),
        "password must not be stored"
    );
    server.stop().await;
}

async fn user_name_unique_ignoring_case(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.create_user("Ärger@example.com").await;
    let body = json!({"userName": "ärger@EXAMPLE.com"});
    let response = server.send(Method::POST, "/Users", &body).await;
    assert_eq!(response.status(), 409, "non-ASCII letters fold too");

    server.create_user("Ada@Example.com").await;
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@EXAMPLE.com"});
    let response = server.send(Method::POST, "/Users", &body).await;
    assert_eq!(response.status(), 409);
    let error = json_body(response).await;
    assert_eq!(error["scimType"], "uniqueness");
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains("ada@EXAMPLE.com"));

    // A rename onto a taken name is a conflict too.
    let other = server.create_user("grace@example.com").await;
    let response = server
        .send(
            Method::PATCH,
            &format!("/Users/{other}"),
            &patch(json!([{"op": "replace", "path": "userName", "value": "ADA@example.com"}])),
        )
        .await;
    assert_eq!(response.status(), 409);
    server.stop().await;
}

async fn put_ignores_id_and_meta(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "00000000-0000-0000-0000-000000000000",
        "meta": {"version": "W/\"99\"", "created": "2000-01-01T00:00:00Z"},
        "userName": "ada@example.com",
        "emails": [{"value": "ada@example.com", "type": "work"}],
        "phoneNumbers": [{"value": "+1 555"}],
    });
    let response = server
        .send(Method::PUT, &format!("/Users/{id}"), &body)
        .await;
    assert_eq!(response.status(), 200);
    let user = json_body(response).await;
    assert_eq!(user["id"], id);
    assert_eq!(user["meta"]["version"], "W/\"2\"");
    assert_ne!(user["meta"]["created"], "2000-01-01T00:00:00Z");

    // null and [] clear multi-valued attributes.
    let body = json!({"userName": "ada@example.com", "emails": null, "phoneNumbers": []});
    let user = json_body(
        server
            .send(Method::PUT, &format!("/Users/{id}"), &body)
            .await,
    )
    .await;
    assert_eq!(user.get("emails"), None);
    assert_eq!(user.get("phoneNumbers"), None);
    let found = json_body(
        server
            .request(Method::GET, "/Users")
            .query(&[("filter", "emails.value eq \"ada@example.com\"")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(found["totalResults"], 0, "the email index follows the PUT");
    server.stop().await;
}

async fn patch_without_change_keeps_version(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let same = patch(
        json!([{"op": "replace", "path": "active", "value": true}, {"op": "replace", "path": "userName", "value": "ada@example.com"}]),
    );
    let user = json_body(
        server
            .send(Method::PATCH, &format!("/Users/{id}"), &same)
            .await,
    )
    .await;
    assert_eq!(user["meta"]["version"], "W/\"1\"");
    assert_eq!(user["meta"]["lastModified"], user["meta"]["created"]);
    assert_eq!(server.change_kinds().await, vec!["user.created"]);
    server.stop().await;
}

async fn patch_is_atomic(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let operations = patch(json!([
        {"op": "replace", "path": "displayName", "value": "Ada"},
        {"op": "replace", "path": "id", "value": "x"},
    ]));
    let response = server
        .send(Method::PATCH, &format!("/Users/{id}"), &operations)
        .await;
    assert_eq!(response.status(), 400);
    let error = json_body(response).await;
    assert_eq!(error["scimType"], "mutability");
    let user = json_body(server.get(&format!("/Users/{id}")).await).await;
    assert_eq!(user.get("displayName"), None);
    assert_eq!(user["meta"]["version"], "W/\"1\"");
    server.stop().await;
}

async fn patch_errors_have_scim_types(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let cases = [
        (
            json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            "invalidSyntax",
        ),
        (
            patch(json!([{"op": "explode", "path": "active", "value": false}])),
            "invalidSyntax",
        ),
        (patch(json!([{"op": "remove"}])), "noTarget"),
        (
            patch(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])),
            "invalidPath",
        ),
        (
            patch(json!([{"op": "replace", "path": "active", "value": "sometimes"}])),
            "invalidValue",
        ),
    ];
    for (body, scim_type) in cases {
        let response = server
            .send(Method::PATCH, &format!("/Users/{id}"), &body)
            .await;
        assert_eq!(response.status(), 400, "{body}");
        let error = json_body(response).await;
        assert_eq!(error["scimType"], scim_type, "{body}: {error}");
    }
    server.stop().await;
}

async fn if_match_guards_writes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let path = format!("/Users/{id}");
    let change = patch(json!([{"op": "replace", "path": "displayName", "value": "Ada"}]));

    let response = server
        .request(Method::PATCH, &path)
        .header("content-type", "application/scim+json")
        .header("if-match", "W/\"7\"")
        .body(change.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 412);
    assert_eq!(json_body(response).await["status"], "412");

    let response = server
        .request(Method::PATCH, &path)
        .header("content-type", "application/scim+json")
        .header("if-match", "W/\"1\"")
        .body(change.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("etag").unwrap(), "W/\"2\"");

    let response = server
        .request(Method::DELETE, &path)
        .header("if-match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 412);
    let response = server
        .request(Method::DELETE, &path)
        .header("if-match", "W/\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    server.stop().await;
}

async fn filters_find_expected_users(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "ada@example.com",
        "active": true,
        "externalId": "ext-1",
        "displayName": "Ada Lovelace",
        "emails": [{"value": "ada@work.example.com", "type": "work"}, {"value": "ada@home.example.com", "type": "home"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Research", "employeeNumber": "1815"},
    });
    let ada: Value = json_body(server.send(Method::POST, "/Users", &body).await).await;
    let ada = ada["id"].as_str().unwrap().to_owned();
    let grace = server.create_user("grace@example.com").await;
    let response = server
        .send(
            Method::PATCH,
            &format!("/Users/{grace}"),
            &patch(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(response.status(), 200);

    let cases: Vec<(String, Vec<&str>)> = vec![
        ("userName eq \"ADA@example.com\"".into(), vec![&ada]),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"ada@example.com\"".into(), vec![&ada]),
        ("externalId eq \"ext-1\"".into(), vec![&ada]),
        ("externalId eq \"EXT-1\"".into(), vec![]),
        (format!("id eq \"{grace}\""), vec![&grace]),
        ("displayName eq \"ada lovelace\"".into(), vec![&ada]),
        ("active eq false".into(), vec![&grace]),
        ("active eq true".into(), vec![&ada]),
        ("emails.value eq \"ada@home.example.com\"".into(), vec![&ada]),
        ("emails[type eq \"work\"].value eq \"ada@work.example.com\"".into(), vec![&ada]),
        ("emails[type eq \"work\"].value eq \"ada@home.example.com\"".into(), vec![]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Research\"".into(), vec![&ada]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"1815\" and userName eq \"ada@example.com\"".into(), vec![&ada]),
        ("userName eq \"ada@example.com\" and active eq false".into(), vec![]),
    ];
    for (filter, expected) in cases {
        let list = json_body(
            server
                .request(Method::GET, "/Users")
                .query(&[("filter", filter.as_str())])
                .send()
                .await
                .unwrap(),
        )
        .await;
        let ids: Vec<&str> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, expected, "filter {filter}");
        assert_eq!(list["totalResults"], expected.len(), "filter {filter}");
    }
    server.stop().await;
}

async fn paging_is_stable_and_counted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut created = Vec::new();
    for index in 0..5 {
        created.push(
            server
                .create_user(&format!("user{index}@example.com"))
                .await,
        );
    }
    let mut seen = Vec::new();
    for start in [1, 3, 5] {
        let page = json_body(
            server
                .get(&format!("/Users?startIndex={start}&count=2"))
                .await,
        )
        .await;
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["startIndex"], start);
        for user in page["Resources"].as_array().unwrap() {
            seen.push(user["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, created);

    let empty = json_body(server.get("/Users?count=0").await).await;
    assert_eq!(empty["totalResults"], 5);
    assert_eq!(empty["itemsPerPage"], 0);
    assert_eq!(empty["Resources"], json!([]));
    let past = json_body(server.get("/Users?startIndex=50").await).await;
    assert_eq!(past["Resources"], json!([]));
    assert_eq!(server.get("/Users?count=abc").await.status(), 400);
    server.stop().await;
}

async fn delete_frees_user_name_and_records_changes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let group = server.create_group("Eng", &[&id]).await;
    let response = server
        .request(Method::DELETE, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = server
        .request(Method::DELETE, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let group_body = json_body(server.get(&format!("/Groups/{group}")).await).await;
    assert_eq!(group_body["members"], json!([]));
    assert_eq!(group_body["meta"]["version"], "W/\"2\"");
    server.create_user("ada@example.com").await;

    assert_eq!(
        server.change_kinds().await,
        vec![
            "user.created",
            "group.created",
            "group.member_added",
            "group.member_removed",
            "user.deleted",
            "user.created"
        ]
    );
    let deleted = server
        .pool
        .json("select data from changes where kind = 'user.deleted'")
        .await
        .remove(0);
    assert_eq!(deleted["resource"]["userName"], "ada@example.com");
    assert_eq!(deleted["resource"]["groups"][0]["value"], group.as_str());
    server.stop().await;
}

async fn deactivation_and_reactivation_are_recorded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let path = format!("/Users/{id}");
    server
        .send(
            Method::PATCH,
            &path,
            &patch(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .await;
    server
        .send(
            Method::PATCH,
            &path,
            &patch(json!([{"op": "replace", "path": "active", "value": "True"}])),
        )
        .await;
    server
        .send(
            Method::PATCH,
            &path,
            &patch(json!([{"op": "add", "path": "title", "value": "Analyst"}])),
        )
        .await;
    assert_eq!(
        server.change_kinds().await,
        vec![
            "user.created",
            "user.deactivated",
            "user.reactivated",
            "user.updated"
        ]
    );
    let updated = server
        .pool
        .json("select data from changes where kind = 'user.updated'")
        .await
        .remove(0);
    assert_eq!(updated["changedAttributes"], json!(["title"]));
    server.stop().await;
}

async fn projection_on_reads(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let user = json_body(
        server
            .get(&format!("/Users/{id}?attributes=userName"))
            .await,
    )
    .await;
    assert_eq!(user["userName"], "ada@example.com");
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user.get("active"), None);
    let user = json_body(
        server
            .get(&format!("/Users/{id}?excludedAttributes=active"))
            .await,
    )
    .await;
    assert_eq!(user.get("active"), None);
    assert_eq!(user["userName"], "ada@example.com");
    server.stop().await;
}

async fn schemas_cannot_be_patched(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let body = patch(json!([{"op": "replace", "path": "schemas", "value": ["urn:x"]}]));
    let response = server
        .send(Method::PATCH, &format!("/Users/{id}"), &body)
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["scimType"], "mutability");
    let user = json_body(
        server
            .get(&format!("/Users/{id}?excludedAttributes=schemas"))
            .await,
    )
    .await;
    assert_eq!(
        user["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    server.stop().await;
}

async fn user_without_active_is_active(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({"userName": "noactive@example.com"});
    let user = json_body(server.send(Method::POST, "/Users", &body).await).await;
    assert_eq!(user.get("active"), None, "returned as sent");
    let id = user["id"].as_str().unwrap().to_owned();

    // SCIM filters read the attribute as stored.
    for (filter, expected) in [
        ("active eq true", 0),
        ("active pr", 0),
        ("active eq null", 1),
    ] {
        let found = json_body(
            server
                .request(Method::GET, "/Users")
                .query(&[("filter", filter)])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(found["totalResults"], expected, "filter {filter}");
    }

    // Change records count a user without `active` as active: a PUT that
    // drops it after a deactivation is a reactivation.
    let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    server
        .send(Method::PATCH, &format!("/Users/{id}"), &off)
        .await;
    let user = json_body(
        server
            .send(Method::PUT, &format!("/Users/{id}"), &body)
            .await,
    )
    .await;
    assert_eq!(user.get("active"), None);
    let kinds = server.change_kinds().await;
    assert_eq!(
        kinds,
        vec!["user.created", "user.deactivated", "user.reactivated"]
    );
    server.stop().await;
}

async fn email_without_value_is_filterable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({"userName": "novalue@example.com", "emails": [{"type": "work"}]});
    assert_eq!(
        server.send(Method::POST, "/Users", &body).await.status(),
        201
    );
    for filter in ["emails.type eq \"work\"", "emails[type eq \"work\"]"] {
        let found = json_body(
            server
                .request(Method::GET, "/Users")
                .query(&[("filter", filter)])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(found["totalResults"], 1, "filter {filter}");
    }
    let found = json_body(
        server
            .request(Method::GET, "/Users")
            .query(&[("filter", "emails.value pr")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(found["totalResults"], 0);
    server.stop().await;
}

async fn if_none_match_answers_304(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.create_user("ada@example.com").await;
    let path = format!("/Users/{id}");
    let response = server
        .request(Method::GET, &path)
        .header("if-none-match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers().get("etag").unwrap(), "W/\"1\"");
    let response = server
        .request(Method::GET, &path)
        .header("if-none-match", "W/\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}
