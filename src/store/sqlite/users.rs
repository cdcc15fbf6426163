//! Users on SQLite.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::list::list_rows;
use super::{
    begin_write, db_error, id_list, id_text, is_unique_violation, now, record_changes, JsonText,
    Timestamp,
};
use crate::scim::render::{render_resource, GroupView, ResourceMeta};
use crate::scim::schema::ResourceKind;
use crate::store::changes::{self, Change, ChangeKind};
use crate::store::columns::{prepare_user_attributes, user_columns, UserColumns};
use crate::store::{DirectoryId, IfMatch, ListQuery, Page, StoreError, StoredResource};

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub(super) id: Hyphenated,
    resource: JsonText,
    version: i64,
    created_at: Timestamp,
    last_modified: Timestamp,
}

impl UserRow {
    pub(super) fn into_resource(self, groups: Option<Vec<GroupView>>) -> StoredResource {
        StoredResource {
            id: self.id.into_uuid(),
            attributes: self.resource.0,
            version: self.version,
            created: self.created_at.0,
            last_modified: self.last_modified.0,
            members: None,
            groups,
        }
    }
}

pub(super) const USER_COLUMNS: &str = "r.id, r.resource, r.version, r.created_at, r.last_modified";

fn conflict(columns: &UserColumns) -> StoreError {
    StoreError::Conflict(format!(
        "userName '{}' is already taken in this directory",
        columns.user_name
    ))
}

/// Renders the representation stored in change records: no location, since it
/// depends on how the server is reached.
pub(super) fn change_view(resource: &StoredResource) -> Value {
    let meta = ResourceMeta {
        kind: ResourceKind::User,
        id: resource.id.to_string(),
        created: resource.created,
        last_modified: resource.last_modified,
        version: resource.version,
    };
    render_resource(
        &meta,
        &resource.attributes,
        None,
        resource.groups.as_deref(),
        None,
    )
}

pub(super) async fn create(
    pool: &SqlitePool,
    directory: DirectoryId,
    mut attributes: Value,
) -> Result<StoredResource, StoreError> {
    prepare_user_attributes(&mut attributes);
    let columns = user_columns(&attributes)?;
    let id = Uuid::now_v7();
    let at = now();

    let mut tx = begin_write(pool).await?;
    sqlx::query(
        r#"insert into users (directory_id, id, user_name, external_id, display_name, active,
                              resource, version, created_at, last_modified)
           values (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)"#,
    )
    .bind(id_text(directory.0))
    .bind(id_text(id))
    .bind(&columns.user_name)
    .bind(&columns.external_id)
    .bind(&columns.display_name)
    .bind(columns.active)
    .bind(Json(&attributes))
    .bind(Timestamp(at))
    .execute(&mut *tx)
    .await
    .map_err(|err| {
        if is_unique_violation(&err) {
            conflict(&columns)
        } else {
            db_error(err)
        }
    })?;
    insert_emails(&mut tx, directory, id, &columns).await?;

    let user = StoredResource {
        id,
        attributes,
        version: 1,
        created: at,
        last_modified: at,
        members: None,
        groups: Some(Vec::new()),
    };
    let change = Change {
        resource_type: ResourceKind::User,
        resource_id: id,
        kind: ChangeKind::UserCreated,
        data: changes::resource_data(change_view(&user)),
    };
    record_changes(&mut tx, directory, at, &[change]).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(user)
}

pub(super) async fn insert_emails(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    id: Uuid,
    columns: &UserColumns,
) -> Result<(), StoreError> {
    if columns.emails.is_empty() {
        return Ok(());
    }
    // Six parameters a row stays far below SQLite's limit of 32766
    // parameters a statement for any email list a request body can carry.
    let mut builder = QueryBuilder::<Sqlite>::new(
        "insert into user_emails (directory_id, user_id, position, value, type, is_primary) ",
    );
    builder.push_values(
        columns.emails.iter().enumerate(),
        |mut row, (position, email)| {
            row.push_bind(id_text(directory.0))
                .push_bind(id_text(id))
                .push_bind(i64::try_from(position).unwrap_or(i64::MAX))
                .push_bind(&email.value)
                .push_bind(&email.email_type)
                .push_bind(email.primary);
        },
    );
    builder.build().execute(&mut **tx).await.map_err(db_error)?;
    Ok(())
}

pub(super) async fn get(
    pool: &SqlitePool,
    directory: DirectoryId,
    id: Uuid,
) -> Result<StoredResource, StoreError> {
    let query =
        format!("select {USER_COLUMNS} from users r where r.directory_id = ?1 and r.id = ?2");
    let row: UserRow = sqlx::query_as(&query)
        .bind(id_text(directory.0))
        .bind(id_text(id))
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
    let mut groups = load_groups(pool, directory, &[id]).await?;
    let groups = groups.remove(&id).unwrap_or_default();
    Ok(row.into_resource(Some(groups)))
}

/// Loads the direct groups of several users in one query.
pub(super) async fn load_groups<'e, E>(
    executor: E,
    directory: DirectoryId,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<GroupView>>, StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    // Binary text order, as PostgreSQL's under a C or C.UTF-8 collation.
    let rows: Vec<(Hyphenated, Hyphenated, String)> = sqlx::query_as(
        r#"select m.member_id, g.id, g.display_name
           from group_members m
           join groups g on g.directory_id = m.directory_id and g.id = m.group_id
           where m.directory_id = ?1 and m.member_id in (select value from json_each(?2))
           order by g.display_name, g.id"#,
    )
    .bind(id_text(directory.0))
    .bind(id_list(user_ids))
    .fetch_all(executor)
    .await
    .map_err(db_error)?;
    let mut groups: HashMap<Uuid, Vec<GroupView>> = HashMap::new();
    for (member_id, group_id, display_name) in rows {
        groups
            .entry(member_id.into_uuid())
            .or_default()
            .push(GroupView {
                value: group_id.to_string(),
                display: display_name,
            });
    }
    Ok(groups)
}

pub(super) async fn list(
    pool: &SqlitePool,
    directory: DirectoryId,
    query: &ListQuery,
) -> Result<Page, StoreError> {
    let (total, rows, next) =
        list_rows(pool, "users", ResourceKind::User, directory, query).await?;
    let mut groups = if query.with_relations {
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id.into_uuid()).collect();
        Some(load_groups(pool, directory, &ids).await?)
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|row| {
            let id = row.id.into_uuid();
            StoredResource {
                id,
                attributes: row.resource.0,
                version: row.version,
                created: row.created_at.0,
                last_modified: row.last_modified.0,
                members: None,
                groups: groups
                    .as_mut()
                    .map(|groups| groups.remove(&id).unwrap_or_default()),
            }
        })
        .collect();
    Ok(Page { total, items, next })
}

async fn read_user(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    id: Uuid,
) -> Result<UserRow, StoreError> {
    let query =
        format!("select {USER_COLUMNS} from users r where r.directory_id = ?1 and r.id = ?2");
    sqlx::query_as(&query)
        .bind(id_text(directory.0))
        .bind(id_text(id))
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)
}

/// Replaces a user's attributes with what `compute` makes of the current
/// ones, under the write lock. An update that changes nothing writes nothing
/// and keeps the version.
pub(super) async fn update<F>(
    pool: &SqlitePool,
    directory: DirectoryId,
    id: Uuid,
    if_match: &IfMatch,
    compute: F,
) -> Result<StoredResource, StoreError>
where
    F: FnOnce(&Value) -> Result<Value, StoreError>,
{
    let mut tx = begin_write(pool).await?;
    let row = read_user(&mut tx, directory, id).await?;
    if_match.check(row.version)?;

    let mut attributes = compute(&row.resource.0)?;
    prepare_user_attributes(&mut attributes);
    let columns = user_columns(&attributes)?;
    let mut groups = load_groups(&mut *tx, directory, &[id]).await?;
    let groups = groups.remove(&id).unwrap_or_default();
    if attributes == row.resource.0 {
        return Ok(row.into_resource(Some(groups)));
    }

    let at = now();
    let version = row.version + 1;
    sqlx::query(
        r#"update users set user_name = ?3, external_id = ?4, display_name = ?5, active = ?6,
                  resource = ?7, version = ?8, last_modified = ?9
           where directory_id = ?1 and id = ?2"#,
    )
    .bind(id_text(directory.0))
    .bind(id_text(id))
    .bind(&columns.user_name)
    .bind(&columns.external_id)
    .bind(&columns.display_name)
    .bind(columns.active)
    .bind(Json(&attributes))
    .bind(version)
    .bind(Timestamp(at))
    .execute(&mut *tx)
    .await
    .map_err(|err| {
        if is_unique_violation(&err) {
            conflict(&columns)
        } else {
            db_error(err)
        }
    })?;
    sqlx::query("delete from user_emails where directory_id = ?1 and user_id = ?2")
        .bind(id_text(directory.0))
        .bind(id_text(id))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    insert_emails(&mut tx, directory, id, &columns).await?;

    let kind = changes::user_update_kind(&row.resource.0, &attributes);
    let changed = changes::changed_attributes(&row.resource.0, &attributes);
    let user = StoredResource {
        id,
        attributes,
        version,
        created: row.created_at.0,
        last_modified: at,
        members: None,
        groups: Some(groups),
    };
    let change = Change {
        resource_type: ResourceKind::User,
        resource_id: id,
        kind,
        data: changes::update_data(change_view(&user), changed),
    };
    record_changes(&mut tx, directory, at, &[change]).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(user)
}

pub(super) async fn delete(
    pool: &SqlitePool,
    directory: DirectoryId,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), StoreError> {
    // The write lock covers the user's groups too, so there is nothing to
    // lock in order as on PostgreSQL.
    let mut tx = begin_write(pool).await?;
    let row = read_user(&mut tx, directory, id).await?;
    if_match.check(row.version)?;

    let mut groups = load_groups(&mut *tx, directory, &[id]).await?;
    let last_state = row.into_resource(Some(groups.remove(&id).unwrap_or_default()));
    let at = now();
    let mut change_log =
        super::membership::remove_member_everywhere(&mut tx, directory, id, "User", at).await?;

    sqlx::query("delete from users where directory_id = ?1 and id = ?2")
        .bind(id_text(directory.0))
        .bind(id_text(id))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    change_log.push(Change {
        resource_type: ResourceKind::User,
        resource_id: id,
        kind: ChangeKind::UserDeleted,
        data: changes::resource_data(change_view(&last_state)),
    });
    record_changes(&mut tx, directory, at, &change_log).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(())
}
