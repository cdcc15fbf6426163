//! A real scimgate server on a loopback port, backed by a fresh PostgreSQL
//! database per test, and a real HTTP client.
//!
//! The PostgreSQL server is named by `SCIMGATE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its own
//! database there and drops it when it stops.

#![allow(dead_code)]

pub mod receiver;

use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use scimgate::app::{self, ServerConfig};
use scimgate::auth::generate_token;
use scimgate::store::postgres::PgStore;
use scimgate::store::{SharedStore, Store, TokenScope};

/// Default admin URL of the test PostgreSQL server.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("SCIMGATE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

/// Creates an empty database on the test server and returns its name, its
/// URL and a pool on it.
pub async fn create_database() -> (String, String, PgPool) {
    let admin = admin_url();
    let database = format!("scimgate_test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|err| {
        panic!("cannot connect to the test PostgreSQL server at SCIMGATE_TEST_POSTGRES_URL ({admin}): {err}")
    });
    sqlx::query(&format!("create database {database}"))
        .execute(&mut connection)
        .await
        .expect("create test database");
    connection.close().await.ok();

    let url = with_database(&admin, &database);
    // A server's background workers hold one connection for change
    // notifications and briefly use others, besides the requests.
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(&url)
        .await
        .expect("connect test database");
    (database, url, pool)
}

/// Drops a database created by [`create_database`].
pub async fn drop_database(database: &str) {
    let mut connection = PgConnection::connect(&admin_url())
        .await
        .expect("connect admin");
    sqlx::query(&format!("drop database if exists {database} with (force)"))
        .execute(&mut connection)
        .await
        .expect("drop test database");
}

/// A running server with its own database and a SCIM token for `default`.
pub struct TestServer {
    /// SCIM base URL, such as `http://127.0.0.1:40000/scim/v2`.
    pub base_url: String,
    /// Origin, such as `http://127.0.0.1:40000`.
    pub origin: String,
    /// SCIM token of the `default` directory.
    pub token: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The server's store, for creating more directories and tokens.
    pub store: SharedStore,
    /// A pool on the test database, for inspecting rows.
    pub pool: PgPool,
    /// URL of the test database, for starting more servers on it.
    pub database_url: String,
    database: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Creates a database, migrates it and starts a server on 127.0.0.1:0.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with settings changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let (database, url, pool) = create_database().await;
        let pg_store = PgStore::from_pool(pool.clone());
        pg_store.migrate().await.expect("migrate");
        let store: SharedStore = Arc::new(pg_store);
        app::prepare(&store).await.expect("prepare");
        let token = create_token(store.as_ref(), "default", TokenScope::Scim).await;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("address"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let mut config = ServerConfig {
            limits: scimgate::http::Limits {
                max_body_bytes: 64 * 1024,
                request_timeout: std::time::Duration::from_secs(30),
            },
            ..ServerConfig::default()
        };
        configure(&mut config);
        let handle = tokio::spawn(app::run(store.clone(), config, listener, async {
            let _ = stopped.await;
        }));
        TestServer {
            base_url: format!("{origin}/scim/v2"),
            origin,
            token,
            client: reqwest::Client::new(),
            store,
            pool,
            database_url: url,
            database,
            shutdown: Some(shutdown),
            handle: Some(handle),
        }
    }

    /// Builds a request to `path` under the SCIM base URL with the default token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
    }

    /// Sends a SCIM JSON body.
    pub async fn send(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    /// GET with the default token.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    /// Creates a user and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "active": true,
        });
        let response = self.send(Method::POST, "/Users", &body).await;
        assert_eq!(response.status(), 201, "create user {user_name}");
        let created: Value = response.json().await.expect("json");
        created["id"].as_str().expect("id").to_owned()
    }

    /// Creates a group with members and returns its id.
    pub async fn create_group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members
            .iter()
            .map(|id| serde_json::json!({"value": id}))
            .collect();
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": members,
        });
        let response = self.send(Method::POST, "/Groups", &body).await;
        assert_eq!(response.status(), 201, "create group {name}");
        let created: Value = response.json().await.expect("json");
        created["id"].as_str().expect("id").to_owned()
    }

    /// Creates a `read` scope token for the `default` directory.
    pub async fn read_token(&self) -> String {
        create_token(self.store.as_ref(), "default", TokenScope::Read).await
    }

    /// GET `path` (under the origin, such as `/api/v1/users`) with `token`.
    pub async fn get_with(&self, token: &str, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.origin))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// GET `path` with `token`, asserting 200, and returns the JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let response = self.get_with(token, path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json body")
    }

    /// Change kinds recorded so far, in sequence order.
    pub async fn change_kinds(&self) -> Vec<String> {
        sqlx::query_scalar("select kind from changes order by seq")
            .fetch_all(&self.pool)
            .await
            .expect("read changes")
    }

    /// Stops the server and drops the database.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server");
        }
        self.pool.close().await;
        drop_database(&self.database).await;
    }
}

/// Creates a token for a directory by name, creating the directory too.
pub async fn create_token(store: &dyn Store, directory: &str, scope: TokenScope) -> String {
    let directory = store.ensure_directory(directory).await.expect("directory");
    let token = generate_token();
    store
        .create_token(directory.id, scope, &token.lookup_prefix, &token.hash)
        .await
        .expect("token");
    token.secret
}

/// Reads a response as JSON, asserting the SCIM media type.
pub async fn json_body(response: Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/scim+json"),
        "content type {content_type}"
    );
    response.json().await.expect("json body")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_path() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
