//! Storage: one trait for every database access, and its implementations:
//! [`postgres`] for production and [`sqlite`], the embedded default. The
//! backend is chosen once at start-up from the database URL ([`connect`]).
//!
//! The trait speaks in SCIM-shaped values (normalised resources, PATCH
//! operations, parsed filters) so that the HTTP layer never sees SQL and a
//! backend never sees HTTP. Each backend translates its database errors into
//! [`StoreError`] once, here at the boundary.

pub mod changes;
pub mod columns;
pub mod feed;
pub(crate) mod filter_target;
pub mod listing;
pub mod members;
pub mod postgres;
pub mod sqlite;
pub mod transfer;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::scim::cursor::CursorPosition;
use crate::scim::error::ScimError;
use crate::scim::filter::Filter;
use crate::scim::list::{Paging, SortKey};
use crate::scim::patch::{MemberRef, PatchOperation};
use crate::scim::render::{GroupView, MemberView};
use feed::ChangeBatch;
use listing::{GroupListQuery, MemberEntry, UserListQuery};
use webhooks::{
    AttemptOutcome, ClaimedDelivery, Completion, DeliveryRecord, EndpointUpdate, WebhookEndpoint,
};

/// Identifier of a directory (tenant). Every stored row belongs to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct DirectoryId(pub Uuid);

impl std::fmt::Display for DirectoryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A directory: the users and groups that one identity provider pushes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Directory {
    /// Identifier.
    pub id: DirectoryId,
    /// Unique name chosen by the operator, such as `default`.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Permission of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Push users and groups over SCIM.
    Scim,
    /// Read the directory through the application API.
    Read,
}

impl TokenScope {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Scim => "scim",
            TokenScope::Read => "read",
        }
    }

    /// Parses the stored name.
    pub fn from_db(value: &str) -> Result<Self, StoreError> {
        match value {
            "scim" => Ok(TokenScope::Scim),
            "read" => Ok(TokenScope::Read),
            other => Err(StoreError::Other(format!(
                "unknown token scope '{other}' in database"
            ))),
        }
    }
}

/// A token as listed to operators: never the secret or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Identifier, used by `scimgate token revoke`.
    pub id: Uuid,
    /// Directory the token is bound to.
    pub directory_id: DirectoryId,
    /// Name of that directory.
    pub directory_name: String,
    /// Scope of the token.
    pub scope: TokenScope,
    /// Public start of the token, to recognise it.
    pub lookup_prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last successful authentication, updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A live token with its stored hash, for authentication.
#[derive(Clone, Debug)]
pub struct TokenCredential {
    /// The token's record.
    pub record: TokenRecord,
    /// SHA-256 of the whole token.
    pub hash: Vec<u8>,
}

/// A stored user or group as the store returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResource {
    /// Resource id.
    pub id: Uuid,
    /// Normalised SCIM attributes without `id`, `meta`, `members`, `groups`.
    pub attributes: Value,
    /// Version counter, starting at 1 and bumped by every effective change.
    pub version: i64,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Time of the last effective change.
    pub last_modified: DateTime<Utc>,
    /// Group members, when requested (groups only).
    pub members: Option<Vec<MemberView>>,
    /// Groups the user is a direct member of (users only).
    pub groups: Option<Vec<GroupView>>,
}

/// Result of a list query.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// Number of resources matching the filter, over all pages.
    pub total: u64,
    /// The requested page.
    pub items: Vec<StoredResource>,
    /// With cursor paging, the position after the last item when more
    /// results follow.
    pub next: Option<CursorPosition>,
}

/// A list query, already validated.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// Filter, resolved against the resource type's schema.
    pub filter: Option<Filter>,
    /// Sort order; creation order when absent.
    pub sort: Option<SortKey>,
    /// Index or cursor paging.
    pub paging: Paging,
    /// Maximum number of results; 0 requests only the total.
    pub count: u64,
    /// Whether group members (or a user's groups) must be loaded.
    pub with_relations: bool,
}

/// Response of a group PATCH. RFC 7644 §3.5.2 allows 204, and a member
/// change on a large group should not serialise every member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchResponse {
    /// Nothing (204 No Content).
    NoContent,
    /// The updated group, with or without its members.
    Resource {
        /// Whether to load the member rows.
        with_members: bool,
    },
}

/// `If-Match` precondition for a write (RFC 7644 §3.14).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IfMatch {
    /// No `If-Match` header: write unconditionally.
    #[default]
    None,
    /// `If-Match: *`: the resource must exist.
    Any,
    /// The stored version must be one of these.
    Versions(Vec<i64>),
}

impl IfMatch {
    /// Checks the stored version, failing with [`StoreError::PreconditionFailed`].
    pub fn check(&self, version: i64) -> Result<(), StoreError> {
        match self {
            IfMatch::None | IfMatch::Any => Ok(()),
            IfMatch::Versions(versions) if versions.contains(&version) => Ok(()),
            IfMatch::Versions(_) => Err(StoreError::PreconditionFailed { current: version }),
        }
    }
}

/// Errors at the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such resource, directory or token in scope.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint: the message names the attribute and value.
    #[error("{0}")]
    Conflict(String),
    /// The `If-Match` version did not match the stored one.
    #[error("version mismatch: the resource is at version {current}")]
    PreconditionFailed {
        /// The stored version.
        current: i64,
    },
    /// The request is invalid against the stored state (for example a PATCH
    /// path that matches nothing).
    #[error(transparent)]
    Invalid(#[from] ScimError),
    /// The database could not be reached or timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database aborted the transaction because of a concurrent one (a
    /// deadlock or serialization failure). Retrying it may succeed.
    #[error("transaction aborted by a concurrent one: {0}")]
    Aborted(String),
    /// Any other database failure.
    #[error("{0}")]
    Other(String),
}

/// All database access. Every method is scoped by a directory where it
/// touches directory data, and every write runs in one transaction together
/// with the change records that describe it.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Returns the directory with this name, creating it if needed.
    async fn ensure_directory(&self, name: &str) -> Result<Directory, StoreError>;
    /// Creates a directory; [`StoreError::Conflict`] if the name is taken.
    async fn create_directory(&self, name: &str) -> Result<Directory, StoreError>;
    /// Lists every directory, by name.
    async fn list_directories(&self) -> Result<Vec<Directory>, StoreError>;
    /// Finds a directory by name.
    async fn find_directory(&self, name: &str) -> Result<Option<Directory>, StoreError>;

    /// Stores a new token's hash.
    async fn create_token(
        &self,
        directory: DirectoryId,
        scope: TokenScope,
        lookup_prefix: &str,
        hash: &[u8],
    ) -> Result<TokenRecord, StoreError>;
    /// Stores a token only if the store has no token at all, revoked ones
    /// included, and returns it; returns `None` otherwise. Several servers
    /// starting at once on one database create at most one such token.
    async fn create_first_token(
        &self,
        directory: DirectoryId,
        scope: TokenScope,
        lookup_prefix: &str,
        hash: &[u8],
    ) -> Result<Option<TokenRecord>, StoreError>;
    /// Lists every token, revoked ones included.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes a token; [`StoreError::NotFound`] if no live token has this id.
    async fn revoke_token(&self, id: Uuid) -> Result<TokenRecord, StoreError>;
    /// Live (not revoked) tokens whose public prefix is `lookup_prefix`.
    async fn live_tokens_by_prefix(
        &self,
        lookup_prefix: &str,
    ) -> Result<Vec<TokenCredential>, StoreError>;
    /// Records that a token was used, at most once a minute per token.
    async fn touch_token(&self, id: Uuid) -> Result<(), StoreError>;

    /// Creates a user from a normalised resource.
    async fn create_user(
        &self,
        directory: DirectoryId,
        attributes: Value,
    ) -> Result<StoredResource, StoreError>;
    /// Reads a user with its groups.
    async fn get_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
    ) -> Result<StoredResource, StoreError>;
    /// Lists users matching a query.
    async fn list_users(
        &self,
        directory: DirectoryId,
        query: &ListQuery,
    ) -> Result<Page, StoreError>;
    /// Replaces a user's attributes (PUT).
    async fn replace_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
        attributes: Value,
        if_match: &IfMatch,
    ) -> Result<StoredResource, StoreError>;
    /// Applies PATCH operations to a user atomically.
    async fn patch_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
        operations: &[PatchOperation],
        if_match: &IfMatch,
    ) -> Result<StoredResource, StoreError>;
    /// Deletes a user and its memberships.
    async fn delete_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
        if_match: &IfMatch,
    ) -> Result<(), StoreError>;

    /// Creates a group with its initial members.
    async fn create_group(
        &self,
        directory: DirectoryId,
        attributes: Value,
        members: Vec<MemberRef>,
    ) -> Result<StoredResource, StoreError>;
    /// Reads a group, with its members when `with_members` is set.
    async fn get_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        with_members: bool,
    ) -> Result<StoredResource, StoreError>;
    /// Lists groups matching a query.
    async fn list_groups(
        &self,
        directory: DirectoryId,
        query: &ListQuery,
    ) -> Result<Page, StoreError>;
    /// Replaces a group's attributes (PUT); `members: Some` also replaces the
    /// membership, written as the difference from the current one.
    async fn replace_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        attributes: Value,
        members: Option<Vec<MemberRef>>,
        if_match: &IfMatch,
    ) -> Result<StoredResource, StoreError>;
    /// Applies PATCH operations to a group atomically, returning the group
    /// afterwards only if `response` requests it.
    async fn patch_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        operations: &[PatchOperation],
        if_match: &IfMatch,
        response: PatchResponse,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// Deletes a group and its memberships (as group and as member).
    async fn delete_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        if_match: &IfMatch,
    ) -> Result<(), StoreError>;

    /// Lists users for the application API, in id order, with their groups.
    async fn query_users(
        &self,
        directory: DirectoryId,
        query: &UserListQuery,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// Lists groups for the application API, in id order, without members.
    async fn query_groups(
        &self,
        directory: DirectoryId,
        query: &GroupListQuery,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// Lists a group's members in member id order, at most `limit` after
    /// `after`; [`StoreError::NotFound`] if the group does not exist.
    async fn group_member_page(
        &self,
        directory: DirectoryId,
        group: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<MemberEntry>, StoreError>;
    /// Lists the groups a user is a direct member of, by name;
    /// [`StoreError::NotFound`] if the user does not exist.
    async fn user_groups(
        &self,
        directory: DirectoryId,
        user: Uuid,
    ) -> Result<Vec<StoredResource>, StoreError>;

    /// Returns a feed cursor from which every later change of the directory
    /// can be read: the last change visible now, or the retention boundary.
    async fn feed_head(&self, directory: DirectoryId) -> Result<i64, StoreError>;
    /// Reads at most `limit` change records of a directory after `after`, in
    /// sequence order. Every implementation must guarantee that sequence
    /// order is commit order within a directory, so that a reader never sees
    /// a record before an earlier-numbered one becomes visible.
    async fn read_changes(
        &self,
        directory: DirectoryId,
        after: i64,
        limit: u32,
    ) -> Result<ChangeBatch, StoreError>;
    /// Deletes change records older than `before` and delivered webhook
    /// deliveries acknowledged before it; returns the number of change
    /// records deleted.
    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Bumps `signal` whenever a change is committed, until the connection
    /// fails. Callers restart it after an error. PostgreSQL signals commits
    /// of every replica (LISTEN/NOTIFY). SQLite signals only the commits of
    /// this store, so callers must also read the log periodically to see
    /// writes by other processes on the same file.
    async fn watch_changes(
        &self,
        signal: &tokio::sync::watch::Sender<u64>,
    ) -> Result<(), StoreError>;

    /// Registers a webhook endpoint.
    async fn create_webhook_endpoint(
        &self,
        directory: DirectoryId,
        url: &str,
        event_types: &[String],
        secret: &str,
    ) -> Result<WebhookEndpoint, StoreError>;
    /// Lists endpoints, of one directory or of all, by creation time.
    async fn list_webhook_endpoints(
        &self,
        directory: Option<DirectoryId>,
    ) -> Result<Vec<WebhookEndpoint>, StoreError>;
    /// Reads one endpoint.
    async fn get_webhook_endpoint(&self, id: Uuid) -> Result<WebhookEndpoint, StoreError>;
    /// Changes an endpoint's registration; `reason` is recorded when it
    /// disables it. Enabling makes the endpoint's pending deliveries due now.
    async fn update_webhook_endpoint(
        &self,
        id: Uuid,
        update: &EndpointUpdate,
        reason: &str,
    ) -> Result<WebhookEndpoint, StoreError>;
    /// Deletes an endpoint and its deliveries.
    async fn delete_webhook_endpoint(&self, id: Uuid) -> Result<(), StoreError>;
    /// Lists an endpoint's deliveries, newest first, at most `limit` with a
    /// sequence number below `before`.
    async fn list_deliveries(
        &self,
        endpoint: Uuid,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Claims at most `limit` due deliveries of enabled endpoints for
    /// `lease`, skipping those another replica holds. A delivery is due only
    /// when no earlier pending delivery of the same resource to the same
    /// endpoint exists, which keeps deliveries in order per resource.
    async fn claim_deliveries(
        &self,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Records an attempt's outcome if the claim's lease still holds the
    /// delivery, and updates the endpoint's failure state.
    async fn complete_delivery(
        &self,
        delivery: &ClaimedDelivery,
        outcome: &AttemptOutcome,
    ) -> Result<Completion, StoreError>;

    /// Reads a directory's users, groups, memberships and change records as
    /// one consistent snapshot.
    async fn export_directory(
        &self,
        directory: &Directory,
    ) -> Result<transfer::DirectoryExport, StoreError>;
    /// Writes an export into the directory `name` in one transaction,
    /// creating the directory if needed. Fails with [`StoreError::Conflict`]
    /// if it already contains users, groups or change records.
    async fn import_directory(
        &self,
        name: &str,
        data: &transfer::DirectoryExport,
    ) -> Result<Directory, StoreError>;
}

/// A shareable handle to the configured store.
pub type SharedStore = Arc<dyn Store>;

/// Opens the store named by a database URL (`postgres://`, `postgresql://`
/// or `sqlite:`) and applies pending migrations.
pub async fn connect(url: &str, max_connections: u32) -> Result<SharedStore, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PgStore::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::Other(
            "unsupported database URL: it must start with postgres://, postgresql:// or sqlite:"
                .into(),
        ))
    }
}
