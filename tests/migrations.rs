//! Migrations applied to a database that already contains data: a store at the
//! first schema version, filled with rows, is migrated to the latest version
//! by the server's start-up, and every resource reads back intact.

#[macro_use]
mod common;

use std::borrow::Cow;
use std::path::Path;

use reqwest::Method;
use serde_json::json;
use sqlx::migrate::Migrator;

use common::{json_body, Backend, TestDatabase, TestPool, TestServer};

on_both_backends!(data_survives_migrations);

const DIRECTORY: &str = "01a24000-0000-7000-8000-000000000001";
const USER: &str = "01a24000-0000-7000-8000-000000000002";
const GROUP: &str = "01a24000-0000-7000-8000-000000000003";
const TIME: &str = "2026-01-02T03:04:05.000000Z";

/// Rows in the first schema version, as SQL that both backends accept.
fn seed_statements() -> Vec<String> {
    let user = json!({"userName": "Ärger@example.com", "active": true,
        "emails": [{"value": "arger@example.com", "type": "work", "primary": true}]});
    let group = json!({"displayName": "Eng"});
    vec![
        format!("insert into directories (id, name, created_at) values ('{DIRECTORY}', 'default', '{TIME}')"),
        format!(
            "insert into users (directory_id, id, user_name, external_id, display_name, active, resource, version, created_at, last_modified) \
             values ('{DIRECTORY}', '{USER}', 'Ärger@example.com', 'ext-1', null, true, '{user}', 3, '{TIME}', '{TIME}')"
        ),
        format!(
            "insert into user_emails (directory_id, user_id, position, value, type, is_primary) \
             values ('{DIRECTORY}', '{USER}', 0, 'arger@example.com', 'work', true)"
        ),
        format!(
            "insert into groups (directory_id, id, display_name, external_id, resource, version, created_at, last_modified) \
             values ('{DIRECTORY}', '{GROUP}', 'Eng', null, '{group}', 2, '{TIME}', '{TIME}')"
        ),
        format!(
            "insert into group_members (directory_id, group_id, member_id, member_type, added_at) \
             values ('{DIRECTORY}', '{GROUP}', '{USER}', 'User', '{TIME}')"
        ),
    ]
}

async fn data_survives_migrations(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let folder = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let all = Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(folder))
        .await
        .expect("read migrations");
    assert!(
        all.migrations.len() > 1,
        "there is more than one version to migrate through"
    );
    let mut first = Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(folder))
        .await
        .expect("read migrations");
    first.migrations = Cow::Owned(vec![all.migrations[0].clone()]);

    let pool = database.pool().await;
    match &pool {
        TestPool::Sqlite(pool) => first.run(pool).await.expect("first migration"),
        TestPool::Postgres(pool) => first.run(pool).await.expect("first migration"),
    }
    for statement in seed_statements() {
        match &pool {
            TestPool::Sqlite(pool) => sqlx::query(&statement).execute(pool).await.map(|_| ()),
            TestPool::Postgres(pool) => sqlx::query(&statement).execute(pool).await.map(|_| ()),
        }
        .unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
    pool.close().await;

    // Start-up applies every later migration.
    let server = TestServer::start_on(database).await;
    let user = json_body(server.get(&format!("/Users/{USER}")).await).await;
    assert_eq!(user["userName"], "Ärger@example.com");
    assert_eq!(user["meta"]["version"], "W/\"3\"");
    assert_eq!(user["groups"][0]["value"], GROUP);
    let group = json_body(server.get(&format!("/Groups/{GROUP}")).await).await;
    assert_eq!(
        group["members"],
        json!([{"value": USER, "type": "User", "$ref": format!("{}/Users/{USER}", server.base_url)}])
    );

    // The migrated indexes still enforce uniqueness, folding every letter.
    let response = server
        .send(
            Method::POST,
            "/Users",
            &json!({"userName": "ärger@EXAMPLE.com"}),
        )
        .await;
    assert_eq!(response.status(), 409);
    let found = json_body(
        server
            .request(Method::GET, "/Users")
            .query(&[("filter", "emails.value eq \"ARGER@example.com\"")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(found["totalResults"], 1);
    server.stop().await;
}
