//! Authentication, content negotiation, hostile input and discovery, over
//! HTTP against a real server, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use reqwest::Method;
use serde_json::{json, Value};

use common::{create_token, json_body, Backend, TestServer};

on_both_backends!(
    missing_token_is_401_with_challenge,
    unknown_and_revoked_tokens_are_401,
    read_scope_token_cannot_push,
    nul_characters_are_rejected,
    long_indexed_values_are_rejected,
    hostile_host_header_is_not_echoed,
    directories_are_isolated,
    content_types_accepted_and_rejected,
    malformed_bodies_are_invalid_syntax,
    wrong_value_types_are_invalid_value,
    oversized_body_is_413,
    double_slash_paths_are_tolerated,
    unknown_endpoint_is_scim_404,
    bad_filters_are_invalid_filter,
    discovery_documents,
);
use scimgate::store::TokenScope;

async fn missing_token_is_401_with_challenge(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = server
        .client
        .get(format!("{}/Users", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let body = json_body(response).await;
    assert_eq!(body["status"], "401");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    server.stop().await;
}

async fn unknown_and_revoked_tokens_are_401(backend: Backend) {
    let server = TestServer::start(backend).await;
    let never_issued = format!("scimgate_{}", "ab".repeat(32));
    for token in [never_issued.as_str(), "not-a-token", ""] {
        let response = server
            .client
            .get(format!("{}/Users", server.base_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "token {token:?}");
    }

    let tokens = server.store.list_tokens().await.unwrap();
    server.store.revoke_token(tokens[0].id).await.unwrap();
    let response = server.get("/Users").await;
    assert_eq!(response.status(), 401);
    server.stop().await;
}

async fn read_scope_token_cannot_push(backend: Backend) {
    let server = TestServer::start(backend).await;
    let read_token = create_token(server.store.as_ref(), "default", TokenScope::Read).await;
    let response = server
        .client
        .get(format!("{}/Users", server.base_url))
        .bearer_auth(&read_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let error = json_body(response).await;
    assert!(
        error["detail"].as_str().unwrap().contains("read scope"),
        "{error}"
    );
    server.stop().await;
}

async fn nul_characters_are_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({"userName": "a\u{0}b"});
    let response = server.send(Method::POST, "/Users", &body).await;
    assert_eq!(response.status(), 400);
    let error = json_body(response).await;
    assert_eq!(error["scimType"], "invalidValue");
    assert!(
        error["detail"].as_str().unwrap().contains("/userName"),
        "{error}"
    );

    let response = server
        .request(Method::GET, "/Users")
        .query(&[("filter", "userName eq \"a\\u0000\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["scimType"], "invalidFilter");
    server.stop().await;
}

async fn long_indexed_values_are_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let long = "x".repeat(4000);
    for body in [
        json!({"userName": long}),
        json!({"userName": "a", "externalId": long}),
        json!({"userName": "b", "emails": [{"value": long}]}),
    ] {
        let response = server.send(Method::POST, "/Users", &body).await;
        assert_eq!(response.status(), 400);
        assert_eq!(json_body(response).await["scimType"], "invalidValue");
    }
    let response = server
        .send(Method::POST, "/Groups", &json!({"displayName": long}))
        .await;
    assert_eq!(response.status(), 400);
    let users = json_body(server.get("/Users").await).await;
    assert_eq!(users["totalResults"], 0);
    server.stop().await;
}

async fn hostile_host_header_is_not_echoed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({"userName": "ada@example.com"});
    let response = server
        .request(Method::POST, "/Users")
        .header("content-type", "application/scim+json")
        .header("host", "\"><script>")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with("http://localhost/scim/v2/Users/"),
        "{location}"
    );
    server.stop().await;
}

async fn directories_are_isolated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user_id = server.create_user("ada@example.com").await;
    let other_token = create_token(server.store.as_ref(), "other", TokenScope::Scim).await;
    let other = |method: Method, path: &str| {
        server
            .client
            .request(method, format!("{}{path}", server.base_url))
            .bearer_auth(&other_token)
    };

    let response = other(Method::GET, &format!("/Users/{user_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = other(Method::DELETE, &format!("/Users/{user_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let list = json_body(other(Method::GET, "/Users").send().await.unwrap()).await;
    assert_eq!(list["totalResults"], 0);

    // The same userName is free in the other directory.
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"});
    let response = other(Method::POST, "/Users")
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // A group in the default directory cannot take the other directory's user.
    let other_user: Value = response.json().await.unwrap();
    let group_id = server
        .create_group("Eng", &[other_user["id"].as_str().unwrap()])
        .await;
    let group = json_body(server.get(&format!("/Groups/{group_id}")).await).await;
    assert_eq!(group["members"], json!([]));
    server.stop().await;
}

async fn content_types_accepted_and_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = |name: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
            .to_string()
    };
    for (index, content_type) in [
        "application/scim+json",
        "application/json",
        "application/scim+json; charset=utf-8",
        "application/json;charset=UTF-8",
    ]
    .iter()
    .enumerate()
    {
        let response = server
            .request(Method::POST, "/Users")
            .header("content-type", *content_type)
            .body(body(&format!("user{index}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{content_type}");
        let content = response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content.starts_with("application/scim+json"), "{content}");
    }

    let response = server
        .request(Method::POST, "/Users")
        .header("content-type", "text/plain")
        .body(body("plain"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    server.stop().await;
}

async fn malformed_bodies_are_invalid_syntax(backend: Backend) {
    let server = TestServer::start(backend).await;
    for raw in ["{", "[1, 2]", "\"text\"", "{\"userName\": }", ""] {
        let response = server
            .request(Method::POST, "/Users")
            .header("content-type", "application/scim+json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "body {raw:?}");
        let error = json_body(response).await;
        assert_eq!(error["scimType"], "invalidSyntax", "body {raw:?}");
        assert_eq!(error["status"], "400");
    }
    let list = json_body(server.get("/Users").await).await;
    assert_eq!(list["totalResults"], 0, "no failed request may write");
    server.stop().await;
}

async fn wrong_value_types_are_invalid_value(backend: Backend) {
    let server = TestServer::start(backend).await;
    let cases = [
        json!({"userName": 42}),
        json!({"userName": "a", "active": "maybe"}),
        json!({"userName": "a", "emails": "a@example.com"}),
        json!({"userName": "a", "name": "Ada"}),
        json!({"active": true}),
    ];
    for case in cases {
        let response = server.send(Method::POST, "/Users", &case).await;
        assert_eq!(response.status(), 400, "{case}");
        let error = json_body(response).await;
        assert_eq!(error["scimType"], "invalidValue", "{case}: {error}");
        assert!(!error["detail"].as_str().unwrap().is_empty());
    }
    server.stop().await;
}

async fn oversized_body_is_413(backend: Backend) {
    let server = TestServer::start(backend).await;
    let big = "x".repeat(100 * 1024);
    let body = json!({"userName": "big", "nickName": big});
    let response = server.send(Method::POST, "/Users", &body).await;
    assert_eq!(response.status(), 413);
    let error = json_body(response).await;
    assert_eq!(error["status"], "413");
    server.stop().await;
}

async fn double_slash_paths_are_tolerated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = server
        .client
        .get(format!("{}//Users?count=1", server.base_url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["totalResults"], 0);
    server.stop().await;
}

async fn unknown_endpoint_is_scim_404(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = server.get("/Widgets").await;
    assert_eq!(response.status(), 404);
    let body = json_body(response).await;
    assert_eq!(body["status"], "404");
    let response = server.get("/Users/not-a-uuid").await;
    assert_eq!(response.status(), 404);
    let body = json_body(response).await;
    assert!(body["detail"].as_str().unwrap().contains("not-a-uuid"));
    server.stop().await;
}

async fn bad_filters_are_invalid_filter(backend: Backend) {
    let server = TestServer::start(backend).await;
    for filter in [
        "userName",
        "userName eq",
        "userName xx \"a\"",
        "nosuchattribute eq \"a\"",
        "(userName eq \"a\"",
        "emails[type eq \"work\"",
        "active gt true",
    ] {
        let response = server
            .request(Method::GET, "/Users")
            .query(&[("filter", filter)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "filter {filter:?}");
        let error = json_body(response).await;
        assert_eq!(
            error["scimType"], "invalidFilter",
            "filter {filter:?}: {error}"
        );
    }
    server.stop().await;
}

async fn discovery_documents(backend: Backend) {
    let server = TestServer::start(backend).await;
    let config = json_body(server.get("/ServiceProviderConfig").await).await;
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], true);
    assert_eq!(config["bulk"]["maxOperations"], 1000);
    assert_eq!(config["bulk"]["maxPayloadSize"], 64 * 1024);
    assert_eq!(config["sort"]["supported"], true);
    assert_eq!(config["pagination"]["cursor"], true);
    assert_eq!(config["filter"]["maxResults"], 1000);
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );

    let types = json_body(server.get("/ResourceTypes").await).await;
    assert_eq!(types["totalResults"], 2);
    let user_type = json_body(server.get("/ResourceTypes/User").await).await;
    assert_eq!(user_type["endpoint"], "/Users");
    assert_eq!(
        user_type["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );

    let schemas = json_body(server.get("/Schemas").await).await;
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group",
        ]
    );
    let group_schema = json_body(
        server
            .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
            .await,
    )
    .await;
    assert_eq!(group_schema["name"], "Group");
    assert_eq!(server.get("/Schemas/urn:nope").await.status(), 404);
    assert_eq!(server.get("/ResourceTypes/Widget").await.status(), 404);

    for path in ["/ServiceProviderConfig?filter=x", "/Schemas?filter=id%20pr"] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 403, "GET {path}");
    }
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        let response = server.send(Method::POST, path, &json!({})).await;
        assert_eq!(response.status(), 405, "POST {path}");
        let response = server.request(Method::DELETE, path).send().await.unwrap();
        assert_eq!(response.status(), 405, "DELETE {path}");
    }
    server.stop().await;
}
