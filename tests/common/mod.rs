//! A real scimgate server on a loopback port, backed by a fresh database per
//! test, and a real HTTP client.
//!
//! Every test that touches storage runs twice, through [`on_both_backends!`]:
//! on SQLite, always, in a new file under Cargo's temporary folder for
//! integration tests; and on PostgreSQL when `SCIMGATE_TEST_POSTGRES_URL`
//! names a server (for example `postgres://postgres@127.0.0.1:5432/postgres`),
//! in a database of its own that it creates there and drops when it stops.
//! Without the variable the PostgreSQL variant prints that it was skipped
//! and passes.

#![allow(dead_code, unused_macros)]

pub mod receiver;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Once;

use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{Connection, PgConnection, PgPool, SqlitePool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use scimgate::app::{self, ServerConfig};
use scimgate::auth::generate_token;
use scimgate::store::{SharedStore, Store, TokenScope};

/// Environment variable naming the PostgreSQL server for the PostgreSQL
/// variant of each test. The role must be allowed to create databases.
pub const POSTGRES_URL_VARIABLE: &str = "SCIMGATE_TEST_POSTGRES_URL";

/// Expands each named `async fn NAME(backend: Backend)` into a module `NAME`
/// with two tests, `NAME::sqlite` and `NAME::postgres`. With a leading
/// `multi_thread:`, the tests run on a multi-threaded runtime of four
/// workers, for tests whose requests must run in parallel.
macro_rules! on_both_backends {
    (multi_thread: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    if $crate::common::postgres_enabled() {
                        super::$name($crate::common::Backend::Postgres).await;
                    }
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if $crate::common::postgres_enabled() {
                        super::$name($crate::common::Backend::Postgres).await;
                    }
                }
            }
        )*
    };
}

/// A storage backend under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database on the server named by `SCIMGATE_TEST_POSTGRES_URL`.
    Postgres,
}

/// Whether the PostgreSQL variants run. When they do not, prints one line
/// per test binary saying so. The line goes straight to the process's
/// stderr, because the test harness captures `println!` of passing tests.
pub fn postgres_enabled() -> bool {
    static NOTICE: Once = Once::new();
    if postgres_admin_url().is_some() {
        return true;
    }
    NOTICE.call_once(|| {
        // One write call, so that the line is not split by the harness's
        // own output.
        let notice = format!(
            "\nskipped: PostgreSQL variants of the {} tests, because {POSTGRES_URL_VARIABLE} is not set \
             (set it to a postgres:// URL whose role may create databases to run them)\n",
            env!("CARGO_CRATE_NAME"),
        );
        let _ = std::io::stderr().write_all(notice.as_bytes());
    });
    false
}

fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VARIABLE)
        .ok()
        .filter(|url| !url.trim().is_empty())
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

/// An empty database of one backend, removed by [`TestDatabase::remove`].
pub struct TestDatabase {
    /// URL to pass to `scimgate` (`DATABASE_URL`) or to `store::connect`.
    pub url: String,
    /// Which backend it is.
    pub backend: Backend,
    location: Location,
}

enum Location {
    /// A folder of its own that contains the SQLite file and its WAL files.
    Sqlite(PathBuf),
    /// A database on the PostgreSQL server, by name.
    Postgres(String),
}

/// Creates a new folder under Cargo's temporary folder for integration tests.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|err| panic!("create test folder {}: {err}", dir.display()));
    dir
}

impl TestDatabase {
    /// Creates an empty database; panics if the backend cannot be reached.
    pub async fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = temp_dir("sqlite");
                let url = format!("sqlite://{}/scimgate.db?mode=rwc", dir.display());
                TestDatabase {
                    url,
                    backend,
                    location: Location::Sqlite(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url()
                    .unwrap_or_else(|| panic!("{POSTGRES_URL_VARIABLE} is not set"));
                let name = format!("scimgate_test_{}", uuid::Uuid::new_v4().simple());
                let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|err| {
                    panic!("cannot connect to the test PostgreSQL server at {POSTGRES_URL_VARIABLE} ({admin}): {err}")
                });
                sqlx::query(&format!("create database {name}"))
                    .execute(&mut connection)
                    .await
                    .expect("create test database");
                connection.close().await.ok();
                TestDatabase {
                    url: with_database(&admin, &name),
                    backend,
                    location: Location::Postgres(name),
                }
            }
        }
    }

    /// Opens a small pool on the database, for reading rows directly.
    pub async fn pool(&self) -> TestPool {
        match self.backend {
            Backend::Sqlite => TestPool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect(&self.url)
                    .await
                    .expect("open test SQLite database"),
            ),
            Backend::Postgres => TestPool::Postgres(
                PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&self.url)
                    .await
                    .expect("connect test PostgreSQL database"),
            ),
        }
    }

    /// Deletes the SQLite folder or drops the PostgreSQL database.
    pub async fn remove(self) {
        match self.location {
            Location::Sqlite(dir) => {
                std::fs::remove_dir_all(&dir)
                    .unwrap_or_else(|err| panic!("remove test folder {}: {err}", dir.display()));
            }
            Location::Postgres(name) => {
                let admin = postgres_admin_url().expect("admin URL");
                let mut connection = PgConnection::connect(&admin).await.expect("connect admin");
                sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut connection)
                    .await
                    .expect("drop test database");
            }
        }
    }
}

/// A pool on a test database, for assertions on stored rows. The SQL given
/// to its methods must be valid on both backends.
pub enum TestPool {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl TestPool {
    /// Runs a query that returns one integer, such as `select count(*) ...`.
    pub async fn count(&self, sql: &str) -> i64 {
        match self {
            TestPool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            TestPool::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// Runs a query whose one column is text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        match self {
            TestPool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            TestPool::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// Runs a query whose one column is JSON (jsonb on PostgreSQL, JSON text
    /// on SQLite).
    pub async fn json(&self, sql: &str) -> Vec<Value> {
        match self {
            TestPool::Sqlite(pool) => {
                let rows: Vec<String> = sqlx::query_scalar(sql)
                    .fetch_all(pool)
                    .await
                    .unwrap_or_else(|err| panic!("{sql}: {err}"));
                rows.iter()
                    .map(|text| serde_json::from_str(text).expect("stored JSON"))
                    .collect()
            }
            TestPool::Postgres(pool) => sqlx::query_scalar(sql)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}")),
        }
    }

    /// Runs a query whose one column is a time (timestamptz on PostgreSQL,
    /// RFC 3339 text on SQLite).
    pub async fn times(&self, sql: &str) -> Vec<DateTime<Utc>> {
        match self {
            TestPool::Sqlite(pool) => {
                let rows: Vec<String> = sqlx::query_scalar(sql)
                    .fetch_all(pool)
                    .await
                    .unwrap_or_else(|err| panic!("{sql}: {err}"));
                rows.iter()
                    .map(|text| {
                        DateTime::parse_from_rfc3339(text)
                            .expect("stored time")
                            .with_timezone(&Utc)
                    })
                    .collect()
            }
            TestPool::Postgres(pool) => sqlx::query_scalar(sql)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}")),
        }
    }

    /// Change records as `(seq, kind)`, in sequence order.
    pub async fn changes(&self) -> Vec<(i64, String)> {
        let sql = "select seq, kind from changes order by seq";
        match self {
            TestPool::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            TestPool::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// Change records as `(seq, kind, resource_id)`, in sequence order.
    pub async fn change_resources(&self) -> Vec<(i64, String, String)> {
        let sql = "select seq, kind, cast(resource_id as text) from changes order by seq";
        match self {
            TestPool::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            TestPool::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            TestPool::Sqlite(pool) => pool.close().await,
            TestPool::Postgres(pool) => pool.close().await,
        }
    }
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
    pub pool: TestPool,
    database: Option<TestDatabase>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Creates a database, migrates it and starts a server on 127.0.0.1:0.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`TestServer::start`], with settings changed by `configure`.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let database = TestDatabase::create(backend).await;
        TestServer::start_on_with(database, configure).await
    }

    /// Starts a server on an existing database, migrating it first. The
    /// server removes the database when it stops.
    pub async fn start_on(database: TestDatabase) -> TestServer {
        TestServer::start_on_with(database, |_| {}).await
    }

    /// Like [`TestServer::start_on`], with settings changed by `configure`.
    pub async fn start_on_with(
        database: TestDatabase,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let store = scimgate::store::connect(&database.url, 5)
            .await
            .unwrap_or_else(|err| panic!("open {:?} test database: {err}", database.backend));
        app::prepare(&store).await.expect("prepare");
        let token = create_token(store.as_ref(), "default", TokenScope::Scim).await;
        let pool = database.pool().await;

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
            database: Some(database),
            shutdown: Some(shutdown),
            handle: Some(handle),
        }
    }

    /// URL of the server's database.
    pub fn database_url(&self) -> &str {
        &self.database.as_ref().expect("database").url
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
        self.pool
            .changes()
            .await
            .into_iter()
            .map(|(_, kind)| kind)
            .collect()
    }

    /// Stops the server and removes the database.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server");
        }
        self.pool.close().await;
        if let Some(database) = self.database.take() {
            // The server's own pool must be closed before the database goes.
            drop(self.store);
            database.remove().await;
        }
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
