//! The first start of `scimgate serve` on an empty store, run as the real
//! binary: it creates the `default` directory and one SCIM token, prints
//! the token once with the SCIM base URL, and never prints it again.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use common::{json_body, temp_dir, Backend, TestDatabase};
use scimgate::store::TokenScope;

on_both_backends!(first_start_prints_token_once, first_token_is_created_once);

/// Log line that `serve` writes to stderr once it accepts connections.
const LISTENING: &str = "scimgate listening";

/// A `scimgate serve` process whose output lines arrive on channels.
struct Serve {
    child: Child,
    stdout: UnboundedReceiver<String>,
    stderr: UnboundedReceiver<String>,
    seen: Vec<String>,
}

/// Forwards the lines of a child's output to a channel until it closes.
fn forward_lines<R: Read + Send + 'static>(output: R) -> UnboundedReceiver<String> {
    let (sender, receiver) = unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

impl Serve {
    /// Starts `scimgate serve` on a loopback port chosen by the system,
    /// with `database_url` or, when it is `None`, the default SQLite file
    /// in `data_dir`. The working directory is `root`, so that nothing is
    /// written into the repository.
    fn start(database_url: Option<&str>, root: &Path, data_dir: &Path) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scimgate"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .current_dir(root)
            .env_remove("DATABASE_URL")
            .env_remove("DATABASE_URL_FILE")
            .env_remove("SCIMGATE_PUBLIC_URL")
            .env_remove("SCIMGATE_DATA_DIR")
            .env("SCIMGATE_LOG", "info")
            .env("SCIMGATE_LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        let mut child = command.spawn().expect("start scimgate serve");
        let stdout = forward_lines(child.stdout.take().expect("stdout"));
        let stderr = forward_lines(child.stderr.take().expect("stderr"));
        Serve {
            child,
            stdout,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`; panics with the output
    /// so far if the process ends first.
    async fn wait_for_log(&mut self, needle: &str) {
        while let Some(line) = self.stderr.recv().await {
            let found = line.contains(needle);
            self.seen.push(line);
            if found {
                return;
            }
        }
        panic!(
            "scimgate exited before logging '{needle}'; stderr:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for a stdout line that starts with `label` (after indentation)
    /// and returns the rest of it, trimmed.
    async fn wait_for_value(&mut self, label: &str) -> String {
        while let Some(line) = self.stdout.recv().await {
            if let Some(value) = line.trim_start().strip_prefix(label) {
                return value.trim().to_owned();
            }
        }
        panic!("scimgate printed no '{label}' line on stdout");
    }

    /// Sends SIGTERM, waits for a clean exit and returns the remaining
    /// stdout and all of stderr.
    async fn stop(mut self) -> (String, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let exit = self.child.wait().expect("wait for scimgate");
        let mut stdout = Vec::new();
        while let Some(line) = self.stdout.recv().await {
            stdout.push(line);
        }
        while let Some(line) = self.stderr.recv().await {
            self.seen.push(line);
        }
        let stderr = self.seen.join("\n");
        assert!(
            exit.success(),
            "scimgate exited with {exit}; stderr:\n{stderr}"
        );
        (stdout.join("\n"), stderr)
    }
}

async fn first_start_prints_token_once(backend: Backend) {
    let root = temp_dir("first-start");
    // A folder that does not exist yet: the first start creates it.
    let data_dir = root.join("state").join("data");
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create(backend).await),
    };
    let url = database.as_ref().map(|database| database.url.as_str());

    let mut first = Serve::start(url, &root, &data_dir);
    let base_url = first.wait_for_value("SCIM Base URL:").await;
    let token = first.wait_for_value("Bearer token:").await;
    first.wait_for_log(LISTENING).await;
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    assert!(base_url.ends_with("/scim/v2"), "{base_url}");
    assert!(token.starts_with("scimgate_"), "{token}");

    let response = reqwest::Client::new()
        .get(format!("{base_url}/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /Users");
    assert_eq!(response.status(), 200);
    let list = json_body(response).await;
    assert_eq!(list["totalResults"], 0);
    let (rest, _) = first.stop().await;
    assert!(!rest.contains(&token), "the token is printed once");

    match backend {
        Backend::Sqlite => assert!(data_dir.join("scimgate.db").is_file()),
        Backend::Postgres => assert!(!data_dir.exists(), "no data dir with DATABASE_URL"),
    }

    let mut second = Serve::start(url, &root, &data_dir);
    second.wait_for_log(LISTENING).await;
    let (stdout, stderr) = second.stop().await;
    assert_eq!(stdout, "", "a later start prints nothing on stdout");
    assert!(!stderr.contains(&token));
    assert!(
        stderr.contains("scimgate token create --directory default"),
        "a later start says how to create a token; stderr:\n{stderr}"
    );

    if let Some(database) = database {
        database.remove().await;
    }
    std::fs::remove_dir_all(&root).expect("remove test folder");
}

/// Several stores on one database (replicas) race to create the first
/// token: exactly one wins, and a store that already has a token (even
/// a revoked one) gets none.
async fn first_token_is_created_once(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let first_store = scimgate::store::connect(&database.url, 2)
        .await
        .expect("open store");
    let mut stores = vec![first_store];
    for _ in 0..3 {
        stores.push(
            scimgate::store::connect(&database.url, 2)
                .await
                .expect("open store"),
        );
    }

    let mut tasks = Vec::new();
    for store in &stores {
        for _ in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                scimgate::app::create_first_token(&store).await
            }));
        }
    }
    let mut created = 0;
    for task in tasks {
        if task
            .await
            .expect("task")
            .expect("create first token")
            .is_some()
        {
            created += 1;
        }
    }
    assert_eq!(created, 1);

    let tokens = stores[0].list_tokens().await.expect("list tokens");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].directory_name, "default");
    assert_eq!(tokens[0].scope, TokenScope::Scim);

    stores[0]
        .revoke_token(tokens[0].id)
        .await
        .expect("revoke token");
    let again = scimgate::app::create_first_token(&stores[0])
        .await
        .expect("create first token");
    assert_eq!(again, None, "a revoked token still counts");

    drop(stores);
    database.remove().await;
}
