//! `scimgate export` and `scimgate import`, run as the real binary, move a
//! directory between stores so that every SCIM read returns the same.

#[macro_use]
mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use reqwest::Method;
use serde_json::{json, Value};

use common::{json_body, postgres_enabled, temp_dir, Backend, TestDatabase, TestServer};

#[tokio::test]
async fn sqlite_to_sqlite() {
    transfer(Backend::Sqlite, Backend::Sqlite).await;
}

#[tokio::test]
async fn sqlite_to_postgres() {
    if postgres_enabled() {
        transfer(Backend::Sqlite, Backend::Postgres).await;
    }
}

#[tokio::test]
async fn postgres_to_sqlite() {
    if postgres_enabled() {
        transfer(Backend::Postgres, Backend::Sqlite).await;
    }
}

/// Runs `scimgate ARGS` on the database at `url`, with `stdin` as input.
/// The process runs on a blocking thread, so that the test's runtime keeps
/// serving the in-process server meanwhile: its webhook dispatcher may hold
/// SQLite's write lock for a moment, and a blocked runtime would never
/// release it.
async fn scimgate(url: &str, workdir: &Path, args: &[&str], stdin: Stdio) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimgate"));
    command
        .args(args)
        .current_dir(workdir)
        .env("DATABASE_URL", url)
        .env_remove("DATABASE_URL_FILE")
        .env("SCIMGATE_LOG", "warn")
        .stdin(stdin);
    tokio::task::spawn_blocking(move || command.output().expect("run scimgate"))
        .await
        .expect("scimgate task")
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// Creates users, groups, a nested group, a deactivation, a rename and a
/// deletion, so that every kind of row and change record exists.
async fn populate(server: &TestServer) {
    let ada = json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "userName": "ada@example.com",
        "externalId": "ext-ada",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
    });
    let response = server.send(Method::POST, "/Users", &ada).await;
    assert_eq!(response.status(), 201);
    let ada = json_body(response).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let bob = server.create_user("bob@example.com").await;
    let carol = server.create_user("carol@example.com").await;
    let response = server
        .send(
            Method::PATCH,
            &format!("/Users/{bob}"),
            &patch(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(response.status(), 200);

    let engineering = server.create_group("Engineering", &[&ada, &bob]).await;
    let everyone = server
        .create_group("Everyone", &[&engineering, &carol])
        .await;
    let response = server
        .send(
            Method::PATCH,
            &format!("/Groups/{everyone}"),
            &patch(json!([{"op": "replace", "path": "displayName", "value": "All staff"}])),
        )
        .await;
    assert_eq!(response.status(), 204);
    let response = server
        .request(Method::DELETE, &format!("/Users/{carol}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 204);
}

/// GETs a SCIM path and returns the body with the server's origin replaced
/// by `ORIGIN`, because the two servers listen on different ports.
async fn read(server: &TestServer, path: &str) -> Value {
    let response = server.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    let text = json_body(response).await.to_string();
    serde_json::from_str(&text.replace(&server.origin, "ORIGIN")).expect("JSON")
}

/// Every SCIM path whose response must be the same after the move.
async fn paths(server: &TestServer) -> Vec<String> {
    let mut paths = vec![
        "/Users?count=100".to_owned(),
        "/Groups?count=100".to_owned(),
    ];
    for (list, endpoint) in [("/Users", "Users"), ("/Groups", "Groups")] {
        let body = json_body(server.get(list).await).await;
        for resource in body["Resources"].as_array().expect("Resources") {
            let id = resource["id"].as_str().expect("id");
            paths.push(format!("/{endpoint}/{id}"));
        }
    }
    paths
}

async fn transfer(from: Backend, to: Backend) {
    let workdir = temp_dir("transfer");
    let source = TestServer::start(from).await;
    populate(&source).await;

    let export = scimgate(
        source.database_url(),
        &workdir,
        &["export", "--directory", "default"],
        Stdio::null(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&export.stderr);
    assert!(export.status.success(), "export failed: {stderr}");
    assert!(
        stderr.contains("2 users, 2 groups, 13 change records"),
        "{stderr}"
    );
    let file = workdir.join("default.json");
    std::fs::write(&file, &export.stdout).expect("write export");

    let target = TestDatabase::create(to).await;
    let target_url = target.url.clone();
    let import = scimgate(
        &target_url,
        &workdir,
        &["import", "--directory", "default"],
        Stdio::from(File::open(&file).expect("open export")),
    )
    .await;
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(import.status.success(), "import failed: {stderr}");

    let again = scimgate(
        &target_url,
        &workdir,
        &["import", "--directory", "default", "--file"],
        Stdio::null(),
    )
    .await;
    assert!(!again.status.success(), "--file needs a value");
    let file_arg = file.to_string_lossy().into_owned();
    let again = scimgate(
        &target_url,
        &workdir,
        &["import", "--directory", "default", "--file", &file_arg],
        Stdio::null(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "a second import must fail");
    assert!(stderr.contains("already contains"), "{stderr}");

    let moved = TestServer::start_on(target).await;
    let source_paths = paths(&source).await;
    assert_eq!(source_paths.len(), 6);
    assert_eq!(paths(&moved).await, source_paths);
    for path in &source_paths {
        assert_eq!(
            read(&moved, path).await,
            read(&source, path).await,
            "GET {path}"
        );
    }

    let changes = "select data from changes order by seq";
    assert_eq!(
        moved.pool.json(changes).await,
        source.pool.json(changes).await
    );
    assert_eq!(moved.change_kinds().await, source.change_kinds().await);
    let occurred = "select occurred_at from changes order by seq";
    assert_eq!(
        moved.pool.times(occurred).await,
        source.pool.times(occurred).await
    );

    source.stop().await;
    moved.stop().await;
    std::fs::remove_dir_all(&workdir).expect("remove test folder");
}
