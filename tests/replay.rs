//! Replays identity-provider request sequences (tests/fixtures, format in
//! tests/fixtures/FORMAT.md) against a real server, each scenario on a fresh
//! directory, and fails on the first step that does not match.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use common::{Backend, TestServer};

on_both_backends!(
    replay_jumpcloud_activate,
    replay_jumpcloud_user_lifecycle,
    replay_jumpcloud_groups,
    replay_okta_lifecycle,
    replay_entra_lifecycle,
);

/// Replaces `{{name}}` with captured values in a string.
fn substitute_text(text: &str, captured: &HashMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in captured {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

/// Replaces `{{name}}` in every string of a JSON value.
fn substitute(value: &Value, captured: &HashMap<String, String>) -> Value {
    match value {
        Value::String(text) => Value::String(substitute_text(text, captured)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substitute(item, captured))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| (key.clone(), substitute(item, captured)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Matches `actual` against the `expected` subset; returns the first
/// mismatch as a JSON-pointer-like location and reason.
fn match_subset(expected: &Value, actual: &Value, location: &str) -> Result<(), String> {
    match expected {
        Value::String(text) if text == "{{any}}" => {
            if actual.is_null() {
                Err(format!("{location}: expected a value, got null"))
            } else {
                Ok(())
            }
        }
        Value::Object(fields) => {
            let Value::Object(actual_fields) = actual else {
                return Err(format!("{location}: expected an object, got {actual}"));
            };
            for (key, expected_value) in fields {
                let Some(actual_value) = actual_fields.get(key) else {
                    return Err(format!("{location}/{key}: missing"));
                };
                match_subset(expected_value, actual_value, &format!("{location}/{key}"))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let Value::Array(actual_items) = actual else {
                return Err(format!("{location}: expected an array, got {actual}"));
            };
            if items.first() == Some(&Value::String("{{unordered}}".into())) {
                let expected_items = &items[1..];
                if expected_items.len() != actual_items.len() {
                    return Err(format!(
                        "{location}: expected {} elements, got {}: {actual}",
                        expected_items.len(),
                        actual_items.len()
                    ));
                }
                let mut used = vec![false; actual_items.len()];
                for (index, expected_item) in expected_items.iter().enumerate() {
                    let found = actual_items
                        .iter()
                        .enumerate()
                        .position(|(i, actual_item)| {
                            !used[i] && match_subset(expected_item, actual_item, location).is_ok()
                        });
                    match found {
                        Some(i) => used[i] = true,
                        None => {
                            return Err(format!(
                                "{location}: no element matches expected element {index} {expected_item} in {actual}"
                            ))
                        }
                    }
                }
                return Ok(());
            }
            if items.len() != actual_items.len() {
                return Err(format!(
                    "{location}: expected {} elements, got {}: {actual}",
                    items.len(),
                    actual_items.len()
                ));
            }
            for (index, (expected_item, actual_item)) in items.iter().zip(actual_items).enumerate()
            {
                match_subset(expected_item, actual_item, &format!("{location}/{index}"))?;
            }
            Ok(())
        }
        other => {
            if other == actual {
                Ok(())
            } else {
                Err(format!("{location}: expected {other}, got {actual}"))
            }
        }
    }
}

async fn replay(file: &str, backend: Backend) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    let scenario: Value = serde_json::from_str(&text).expect("fixture JSON");
    let server = TestServer::start(backend).await;
    let mut captured: HashMap<String, String> = HashMap::new();
    let never_issued = format!("scimgate_{}", "0".repeat(64));

    for (index, step) in scenario["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let name = step["name"].as_str().unwrap_or("unnamed");
        let label = format!("{file} step {} '{name}'", index + 1);
        let request = &step["request"];
        let method = Method::from_bytes(request["method"].as_str().expect("method").as_bytes())
            .expect("method");
        let url = format!(
            "{}{}",
            server.base_url,
            substitute_text(request["path"].as_str().expect("path"), &captured)
        );

        let mut builder = server.client.request(method, &url);
        match request["auth"].as_str().unwrap_or("token") {
            "none" => {}
            "wrong" => builder = builder.bearer_auth(&never_issued),
            _ => builder = builder.bearer_auth(&server.token),
        }
        if let Some(headers) = request["headers"].as_object() {
            for (header, value) in headers {
                builder = builder.header(
                    header,
                    substitute_text(value.as_str().unwrap_or(""), &captured),
                );
            }
        }
        if let Some(body) = request.get("body") {
            builder = builder.body(substitute(body, &captured).to_string());
        }
        let response = builder
            .send()
            .await
            .unwrap_or_else(|err| panic!("{label}: request failed: {err}"));

        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        let expect = &step["expect"];

        let allowed: Vec<u64> = match &expect["status"] {
            Value::Array(list) => list.iter().filter_map(Value::as_u64).collect(),
            other => other.as_u64().into_iter().collect(),
        };
        assert!(
            allowed.contains(&u64::from(status)),
            "{label}: status {status}, expected {allowed:?}; body {}",
            String::from_utf8_lossy(&bytes)
        );
        if let Some(expected_headers) = expect["headers"].as_object() {
            for (header, prefix) in expected_headers {
                let prefix = substitute_text(prefix.as_str().unwrap_or(""), &captured);
                let actual = headers
                    .get(header.as_str())
                    .and_then(|value| value.to_str().ok());
                assert!(
                    actual.is_some_and(|value| value.starts_with(&prefix)),
                    "{label}: header {header} is {actual:?}, expected it to start with {prefix:?}"
                );
            }
        }
        if let Some(expected_body) = expect.get("body") {
            let expected_body = substitute(expected_body, &captured);
            if let Err(mismatch) = match_subset(&expected_body, &body, "") {
                panic!("{label}: body mismatch at {mismatch}\nfull body: {body:#}");
            }
        }
        if let Some(absent) = expect["absent"].as_array() {
            for pointer in absent.iter().filter_map(Value::as_str) {
                assert!(
                    body.pointer(pointer).is_none(),
                    "{label}: {pointer} should be absent in {body:#}"
                );
            }
        }
        if let Some(captures) = step["capture"].as_object() {
            for (name, pointer) in captures {
                let value = body
                    .pointer(pointer.as_str().unwrap_or(""))
                    .unwrap_or_else(|| {
                        panic!("{label}: capture {name}: {pointer} missing in {body:#}")
                    });
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                captured.insert(name.clone(), text);
            }
        }
    }
    server.stop().await;
}

async fn replay_jumpcloud_activate(backend: Backend) {
    replay("jumpcloud/01-activate.json", backend).await;
}

async fn replay_jumpcloud_user_lifecycle(backend: Backend) {
    replay("jumpcloud/02-user-lifecycle.json", backend).await;
}

async fn replay_jumpcloud_groups(backend: Backend) {
    replay("jumpcloud/03-groups.json", backend).await;
}

async fn replay_okta_lifecycle(backend: Backend) {
    replay("okta/01-lifecycle.json", backend).await;
}

async fn replay_entra_lifecycle(backend: Backend) {
    replay("entra/01-lifecycle.json", backend).await;
}

/// Every fixture file has a test above.
#[test]
fn every_fixture_is_replayed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let source = include_str!("replay.rs");
    for client in std::fs::read_dir(&root).expect("fixtures folder") {
        let client = client.expect("entry").path();
        if !client.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&client).expect("client folder") {
            let file = file.expect("entry").path();
            let relative = file
                .strip_prefix(&root)
                .expect("relative")
                .to_string_lossy()
                .replace('\\', "/");
            assert!(
                source.contains(&format!("replay(\"{relative}\", backend)")),
                "fixture {relative} has no replay test"
            );
        }
    }
}
