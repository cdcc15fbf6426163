//! The `scimgate` command: `serve`, `directory`, `token`, `webhook`,
//! `export` and `import` subcommands.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use uuid::Uuid;

use crate::app::{self, ServerConfig};
use crate::auth::generate_token;
use crate::config::{GlobalArgs, ServeArgs};
use crate::feed::FeedSettings;
use crate::http::Limits;
use crate::jwt::{JwtSettings, JwtVerifier};
use crate::store::transfer::DirectoryExport;
use crate::store::webhooks::EndpointUpdate;
use crate::store::{self, SharedStore, StoreError, TokenScope};
use crate::webhook::retry::RetryPolicy;
use crate::webhook::signature::generate_secret;
use crate::webhook::{validate_event_types, validate_url, WebhookSettings};

/// A SCIM 2.0 service provider: identity providers push users and groups,
/// scimgate stores them and records every change.
#[derive(Parser, Debug)]
#[command(name = "scimgate", version, about)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the SCIM server.
    Serve(Box<ServeArgs>),
    /// Manage directories (one per identity provider or customer).
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Write a directory's users, groups, memberships and change records as
    /// JSON, to move them to another store with `scimgate import`. Tokens
    /// are not exported.
    Export {
        /// Name of the directory to export.
        #[arg(long)]
        directory: String,
        /// File to write; standard output when absent.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Read the JSON written by `scimgate export` into a new or empty
    /// directory, in one transaction.
    Import {
        /// Name of the target directory, created if it does not exist.
        #[arg(long)]
        directory: String,
        /// File to read; standard input when absent.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Manage webhook endpoints and read their delivery log.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Subcommand, Debug)]
enum WebhookCommand {
    /// Register an endpoint and print its signing secret once.
    Create {
        /// Name of the directory whose events are sent.
        #[arg(long)]
        directory: String,
        /// URL that deliveries are posted to (http or https).
        #[arg(long)]
        url: String,
        /// Event type to send, such as user.created; repeat for several.
        /// Without it every event type is sent.
        #[arg(long = "event")]
        events: Vec<String>,
    },
    /// List endpoints with their state (never their secrets).
    List,
    /// Enable an endpoint; its pending deliveries resume.
    Enable {
        /// Endpoint id.
        id: Uuid,
    },
    /// Disable an endpoint; no new deliveries are queued for it.
    Disable {
        /// Endpoint id.
        id: Uuid,
    },
    /// Delete an endpoint and its delivery log.
    Delete {
        /// Endpoint id.
        id: Uuid,
    },
    /// Show an endpoint's latest deliveries.
    Deliveries {
        /// Endpoint id.
        id: Uuid,
        /// Number of deliveries to show, newest first.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
enum DirectoryCommand {
    /// Create a directory.
    Create {
        /// Unique directory name.
        name: String,
    },
    /// List directories.
    List,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token bound to a directory and print it once.
    Create {
        /// Name of the directory the token may access.
        #[arg(long)]
        directory: String,
        /// Scope of the token: `scim` pushes over SCIM, `read` reads the application API.
        #[arg(long, value_enum, default_value_t = TokenScope::Scim)]
        scope: TokenScope,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// Token id, as printed by `token create` and `token list`.
        id: Uuid,
    },
}

/// Parses the command line, runs the command and returns the exit code.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = crate::telemetry::init(cli.global.log_format, &cli.global.log_level) {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(global: &GlobalArgs, max_connections: u32) -> anyhow::Result<SharedStore> {
    let url = global.database_url()?;
    let setting = if global.uses_data_dir() {
        let dir = &global.data_dir;
        std::fs::create_dir_all(dir).map_err(|err| {
            anyhow::anyhow!(
                "cannot create the data directory {} (--data-dir, SCIMGATE_DATA_DIR): {err}",
                dir.display()
            )
        })?;
        tracing::info!(data_dir = %dir.display(), "using the SQLite database in the data directory");
        "--data-dir (SCIMGATE_DATA_DIR)"
    } else {
        "--database-url (DATABASE_URL)"
    };
    let store = store::connect(url.expose(), max_connections)
        .await
        .map_err(|err| anyhow::anyhow!("cannot open the database named by {setting}: {err}"))?;
    app::prepare(&store).await?;
    Ok(store)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(&cli.global, *args).await,
        Command::Directory(command) => {
            let store = open_store(&cli.global, 2).await?;
            directory(store, command).await
        }
        Command::Token(command) => {
            let store = open_store(&cli.global, 2).await?;
            token(store, command).await
        }
        Command::Webhook(command) => {
            let store = open_store(&cli.global, 2).await?;
            webhook(store, command).await
        }
        Command::Export { directory, file } => {
            let store = open_store(&cli.global, 2).await?;
            export(store, &directory, file).await
        }
        Command::Import { directory, file } => {
            let store = open_store(&cli.global, 2).await?;
            import(store, &directory, file).await
        }
    }
}

async fn serve(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "scimgate starting");
    let config = server_config(&args)?;
    let store = open_store(global, args.db_max_connections).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "cannot listen on {} (--listen, SCIMGATE_LISTEN): {err}",
                args.listen
            )
        })?;
    let address = listener.local_addr()?;
    let base_url = app::scim_base_url(args.public_url.as_ref(), address);
    match app::create_first_token(&store).await? {
        Some(secret) => print_first_token(&base_url, &secret),
        None => tracing::info!(
            scim.base_url = %base_url,
            "the store already has tokens, so none was created; to create one, run: \
             scimgate token create --directory {}",
            app::DEFAULT_DIRECTORY
        ),
    }
    let shutdown = app::shutdown_signal();
    app::run(store, config, listener, shutdown).await?;
    Ok(())
}

/// Builds the server settings from `serve`'s flags, failing on invalid ones.
fn server_config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    args.validate()?;
    let jwt = JwtVerifier::from_settings(&JwtSettings {
        hs256_secret: args.jwt_hs256_secret.clone(),
        public_key_file: args.jwt_public_key_file.clone(),
        jwks_file: args.jwt_jwks_file.clone(),
        issuer: args.jwt_issuer.clone(),
        audience: args.jwt_audience.clone(),
        directory_claim: Some(args.jwt_directory_claim.clone()),
    })?;
    Ok(ServerConfig {
        public_url: args.public_url.clone(),
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            request_timeout: Duration::from_secs(args.request_timeout_secs),
        },
        jwt: jwt.map(Arc::new),
        admin_token: args.admin_token.clone(),
        feed: FeedSettings {
            retention: Duration::from_secs(args.event_retention_days.saturating_mul(86_400)),
            max_wait: Duration::from_secs(args.feed_max_wait_secs),
            ..FeedSettings::default()
        },
        webhooks: WebhookSettings {
            retry: RetryPolicy {
                base: Duration::from_millis(args.webhook_retry_base_ms),
                max: Duration::from_secs(args.webhook_retry_max_secs),
                disable_after_failures: args.webhook_disable_after_failures,
                disable_after: Duration::from_secs(args.webhook_disable_after_secs),
            },
            request_timeout: Duration::from_secs(args.webhook_timeout_secs),
            lease: Duration::from_secs(args.webhook_lease_secs),
            ..WebhookSettings::default()
        },
    })
}

/// Prints the first token and the base URL to stdout, once in the life of a
/// store, framed so that it is easy to find among the log lines on stderr.
fn print_first_token(base_url: &str, secret: &str) {
    let rule = "=".repeat(72);
    println!("{rule}");
    println!(
        "First start: created a SCIM token for the '{}' directory.",
        app::DEFAULT_DIRECTORY
    );
    println!("Enter both values in your identity provider's SCIM settings:");
    println!();
    println!("  SCIM Base URL:  {base_url}");
    println!("  Bearer token:   {secret}");
    println!();
    println!("The token is shown only now (scimgate stores only its hash). To create");
    println!(
        "another one later, run: scimgate token create --directory {}",
        app::DEFAULT_DIRECTORY
    );
    println!("{rule}");
}

async fn export(store: SharedStore, name: &str, file: Option<PathBuf>) -> anyhow::Result<()> {
    let found = store.find_directory(name).await?.ok_or_else(|| {
        anyhow::anyhow!("no directory named '{name}': 'scimgate directory list' shows them")
    })?;
    let data = store.export_directory(&found).await?;
    let mut text = serde_json::to_string_pretty(&data)?;
    text.push('\n');
    match &file {
        Some(path) => std::fs::write(path, text)
            .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", path.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    eprintln!(
        "exported directory '{name}': {} users, {} groups, {} change records",
        data.users.len(),
        data.groups.len(),
        data.changes.len()
    );
    Ok(())
}

async fn import(store: SharedStore, name: &str, file: Option<PathBuf>) -> anyhow::Result<()> {
    let (text, source) = match &file {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?,
            path.display().to_string(),
        ),
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            (text, "standard input".to_owned())
        }
    };
    let data: DirectoryExport = serde_json::from_str(&text)
        .map_err(|err| anyhow::anyhow!("{source} is not the output of 'scimgate export': {err}"))?;
    let directory = store.import_directory(name, &data).await?;
    tracing::info!(directory.id = %directory.id, "directory imported");
    eprintln!(
        "imported {} users, {} groups and {} change records from directory '{}' into '{}'; \
         create a token for it with: scimgate token create --directory {}",
        data.users.len(),
        data.groups.len(),
        data.changes.len(),
        data.directory,
        directory.name,
        directory.name
    );
    Ok(())
}

async fn directory(store: SharedStore, command: DirectoryCommand) -> anyhow::Result<()> {
    match command {
        DirectoryCommand::Create { name } => {
            let name = name.trim();
            if name.is_empty() {
                anyhow::bail!("the directory name must not be empty");
            }
            let directory = store.create_directory(name).await?;
            println!("created directory '{}' ({})", directory.name, directory.id);
        }
        DirectoryCommand::List => {
            println!("{:<36}  {:<24}  CREATED", "ID", "NAME");
            for directory in store.list_directories().await? {
                println!(
                    "{:<36}  {:<24}  {}",
                    directory.id,
                    directory.name,
                    directory.created_at.to_rfc3339()
                );
            }
        }
    }
    Ok(())
}

async fn token(store: SharedStore, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { directory, scope } => {
            let found = store
                .find_directory(&directory)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no directory named '{directory}': create it with 'scimgate directory create {directory}'"))?;
            let token = generate_token();
            let record = store
                .create_token(found.id, scope, &token.lookup_prefix, &token.hash)
                .await?;
            tracing::info!(token.id = %record.id, directory.id = %found.id, scope = scope.as_str(), "token created");
            eprintln!(
                "created {} token {} for directory '{}'; it is shown only once:",
                scope.as_str(),
                record.id,
                found.name
            );
            println!("{}", token.secret);
        }
        TokenCommand::List => {
            println!(
                "{:<36}  {:<16}  {:<5}  {:<12}  {:<25}  STATUS",
                "ID", "DIRECTORY", "SCOPE", "PREFIX", "LAST USED"
            );
            for record in store.list_tokens().await? {
                let status = match record.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "active".to_owned(),
                };
                let last_used = record
                    .last_used_at
                    .map_or_else(|| "never".to_owned(), |at| at.to_rfc3339());
                println!(
                    "{:<36}  {:<16}  {:<5}  {:<12}  {:<25}  {}",
                    record.id,
                    record.directory_name,
                    record.scope.as_str(),
                    record.lookup_prefix,
                    last_used,
                    status
                );
            }
        }
        TokenCommand::Revoke { id } => match store.revoke_token(id).await {
            Ok(record) => {
                tracing::info!(token.id = %record.id, "token revoked");
                println!("revoked token {id}");
            }
            Err(StoreError::NotFound) => anyhow::bail!("no active token with id {id}"),
            Err(err) => return Err(err.into()),
        },
    }
    Ok(())
}

async fn webhook(store: SharedStore, command: WebhookCommand) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Create {
            directory,
            url,
            events,
        } => {
            validate_url(&url).map_err(anyhow::Error::msg)?;
            validate_event_types(&events).map_err(anyhow::Error::msg)?;
            let found = store
                .find_directory(&directory)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no directory named '{directory}': create it with 'scimgate directory create {directory}'"))?;
            let secret = generate_secret();
            let endpoint = store
                .create_webhook_endpoint(found.id, &url, &events, &secret)
                .await?;
            tracing::info!(webhook.id = %endpoint.id, directory.id = %found.id, "webhook endpoint created");
            eprintln!(
                "created webhook endpoint {} for directory '{}'; its signing secret is shown only once:",
                endpoint.id, found.name
            );
            println!("{secret}");
        }
        WebhookCommand::List => {
            println!(
                "{:<36}  {:<36}  {:<8}  {:<8}  URL",
                "ID", "DIRECTORY", "STATE", "FAILURES"
            );
            for endpoint in store.list_webhook_endpoints(None).await? {
                let state = if endpoint.disabled_at.is_some() {
                    "disabled"
                } else {
                    "enabled"
                };
                println!(
                    "{:<36}  {:<36}  {:<8}  {:<8}  {}",
                    endpoint.id,
                    endpoint.directory_id,
                    state,
                    endpoint.consecutive_failures,
                    endpoint.url
                );
                if let Some(reason) = &endpoint.disabled_reason {
                    println!("    {reason}");
                }
            }
        }
        WebhookCommand::Enable { id } | WebhookCommand::Disable { id } => {
            let enabled = matches!(command, WebhookCommand::Enable { .. });
            let update = EndpointUpdate {
                enabled: Some(enabled),
                ..EndpointUpdate::default()
            };
            match store
                .update_webhook_endpoint(id, &update, "disabled by an operator")
                .await
            {
                Ok(_) => {
                    let state = if enabled { "enabled" } else { "disabled" };
                    tracing::info!(webhook.id = %id, state, "webhook endpoint updated");
                    println!("{state} webhook endpoint {id}");
                }
                Err(StoreError::NotFound) => anyhow::bail!(
                    "no webhook endpoint with id {id}: list them with 'scimgate webhook list'"
                ),
                Err(err) => return Err(err.into()),
            }
        }
        WebhookCommand::Delete { id } => match store.delete_webhook_endpoint(id).await {
            Ok(()) => {
                tracing::info!(webhook.id = %id, "webhook endpoint deleted");
                println!("deleted webhook endpoint {id}");
            }
            Err(StoreError::NotFound) => anyhow::bail!(
                "no webhook endpoint with id {id}: list them with 'scimgate webhook list'"
            ),
            Err(err) => return Err(err.into()),
        },
        WebhookCommand::Deliveries { id, limit } => {
            let deliveries = match store.list_deliveries(id, None, limit).await {
                Ok(deliveries) => deliveries,
                Err(StoreError::NotFound) => anyhow::bail!(
                    "no webhook endpoint with id {id}: list them with 'scimgate webhook list'"
                ),
                Err(err) => return Err(err.into()),
            };
            println!(
                "{:<10}  {:<22}  {:<9}  {:<8}  LAST ERROR",
                "EVENT", "TYPE", "STATUS", "ATTEMPTS"
            );
            for delivery in deliveries {
                let status = match delivery.status {
                    store::webhooks::DeliveryStatus::Pending => "pending",
                    store::webhooks::DeliveryStatus::Delivered => "delivered",
                };
                println!(
                    "{:<10}  {:<22}  {:<9}  {:<8}  {}",
                    delivery.seq,
                    delivery.event_type,
                    status,
                    delivery.attempts,
                    delivery.last_error.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
