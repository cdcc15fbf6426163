//! Export and import of one directory on SQLite (see
//! [`crate::store::transfer`] for the format and what moves).

use std::collections::HashMap;

use serde_json::{json, Value};
use sqlx::types::Json;
use sqlx::{Sqlite, SqlitePool, Transaction};
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::{
    begin_write, db_error, id_text, is_unique_violation, now, users::insert_emails, JsonText,
    Timestamp,
};
use crate::store::columns::{group_columns, strip_password, user_columns};
use crate::store::transfer::{
    not_empty, DirectoryExport, ExportedChange, ExportedGroup, ExportedMember, ExportedResource,
    EXPORT_FORMAT,
};
use crate::store::{Directory, DirectoryId, StoreError};

type ResourceRow = (Hyphenated, JsonText, i64, Timestamp, Timestamp);

fn exported((id, attributes, version, created, last_modified): ResourceRow) -> ExportedResource {
    ExportedResource {
        id: id.into_uuid(),
        attributes: attributes.0,
        version,
        created: created.0,
        last_modified: last_modified.0,
    }
}

/// Reads a directory in one read transaction, which in WAL mode sees one
/// snapshot while the server keeps writing.
pub(super) async fn export(
    pool: &SqlitePool,
    directory: &Directory,
) -> Result<DirectoryExport, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let id = id_text(directory.id.0);

    let users: Vec<ResourceRow> = sqlx::query_as(
        "select id, resource, version, created_at, last_modified from users
         where directory_id = ?1 order by created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let groups: Vec<ResourceRow> = sqlx::query_as(
        "select id, resource, version, created_at, last_modified from groups
         where directory_id = ?1 order by created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let members: Vec<(Hyphenated, Hyphenated, String, Timestamp, Option<String>)> = sqlx::query_as(
        "select group_id, member_id, member_type, added_at, display from group_members
         where directory_id = ?1 order by group_id, added_at, member_id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let changes: Vec<(String, Hyphenated, String, Timestamp, JsonText)> = sqlx::query_as(
        "select resource_type, resource_id, kind, occurred_at, data from changes
         where directory_id = ?1 order by seq",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;

    let mut by_group: HashMap<Uuid, Vec<ExportedMember>> = HashMap::new();
    for (group_id, value, member_type, added, display) in members {
        by_group
            .entry(group_id.into_uuid())
            .or_default()
            .push(ExportedMember {
                value: value.into_uuid(),
                member_type,
                added: added.0,
                display,
            });
    }
    Ok(DirectoryExport {
        format: EXPORT_FORMAT.to_owned(),
        directory: directory.name.clone(),
        users: users.into_iter().map(exported).collect(),
        groups: groups
            .into_iter()
            .map(|row| {
                let resource = exported(row);
                let members = by_group.remove(&resource.id).unwrap_or_default();
                ExportedGroup { resource, members }
            })
            .collect(),
        changes: changes
            .into_iter()
            .map(
                |(resource_type, resource_id, kind, occurred, data)| ExportedChange {
                    resource_type,
                    resource_id: resource_id.into_uuid(),
                    kind,
                    occurred: occurred.0,
                    data: data.0,
                },
            )
            .collect(),
    })
}

/// Writes an export into the directory `name`, creating it if needed, in
/// one transaction. Fails if the directory already contains data.
pub(super) async fn import(
    pool: &SqlitePool,
    name: &str,
    data: &DirectoryExport,
) -> Result<Directory, StoreError> {
    data.validate()?;
    let mut tx = begin_write(pool).await?;
    sqlx::query(
        "insert into directories (id, name, created_at) values (?1, ?2, ?3) on conflict (name) do nothing",
    )
    .bind(id_text(Uuid::now_v7()))
    .bind(name)
    .bind(Timestamp(now()))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let (id, directory_name, created_at): (Hyphenated, String, Timestamp) =
        sqlx::query_as("select id, name, created_at from directories where name = ?1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
    let directory = DirectoryId(id.into_uuid());
    let rows: i64 = sqlx::query_scalar(
        "select (select count(*) from users where directory_id = ?1)
              + (select count(*) from groups where directory_id = ?1)
              + (select count(*) from changes where directory_id = ?1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    if rows > 0 {
        return Err(not_empty(name));
    }

    insert_users(&mut tx, directory, &data.users).await?;
    insert_groups(&mut tx, directory, &data.groups).await?;
    insert_changes(&mut tx, directory, &data.changes).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(Directory {
        id: directory,
        name: directory_name,
        created_at: created_at.0,
    })
}

async fn insert_users(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    users: &[ExportedResource],
) -> Result<(), StoreError> {
    for user in users {
        let mut attributes = user.attributes.clone();
        strip_password(&mut attributes);
        let columns = user_columns(&attributes)?;
        sqlx::query(
            r#"insert into users (directory_id, id, user_name, external_id, display_name, active,
                                  resource, version, created_at, last_modified)
               values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"#,
        )
        .bind(id_text(directory.0))
        .bind(id_text(user.id))
        .bind(&columns.user_name)
        .bind(&columns.external_id)
        .bind(&columns.display_name)
        .bind(columns.active)
        .bind(Json(&attributes))
        .bind(user.version)
        .bind(Timestamp(user.created))
        .bind(Timestamp(user.last_modified))
        .execute(&mut **tx)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::Conflict(format!(
                    "user {} cannot be imported: its id or userName '{}' is taken",
                    user.id, columns.user_name
                ))
            } else {
                db_error(err)
            }
        })?;
        insert_emails(tx, directory, user.id, &columns).await?;
    }
    Ok(())
}

async fn insert_groups(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    groups: &[ExportedGroup],
) -> Result<(), StoreError> {
    for group in groups {
        let resource = &group.resource;
        let columns = group_columns(&resource.attributes)?;
        sqlx::query(
            r#"insert into groups (directory_id, id, display_name, external_id, resource, version,
                                   created_at, last_modified)
               values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"#,
        )
        .bind(id_text(directory.0))
        .bind(id_text(resource.id))
        .bind(&columns.display_name)
        .bind(&columns.external_id)
        .bind(Json(&resource.attributes))
        .bind(resource.version)
        .bind(Timestamp(resource.created))
        .bind(Timestamp(resource.last_modified))
        .execute(&mut **tx)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::Conflict(format!(
                    "group {} cannot be imported: its id or displayName '{}' is taken",
                    resource.id, columns.display_name
                ))
            } else {
                db_error(err)
            }
        })?;
    }
    // Memberships after every group exists, because a member may be a
    // group that comes later in the export.
    for group in groups {
        if group.members.is_empty() {
            continue;
        }
        let rows: Vec<Value> = group
            .members
            .iter()
            .map(|member| {
                json!({
                    "id": member.value.to_string(),
                    "type": member.member_type,
                    "added": Timestamp(member.added).text(),
                    "display": member.display,
                })
            })
            .collect();
        sqlx::query(
            r#"insert into group_members (directory_id, group_id, member_id, member_type, added_at, display)
               select ?1, ?2, j.value ->> '$.id', j.value ->> '$.type', j.value ->> '$.added',
                      j.value ->> '$.display'
               from json_each(?3) as j
               order by j.key"#,
        )
        .bind(id_text(directory.0))
        .bind(id_text(group.resource.id))
        .bind(Value::from(rows).to_string())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

async fn insert_changes(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    changes: &[ExportedChange],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let rows: Vec<Value> = changes
        .iter()
        .map(|change| {
            json!({
                "resourceType": change.resource_type,
                "resourceId": change.resource_id.to_string(),
                "kind": change.kind,
                "occurred": Timestamp(change.occurred).text(),
                "data": change.data,
            })
        })
        .collect();
    // Rows are inserted in array order, so sequence numbers follow the export.
    sqlx::query(
        r#"insert into changes (directory_id, resource_type, resource_id, kind, occurred_at, data)
           select ?1, j.value ->> '$.resourceType', j.value ->> '$.resourceId',
                  j.value ->> '$.kind', j.value ->> '$.occurred', j.value -> '$.data'
           from json_each(?2) as j
           order by j.key"#,
    )
    .bind(id_text(directory.0))
    .bind(Value::from(rows).to_string())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}
