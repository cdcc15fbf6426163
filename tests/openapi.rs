//! `openapi/openapi.yaml` against the running server: every documented
//! operation is called, its status must be documented, and its body must
//! validate against the documented schema. Webhook payloads received by a
//! real receiver are validated against the documented event schema.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use common::receiver::Receiver;
use common::{Backend, TestServer};

on_both_backends!(documented_operations_exist_and_validate);

const ADMIN_TOKEN: &str = "admin-token-for-tests";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn load_spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("read openapi/openapi.yaml");
    serde_yaml::from_str(&text).expect("openapi.yaml is valid YAML")
}

/// Validates `instance` against `schema`, resolving `#/components/...`
/// references in the document.
fn validate(spec: &Value, schema: &Value, instance: &Value) -> Result<(), String> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": spec["components"],
        "allOf": [schema],
    });
    let validator =
        jsonschema::draft202012::new(&root).map_err(|err| format!("invalid schema: {err}"))?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|err| format!("{err} at {}", err.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Follows a `$ref` inside the document.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            spec.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"))
        }
        None => value,
    }
}

/// Every (operationId, method, path template) in the document.
fn operations(spec: &Value) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            found.push((id.to_owned(), method.to_uppercase(), path.clone()));
        }
    }
    found
}

/// One real call of a documented operation.
struct Call {
    operation: &'static str,
    method: Method,
    path: String,
    token: Option<String>,
    body: Option<Value>,
    status: u16,
}

fn call(
    operation: &'static str,
    method: Method,
    path: String,
    token: &str,
    body: Option<Value>,
    status: u16,
) -> Call {
    Call {
        operation,
        method,
        path,
        token: Some(token.to_owned()),
        body,
        status,
    }
}

async fn documented_operations_exist_and_validate(backend: Backend) {
    let spec = load_spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let server = TestServer::start_with(backend, |config| {
        config.admin_token = Some(scimgate::config::Secret(ADMIN_TOKEN.into()));
        config.webhooks.poll_interval = Duration::from_millis(50);
    })
    .await;
    let receiver = Receiver::start().await;
    let scim = server.token.clone();
    let read = server.read_token().await;
    let admin = ADMIN_TOKEN.to_owned();

    // Register a receiver first, so that every later change is delivered.
    let response = server
        .client
        .post(format!(
            "{}/admin/v1/directories/default/webhooks",
            server.origin
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let endpoint: Value = response.json().await.unwrap();
    receiver.set_secret(endpoint["secret"].as_str().unwrap());
    let endpoint = endpoint["id"].as_str().unwrap().to_owned();

    let user = server.create_user("ada").await;
    let doomed_user = server.create_user("bob").await;
    let group = server.create_group("Staff", &[&user]).await;
    let doomed_group = server.create_group("Temp", &[]).await;
    let unknown = uuid::Uuid::new_v4();

    let calls = vec![
        Call {
            operation: "getHealth",
            method: Method::GET,
            path: "/healthz".into(),
            token: None,
            body: None,
            status: 200,
        },
        call(
            "listScimUsers",
            Method::GET,
            "/scim/v2/Users".into(),
            &scim,
            None,
            200,
        ),
        call(
            "createScimUser",
            Method::POST,
            "/scim/v2/Users".into(),
            &scim,
            Some(
                json!({"schemas": [USER_SCHEMA], "userName": "carol", "emails": [{"value": "carol@example.com", "type": "work"}]}),
            ),
            201,
        ),
        call(
            "getScimUser",
            Method::GET,
            format!("/scim/v2/Users/{user}"),
            &scim,
            None,
            200,
        ),
        call(
            "getScimUser",
            Method::GET,
            format!("/scim/v2/Users/{unknown}"),
            &scim,
            None,
            404,
        ),
        call(
            "replaceScimUser",
            Method::PUT,
            format!("/scim/v2/Users/{user}"),
            &scim,
            Some(json!({"schemas": [USER_SCHEMA], "userName": "ada", "title": "Engineer"})),
            200,
        ),
        call(
            "patchScimUser",
            Method::PATCH,
            format!("/scim/v2/Users/{user}"),
            &scim,
            Some(
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": false}]}),
            ),
            200,
        ),
        call(
            "listScimGroups",
            Method::GET,
            "/scim/v2/Groups".into(),
            &scim,
            None,
            200,
        ),
        call(
            "createScimGroup",
            Method::POST,
            "/scim/v2/Groups".into(),
            &scim,
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Ops"})),
            201,
        ),
        call(
            "getScimGroup",
            Method::GET,
            format!("/scim/v2/Groups/{group}"),
            &scim,
            None,
            200,
        ),
        call(
            "replaceScimGroup",
            Method::PUT,
            format!("/scim/v2/Groups/{group}"),
            &scim,
            Some(
                json!({"schemas": [GROUP_SCHEMA], "displayName": "Staff", "members": [{"value": user}]}),
            ),
            200,
        ),
        call(
            "patchScimGroup",
            Method::PATCH,
            format!("/scim/v2/Groups/{group}"),
            &scim,
            Some(
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "members", "value": [{"value": doomed_user}]}]}),
            ),
            204,
        ),
        call(
            "getServiceProviderConfig",
            Method::GET,
            "/scim/v2/ServiceProviderConfig".into(),
            &scim,
            None,
            200,
        ),
        call(
            "listResourceTypes",
            Method::GET,
            "/scim/v2/ResourceTypes".into(),
            &scim,
            None,
            200,
        ),
        call(
            "getResourceType",
            Method::GET,
            "/scim/v2/ResourceTypes/User".into(),
            &scim,
            None,
            200,
        ),
        call(
            "listSchemas",
            Method::GET,
            "/scim/v2/Schemas".into(),
            &scim,
            None,
            200,
        ),
        call(
            "getSchema",
            Method::GET,
            format!("/scim/v2/Schemas/{USER_SCHEMA}"),
            &scim,
            None,
            200,
        ),
        call(
            "deleteScimUser",
            Method::DELETE,
            format!("/scim/v2/Users/{doomed_user}"),
            &scim,
            None,
            204,
        ),
        call(
            "deleteScimGroup",
            Method::DELETE,
            format!("/scim/v2/Groups/{doomed_group}"),
            &scim,
            None,
            204,
        ),
        call(
            "listUsers",
            Method::GET,
            "/api/v1/users?limit=2".into(),
            &read,
            None,
            200,
        ),
        call(
            "listUsers",
            Method::GET,
            "/api/v1/users?active=maybe".into(),
            &read,
            None,
            400,
        ),
        call(
            "listUsers",
            Method::GET,
            "/api/v1/users".into(),
            &scim,
            None,
            401,
        ),
        call(
            "getUser",
            Method::GET,
            format!("/api/v1/users/{user}"),
            &read,
            None,
            200,
        ),
        call(
            "getUser",
            Method::GET,
            format!("/api/v1/users/{unknown}"),
            &read,
            None,
            404,
        ),
        call(
            "listUserGroups",
            Method::GET,
            format!("/api/v1/users/{user}/groups"),
            &read,
            None,
            200,
        ),
        call(
            "listGroups",
            Method::GET,
            "/api/v1/groups".into(),
            &read,
            None,
            200,
        ),
        call(
            "getGroup",
            Method::GET,
            format!("/api/v1/groups/{group}"),
            &read,
            None,
            200,
        ),
        call(
            "listGroupMembers",
            Method::GET,
            format!("/api/v1/groups/{group}/members?limit=1"),
            &read,
            None,
            200,
        ),
        call(
            "listEvents",
            Method::GET,
            "/api/v1/events?after=0".into(),
            &read,
            None,
            200,
        ),
        call(
            "listEvents",
            Method::GET,
            "/api/v1/events?after=x".into(),
            &read,
            None,
            400,
        ),
        call(
            "listWebhookEndpoints",
            Method::GET,
            "/admin/v1/directories/default/webhooks".into(),
            &admin,
            None,
            200,
        ),
        call(
            "listWebhookEndpoints",
            Method::GET,
            "/admin/v1/directories/default/webhooks".into(),
            &read,
            None,
            401,
        ),
        call(
            "createWebhookEndpoint",
            Method::POST,
            "/admin/v1/directories/default/webhooks".into(),
            &admin,
            Some(json!({"url": receiver.url, "event_types": ["user.deleted"]})),
            201,
        ),
        call(
            "getWebhookEndpoint",
            Method::GET,
            format!("/admin/v1/webhooks/{endpoint}"),
            &admin,
            None,
            200,
        ),
        call(
            "updateWebhookEndpoint",
            Method::PATCH,
            format!("/admin/v1/webhooks/{endpoint}"),
            &admin,
            Some(json!({"event_types": []})),
            200,
        ),
        call(
            "listWebhookDeliveries",
            Method::GET,
            format!("/admin/v1/webhooks/{endpoint}/deliveries"),
            &admin,
            None,
            200,
        ),
        call(
            "deleteWebhookEndpoint",
            Method::DELETE,
            format!("/admin/v1/webhooks/{unknown}"),
            &admin,
            None,
            404,
        ),
    ];

    let documented: BTreeSet<String> = operations(&spec).into_iter().map(|(id, _, _)| id).collect();
    let called: BTreeSet<String> = calls.iter().map(|call| call.operation.to_owned()).collect();
    let missing: Vec<&String> = documented.difference(&called).collect();
    assert!(
        missing.is_empty(),
        "documented but never called: {missing:?}"
    );
    let undocumented: Vec<&String> = called.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "called but not documented: {undocumented:?}"
    );

    let by_id: std::collections::HashMap<String, (String, String)> = operations(&spec)
        .into_iter()
        .map(|(id, method, path)| (id, (method, path)))
        .collect();
    for call in &calls {
        let (method, template) = &by_id[call.operation];
        assert_eq!(method, call.method.as_str(), "{}", call.operation);
        let request_path = call.path.split('?').next().unwrap();
        assert!(
            matches_template(template, request_path),
            "{} does not match {template}",
            call.path
        );
        check_call(&server, &spec, call).await;
    }

    // The delete succeeds too, on the real endpoint.
    let delete = call(
        "deleteWebhookEndpoint",
        Method::DELETE,
        format!("/admin/v1/webhooks/{endpoint}"),
        &admin,
        None,
        204,
    );

    // Webhook payloads validate against the documented event schema.
    let total = server.pool.count("select count(*) from changes").await;
    let total = usize::try_from(total).unwrap();
    receiver
        .wait_until(
            Duration::from_secs(20),
            "every event delivered",
            |received| received.iter().filter(|r| r.status == 204).count() >= total,
        )
        .await;
    let event_schema = &spec["webhooks"]["directoryEvent"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    let received = receiver.received();
    let types: BTreeSet<&str> = received
        .iter()
        .map(|r| r.event["type"].as_str().unwrap())
        .collect();
    assert!(types.len() >= 7, "{types:?}");
    for delivery in &received {
        assert!(delivery.verified);
        if let Err(err) = validate(&spec, event_schema, &delivery.event) {
            panic!(
                "webhook payload does not match the Event schema: {err}\n{:#}",
                delivery.event
            );
        }
    }
    check_call(&server, &spec, &delete).await;
    server.stop().await;
}

fn matches_template(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(want, have)| want.starts_with('{') || want == have)
}

async fn check_call(server: &TestServer, spec: &Value, call: &Call) {
    let (method, template) = operations(spec)
        .into_iter()
        .find(|(id, _, _)| id == call.operation)
        .map(|(_, method, path)| (method, path))
        .unwrap();
    let operation = &spec["paths"][&template][method.to_lowercase()];
    let mut request = server.client.request(
        call.method.clone(),
        format!("{}{}", server.origin, call.path),
    );
    if let Some(token) = &call.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &call.body {
        let media = if call.path.starts_with("/scim/") {
            "application/scim+json"
        } else {
            "application/json"
        };
        request = request.header("content-type", media).body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let text = response.text().await.unwrap();
    assert_eq!(status, call.status, "{} {}: {text}", call.method, call.path);

    let documented = operation["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| {
            panic!(
                "{} {} answered {status}, which is not documented",
                call.method, call.path
            )
        });
    let documented = resolve(spec, documented);
    let Some(content) = documented.get("content") else {
        assert!(
            text.is_empty(),
            "{} {}: undocumented body {text}",
            call.method,
            call.path
        );
        return;
    };
    let media = content.get(&content_type).unwrap_or_else(|| {
        panic!(
            "{} {} answered {content_type}, documented {content}",
            call.method, call.path
        )
    });
    let instance = if content_type.starts_with("text/") {
        Value::String(text)
    } else {
        serde_json::from_str(&text).unwrap()
    };
    if let Err(err) = validate(spec, &media["schema"], &instance) {
        panic!(
            "{} {} ({status}) does not match the documented schema: {err}\n{instance:#}",
            call.method, call.path
        );
    }
}
