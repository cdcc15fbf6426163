//! The application API (`/api/v1`) over HTTP: normalised shapes, filters,
//! keyset pagination, and its authentication (read tokens and JWTs).

#[macro_use]
mod common;

use std::path::PathBuf;
use std::sync::Arc;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use common::{create_token, Backend, TestServer};
use scimgate::jwt::{JwtSettings, JwtVerifier};
use scimgate::store::TokenScope;

on_both_backends!(
    user_has_normalised_shape,
    user_filters_match_exactly,
    keyset_pages_cover_everything_once,
    scopes_and_directories_are_separate,
    jwt_keys_and_claims_checked
);

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn create_full_user(server: &TestServer, user_name: &str, body: Value) -> String {
    let mut user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": user_name,
    });
    for (key, value) in body.as_object().unwrap() {
        user[key] = value.clone();
    }
    let response = server.send(Method::POST, "/Users", &user).await;
    assert_eq!(response.status(), 201, "create {user_name}");
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn user_has_normalised_shape(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.read_token().await;
    let id = create_full_user(
        &server,
        "ada.login",
        json!({
            "externalId": "ext-1",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "displayName": "Ada Lovelace",
            "title": "Engineer",
            "emails": [
                {"value": "ada@home.example", "type": "home"},
                {"value": "ada@work.example", "type": "work"},
            ],
            ENTERPRISE: {"department": "R&D", "employeeNumber": "42", "costCenter": "CC1",
                         "organization": "Org", "division": "Div", "manager": {"value": "boss-1"}},
        }),
    )
    .await;
    let group = server.create_group("Engineering", &[&id]).await;

    let user = server
        .get_json(&token, &format!("/api/v1/users/{id}"))
        .await;
    let directory = server
        .store
        .find_directory("default")
        .await
        .unwrap()
        .unwrap();
    let mut shown = user.clone();
    let scim = shown.as_object_mut().unwrap().remove("scim").unwrap();
    let created_at = shown.as_object_mut().unwrap().remove("created_at").unwrap();
    let updated_at = shown.as_object_mut().unwrap().remove("updated_at").unwrap();
    assert_eq!(
        shown,
        json!({
            "id": id,
            "directory_id": directory.id.to_string(),
            "external_id": "ext-1",
            "user_name": "ada.login",
            "primary_email": "ada@work.example",
            "emails": [
                {"value": "ada@home.example", "type": "home", "primary": false},
                {"value": "ada@work.example", "type": "work", "primary": false},
            ],
            "given_name": "Ada",
            "family_name": "Lovelace",
            "display_name": "Ada Lovelace",
            "active": true,
            "title": "Engineer",
            "department": "R&D",
            "employee_number": "42",
            "cost_center": "CC1",
            "organization": "Org",
            "division": "Div",
            "manager_id": "boss-1",
            "groups": [{"id": group, "name": "Engineering"}],
        })
    );
    assert_eq!(created_at, scim["meta"]["created"]);
    assert_eq!(updated_at, scim["meta"]["lastModified"]);
    assert_eq!(scim["userName"], "ada.login");
    assert_eq!(scim["meta"].get("location"), None);

    let groups = server
        .get_json(&token, &format!("/api/v1/users/{id}/groups"))
        .await;
    assert_eq!(ids(&groups), vec![group.clone()]);
    assert_eq!(groups["data"][0]["name"], "Engineering");

    let shown_group = server
        .get_json(&token, &format!("/api/v1/groups/{group}"))
        .await;
    assert_eq!(shown_group["name"], "Engineering");
    assert_eq!(shown_group["scim"].get("members"), None);
    server.stop().await;
}

async fn user_filters_match_exactly(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.read_token().await;
    let ada = create_full_user(
        &server,
        "ada",
        json!({"externalId": "e-ada", "emails": [{"value": "Ada@Example.com", "type": "work"}]}),
    )
    .await;
    let bob = create_full_user(&server, "bob", json!({"active": false})).await;
    let eve = create_full_user(&server, "eve", json!({})).await;
    let group = server.create_group("Staff", &[&ada, &eve]).await;

    let query = |filter: &str| format!("/api/v1/users?{filter}");
    let sorted = |mut list: Vec<String>| {
        list.sort();
        list
    };
    assert_eq!(
        ids(&server.get_json(&token, &query("active=false")).await),
        vec![bob.clone()]
    );
    assert_eq!(
        ids(&server.get_json(&token, &query("active=true")).await),
        sorted(vec![ada.clone(), eve.clone()])
    );
    assert_eq!(
        ids(&server
            .get_json(&token, &query("email=ada%40example.COM"))
            .await),
        vec![ada.clone()]
    );
    assert_eq!(
        ids(&server.get_json(&token, &query("user_name=EVE")).await),
        vec![eve.clone()]
    );
    assert_eq!(
        ids(&server.get_json(&token, &query("external_id=e-ada")).await),
        vec![ada.clone()]
    );
    assert_eq!(
        ids(&server
            .get_json(&token, &query(&format!("group={group}")))
            .await),
        sorted(vec![ada.clone(), eve.clone()])
    );

    // Only users changed at or after the cutoff: bob is updated after it.
    let last_modified = server
        .pool
        .times("select max(last_modified) from users")
        .await;
    let cutoff = (last_modified[0] + chrono::Duration::microseconds(1))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let title = patch(json!([{"op": "replace", "path": "title", "value": "Boss"}]));
    let response = server
        .send(Method::PATCH, &format!("/Users/{bob}"), &title)
        .await;
    assert_eq!(response.status(), 200);
    let since = server
        .get_json(&token, &query(&format!("updated_since={cutoff}")))
        .await;
    assert_eq!(ids(&since), vec![bob.clone()]);

    let response = server.get_with(&token, "/api/v1/users?colour=blue").await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("colour"),
        "{problem}"
    );
    server.stop().await;
}

async fn keyset_pages_cover_everything_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.read_token().await;
    let mut created = Vec::new();
    for index in 0..5 {
        created.push(server.create_user(&format!("user{index}")).await);
    }
    let refs: Vec<&str> = created.iter().map(String::as_str).collect();
    let group = server.create_group("All", &refs).await;
    created.sort();

    for base in [
        "/api/v1/users".to_owned(),
        format!("/api/v1/groups/{group}/members"),
    ] {
        let mut seen = Vec::new();
        let mut path = format!("{base}?limit=2");
        let mut pages = 0;
        loop {
            let page = server.get_json(&token, &path).await;
            pages += 1;
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("{base}?limit=2&after={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, created, "{base}");
        assert_eq!(pages, 3, "{base}");
    }

    let members = server
        .get_json(&token, &format!("/api/v1/groups/{group}/members?limit=1"))
        .await;
    let first_name = server
        .pool
        .strings(&format!(
            "select user_name from users where id = '{}'",
            created[0]
        ))
        .await;
    assert_eq!(
        members["data"],
        json!([{"id": created[0], "type": "user", "display_name": first_name[0]}])
    );

    let groups = server.get_json(&token, "/api/v1/groups").await;
    assert_eq!(ids(&groups), vec![group]);
    assert_eq!(groups["next_cursor"], Value::Null);
    assert!(
        groups["feed_cursor"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    server.stop().await;
}

async fn scopes_and_directories_are_separate(backend: Backend) {
    let server = TestServer::start(backend).await;
    let read = server.read_token().await;
    let id = server.create_user("ada").await;

    let response = server.get_with(&server.token, "/api/v1/users").await;
    assert_eq!(response.status(), 401, "a SCIM token cannot read the API");
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"scimgate\""
    );
    let response = server
        .client
        .get(format!("{}/Users", server.base_url))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a read token cannot use SCIM");
    let response = server
        .client
        .get(format!("{}/api/v1/users", server.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let other = create_token(server.store.as_ref(), "other", TokenScope::Read).await;
    let response = server
        .get_with(&other, &format!("/api/v1/users/{id}"))
        .await;
    assert_eq!(
        response.status(),
        404,
        "another directory's user is invisible"
    );
    let page = server.get_json(&other, "/api/v1/users").await;
    assert_eq!(page["data"], json!([]));
    let response = server.get_with(&read, "/api/v1/users/not-a-uuid").await;
    assert_eq!(response.status(), 404);
    let response = server.get_with(&read, "/api/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    server.stop().await;
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

const HS_SECRET: &str = "0123456789abcdef0123456789abcdef-test-only";

fn claims(overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": "https://idp.example",
        "aud": "scimgate",
        "exp": now + 300,
        "iat": now,
        "scimgate_directory": "default",
    });
    for (key, value) in overrides.as_object().unwrap() {
        claims[key] = value.clone();
    }
    claims
}

fn mint(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

async fn jwt_keys_and_claims_checked(backend: Backend) {
    let verifier = JwtVerifier::from_settings(&JwtSettings {
        hs256_secret: Some(scimgate::config::Secret(HS_SECRET.into())),
        public_key_file: Some(fixture("ec-public.pem")),
        jwks_file: Some(fixture("jwks.json")),
        issuer: Some("https://idp.example".into()),
        audience: Some("scimgate".into()),
        directory_claim: None,
    })
    .unwrap()
    .unwrap();
    let server =
        TestServer::start_with(backend, |config| config.jwt = Some(Arc::new(verifier))).await;
    let id = server.create_user("ada").await;
    let path = format!("/api/v1/users/{id}");

    let hs = EncodingKey::from_secret(HS_SECRET.as_bytes());
    let rsa =
        EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa-private.pem")).unwrap()).unwrap();
    let ec = EncodingKey::from_ec_pem(&std::fs::read(fixture("ec-private.pem")).unwrap()).unwrap();
    let valid = claims(json!({}));
    for (label, token) in [
        ("HS256", mint(Algorithm::HS256, None, &hs, &valid)),
        (
            "RS256 from JWKS",
            mint(Algorithm::RS256, Some("test-rsa"), &rsa, &valid),
        ),
        ("ES256 from PEM", mint(Algorithm::ES256, None, &ec, &valid)),
    ] {
        let response = server.get_with(&token, &path).await;
        assert_eq!(response.status(), 200, "{label}");
    }

    let expired = claims(json!({"exp": chrono::Utc::now().timestamp() - 3600}));
    let rejected = [
        (
            "wrong audience",
            mint(
                Algorithm::HS256,
                None,
                &hs,
                &claims(json!({"aud": "other"})),
            ),
        ),
        (
            "wrong issuer",
            mint(
                Algorithm::HS256,
                None,
                &hs,
                &claims(json!({"iss": "https://evil.example"})),
            ),
        ),
        ("expired", mint(Algorithm::HS256, None, &hs, &expired)),
        (
            "not valid yet",
            mint(
                Algorithm::HS256,
                None,
                &hs,
                &claims(json!({"nbf": chrono::Utc::now().timestamp() + 3600})),
            ),
        ),
        (
            "unknown kid",
            mint(Algorithm::RS256, Some("other"), &rsa, &valid),
        ),
        (
            "wrong secret",
            mint(
                Algorithm::HS256,
                None,
                &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
                &valid,
            ),
        ),
        (
            "unknown directory",
            mint(
                Algorithm::HS256,
                None,
                &hs,
                &claims(json!({"scimgate_directory": "nope"})),
            ),
        ),
    ];
    for (label, token) in rejected {
        let response = server.get_with(&token, &path).await;
        assert_eq!(response.status(), 401, "{label}");
    }

    let other_directory = mint(
        Algorithm::HS256,
        None,
        &hs,
        &claims(json!({"scimgate_directory": "other"})),
    );
    server.store.ensure_directory("other").await.unwrap();
    let response = server.get_with(&other_directory, &path).await;
    assert_eq!(
        response.status(),
        404,
        "the claim scopes the token to its directory"
    );

    // A JWT never authenticates SCIM.
    let token = mint(Algorithm::HS256, None, &hs, &valid);
    let response = server
        .client
        .get(format!("{}/Users", server.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.stop().await;
}

#[test]
fn jwt_settings_need_issuer_and_audience() {
    let err = JwtVerifier::from_settings(&JwtSettings {
        hs256_secret: Some(scimgate::config::Secret(HS_SECRET.into())),
        audience: Some("scimgate".into()),
        ..JwtSettings::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("--jwt-issuer"), "{err}");
    let none = JwtVerifier::from_settings(&JwtSettings::default()).unwrap();
    assert!(none.is_none());
}
