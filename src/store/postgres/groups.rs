//! Groups on PostgreSQL.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::list::list_rows;
use super::membership::{apply_plan, load_members, lock_groups, remove_member_everywhere};
use super::{db_error, is_unique_violation, now, record_changes};
use crate::scim::patch::MemberRef;
use crate::scim::render::{render_resource, ResourceMeta};
use crate::scim::schema::ResourceKind;
use crate::store::changes::{self, Change, ChangeKind};
use crate::store::columns::{group_columns, GroupColumns};
use crate::store::members::MembershipPlan;
use crate::store::{
    DirectoryId, IfMatch, ListQuery, Page, PatchResponse, StoreError, StoredResource,
};

#[derive(sqlx::FromRow)]
pub(super) struct GroupRow {
    id: Uuid,
    resource: Value,
    version: i64,
    created_at: DateTime<Utc>,
    last_modified: DateTime<Utc>,
}

impl GroupRow {
    pub(super) fn into_resource(self) -> StoredResource {
        StoredResource {
            id: self.id,
            attributes: self.resource,
            version: self.version,
            created: self.created_at,
            last_modified: self.last_modified,
            members: None,
            groups: None,
        }
    }
}

pub(super) const GROUP_COLUMNS: &str = "r.id, r.resource, r.version, r.created_at, r.last_modified";

fn conflict(columns: &GroupColumns) -> StoreError {
    StoreError::Conflict(format!(
        "displayName '{}' is already taken by another group in this directory",
        columns.display_name
    ))
}

/// Renders the representation stored in change records: attributes without members,
/// which get one record each.
fn change_view(resource: &StoredResource) -> Value {
    let meta = ResourceMeta {
        kind: ResourceKind::Group,
        id: resource.id.to_string(),
        created: resource.created,
        last_modified: resource.last_modified,
        version: resource.version,
    };
    render_resource(&meta, &resource.attributes, None, None, None)
}

pub(super) async fn create(
    pool: &PgPool,
    directory: DirectoryId,
    attributes: Value,
    members: Vec<MemberRef>,
) -> Result<StoredResource, StoreError> {
    let columns = group_columns(&attributes)?;
    let id = Uuid::now_v7();
    let at = now();

    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query(
        r#"insert into groups (directory_id, id, display_name, external_id, resource, version,
                               created_at, last_modified)
           values ($1, $2, $3, $4, $5, 1, $6, $6)"#,
    )
    .bind(directory)
    .bind(id)
    .bind(&columns.display_name)
    .bind(&columns.external_id)
    .bind(&attributes)
    .bind(at)
    .execute(&mut *tx)
    .await
    .map_err(|err| {
        if is_unique_violation(&err) {
            conflict(&columns)
        } else {
            db_error(err)
        }
    })?;

    let plan = MembershipPlan::replace_with(&members);
    let delta = apply_plan(&mut tx, directory, id, &plan, at).await?;
    let mut group = StoredResource {
        id,
        attributes,
        version: 1,
        created: at,
        last_modified: at,
        members: None,
        groups: None,
    };
    let mut change_log = vec![Change {
        resource_type: ResourceKind::Group,
        resource_id: id,
        kind: ChangeKind::GroupCreated,
        data: changes::resource_data(change_view(&group)),
    }];
    change_log.extend(delta.changes(id, &columns.display_name));
    let mut members = load_members(&mut *tx, directory, &[id]).await?;
    group.members = Some(members.remove(&id).unwrap_or_default());
    record_changes(&mut tx, directory, at, &change_log).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(group)
}

pub(super) async fn get(
    pool: &PgPool,
    directory: DirectoryId,
    id: Uuid,
    with_members: bool,
) -> Result<StoredResource, StoreError> {
    let query =
        format!("select {GROUP_COLUMNS} from groups r where r.directory_id = $1 and r.id = $2");
    let row: GroupRow = sqlx::query_as(&query)
        .bind(directory)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
    let mut group = row.into_resource();
    if with_members {
        let mut members = load_members(pool, directory, &[id]).await?;
        group.members = Some(members.remove(&id).unwrap_or_default());
    }
    Ok(group)
}

pub(super) async fn list(
    pool: &PgPool,
    directory: DirectoryId,
    query: &ListQuery,
) -> Result<Page, StoreError> {
    let (total, rows, next) =
        list_rows(pool, "groups", ResourceKind::Group, directory, query).await?;
    let mut members = if query.with_relations {
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        Some(load_members(pool, directory, &ids).await?)
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|row| StoredResource {
            members: members
                .as_mut()
                .map(|members| members.remove(&row.id).unwrap_or_default()),
            id: row.id,
            attributes: row.resource,
            version: row.version,
            created: row.created_at,
            last_modified: row.last_modified,
            groups: None,
        })
        .collect();
    Ok(Page { total, items, next })
}

async fn lock_group(
    tx: &mut Transaction<'_, Postgres>,
    directory: DirectoryId,
    id: Uuid,
) -> Result<GroupRow, StoreError> {
    let query = format!(
        "select {GROUP_COLUMNS} from groups r where r.directory_id = $1 and r.id = $2 for update"
    );
    sqlx::query_as(&query)
        .bind(directory)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)
}

/// Updates a group under a row lock: `compute` turns the current attributes
/// into the new attributes and a membership plan. Nothing is written, and
/// the version stays, when neither changes anything.
pub(super) async fn update<F>(
    pool: &PgPool,
    directory: DirectoryId,
    id: Uuid,
    if_match: &IfMatch,
    response: PatchResponse,
    compute: F,
) -> Result<Option<StoredResource>, StoreError>
where
    F: FnOnce(&Value) -> Result<(Value, MembershipPlan), StoreError>,
{
    let mut tx = pool.begin().await.map_err(db_error)?;
    let row = lock_group(&mut tx, directory, id).await?;
    if_match.check(row.version)?;

    let (attributes, plan) = compute(&row.resource)?;
    let columns = group_columns(&attributes)?;
    let at = now();
    let delta = apply_plan(&mut tx, directory, id, &plan, at).await?;
    let attributes_changed = attributes != row.resource;

    let mut change_log = Vec::new();
    let mut group =
        if attributes_changed || !delta.is_empty() {
            let version = row.version + 1;
            sqlx::query(
            r#"update groups set display_name = $3, external_id = $4, resource = $5, version = $6,
                      last_modified = $7
               where directory_id = $1 and id = $2"#,
        )
        .bind(directory)
        .bind(id)
        .bind(&columns.display_name)
        .bind(&columns.external_id)
        .bind(&attributes)
        .bind(version)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|err| if is_unique_violation(&err) { conflict(&columns) } else { db_error(err) })?;

            let group = StoredResource {
                id,
                attributes,
                version,
                created: row.created_at,
                last_modified: at,
                members: None,
                groups: None,
            };
            if attributes_changed {
                let changed = changes::changed_attributes(&row.resource, &group.attributes);
                change_log.push(Change {
                    resource_type: ResourceKind::Group,
                    resource_id: id,
                    kind: ChangeKind::GroupUpdated,
                    data: changes::update_data(change_view(&group), changed),
                });
            }
            change_log.extend(delta.changes(id, &columns.display_name));
            group
        } else {
            row.into_resource()
        };

    let result = match response {
        PatchResponse::NoContent => None,
        PatchResponse::Resource { with_members } => {
            if with_members {
                let mut members = load_members(&mut *tx, directory, &[id]).await?;
                group.members = Some(members.remove(&id).unwrap_or_default());
            }
            Some(group)
        }
    };
    // Last, because it takes the directory's change-log lock until commit.
    record_changes(&mut tx, directory, at, &change_log).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(result)
}

pub(super) async fn delete(
    pool: &PgPool,
    directory: DirectoryId,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    // Lock the parent groups and this group in id order, as other writers do.
    let mut group_ids: Vec<Uuid> = sqlx::query_scalar(
        "select group_id from group_members where directory_id = $1 and member_id = $2",
    )
    .bind(directory)
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    group_ids.push(id);
    lock_groups(&mut tx, directory, &group_ids).await?;
    let row = lock_group(&mut tx, directory, id).await?;
    if_match.check(row.version)?;

    let at = now();
    let last_state = row.into_resource();
    let mut change_log = remove_member_everywhere(&mut tx, directory, id, "Group", at).await?;
    sqlx::query("delete from groups where directory_id = $1 and id = $2")
        .bind(directory)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    change_log.push(Change {
        resource_type: ResourceKind::Group,
        resource_id: id,
        kind: ChangeKind::GroupDeleted,
        data: changes::resource_data(change_view(&last_state)),
    });
    record_changes(&mut tx, directory, at, &change_log).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(())
}
