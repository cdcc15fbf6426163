//! Export and import of one directory on PostgreSQL (see
//! [`crate::store::transfer`] for the format and what moves).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{db_error, is_unique_violation, users::insert_emails};
use crate::store::columns::{group_columns, strip_password, user_columns};
use crate::store::transfer::{
    not_empty, DirectoryExport, ExportedChange, ExportedGroup, ExportedMember, ExportedResource,
    EXPORT_FORMAT,
};
use crate::store::{Directory, DirectoryId, StoreError};

type ResourceRow = (Uuid, Value, i64, DateTime<Utc>, DateTime<Utc>);

fn exported((id, attributes, version, created, last_modified): ResourceRow) -> ExportedResource {
    ExportedResource {
        id,
        attributes,
        version,
        created,
        last_modified,
    }
}

/// Reads a directory in one repeatable-read transaction, so that the export
/// is a consistent snapshot while the server keeps writing.
/// A membership row: group, member, member type, time added, display.
type MemberRow = (Uuid, Uuid, String, DateTime<Utc>, Option<String>);

pub(super) async fn export(
    pool: &PgPool,
    directory: &Directory,
) -> Result<DirectoryExport, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let id = directory.id;

    let users: Vec<ResourceRow> = sqlx::query_as(
        "select id, resource, version, created_at, last_modified from users
         where directory_id = $1 order by created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let groups: Vec<ResourceRow> = sqlx::query_as(
        "select id, resource, version, created_at, last_modified from groups
         where directory_id = $1 order by created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let members: Vec<MemberRow> = sqlx::query_as(
        "select group_id, member_id, member_type, added_at, display from group_members
         where directory_id = $1 order by group_id, added_at, member_id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let changes: Vec<(String, Uuid, String, DateTime<Utc>, Value)> = sqlx::query_as(
        "select resource_type, resource_id, kind, occurred_at, data from changes
         where directory_id = $1 order by seq",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;

    let mut by_group: HashMap<Uuid, Vec<ExportedMember>> = HashMap::new();
    for (group_id, value, member_type, added, display) in members {
        by_group.entry(group_id).or_default().push(ExportedMember {
            value,
            member_type,
            added,
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
                    resource_id,
                    kind,
                    occurred,
                    data,
                },
            )
            .collect(),
    })
}

/// Writes an export into the directory `name`, creating it if needed, in
/// one transaction. Fails if the directory already contains data.
pub(super) async fn import(
    pool: &PgPool,
    name: &str,
    data: &DirectoryExport,
) -> Result<Directory, StoreError> {
    data.validate()?;
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query("insert into directories (id, name) values ($1, $2) on conflict (name) do nothing")
        .bind(Uuid::now_v7())
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let (id, directory_name, created_at): (Uuid, String, DateTime<Utc>) =
        sqlx::query_as("select id, name, created_at from directories where name = $1 for update")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
    let directory = DirectoryId(id);
    let rows: i64 = sqlx::query_scalar(
        "select (select count(*) from users where directory_id = $1)
              + (select count(*) from groups where directory_id = $1)
              + (select count(*) from changes where directory_id = $1)",
    )
    .bind(directory)
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
        created_at,
    })
}

async fn insert_users(
    tx: &mut Transaction<'_, Postgres>,
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
               values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
        )
        .bind(directory)
        .bind(user.id)
        .bind(&columns.user_name)
        .bind(&columns.external_id)
        .bind(&columns.display_name)
        .bind(columns.active)
        .bind(&attributes)
        .bind(user.version)
        .bind(user.created)
        .bind(user.last_modified)
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
    tx: &mut Transaction<'_, Postgres>,
    directory: DirectoryId,
    groups: &[ExportedGroup],
) -> Result<(), StoreError> {
    for group in groups {
        let resource = &group.resource;
        let columns = group_columns(&resource.attributes)?;
        sqlx::query(
            r#"insert into groups (directory_id, id, display_name, external_id, resource, version,
                                   created_at, last_modified)
               values ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        )
        .bind(directory)
        .bind(resource.id)
        .bind(&columns.display_name)
        .bind(&columns.external_id)
        .bind(&resource.attributes)
        .bind(resource.version)
        .bind(resource.created)
        .bind(resource.last_modified)
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
        let ids: Vec<Uuid> = group.members.iter().map(|member| member.value).collect();
        let types: Vec<String> = group
            .members
            .iter()
            .map(|member| member.member_type.clone())
            .collect();
        let added: Vec<DateTime<Utc>> = group.members.iter().map(|member| member.added).collect();
        let displays: Vec<Option<String>> = group
            .members
            .iter()
            .map(|member| member.display.clone())
            .collect();
        sqlx::query(
            r#"insert into group_members (directory_id, group_id, member_id, member_type, added_at, display)
               select $1, $2, t.member_id, t.member_type, t.added_at, t.display
               from unnest($3::uuid[], $4::text[], $5::timestamptz[], $6::text[])
                    as t(member_id, member_type, added_at, display)"#,
        )
        .bind(directory)
        .bind(group.resource.id)
        .bind(&ids)
        .bind(&types)
        .bind(&added)
        .bind(&displays)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

async fn insert_changes(
    tx: &mut Transaction<'_, Postgres>,
    directory: DirectoryId,
    changes: &[ExportedChange],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let types: Vec<String> = changes.iter().map(|c| c.resource_type.clone()).collect();
    let ids: Vec<Uuid> = changes.iter().map(|c| c.resource_id).collect();
    let kinds: Vec<String> = changes.iter().map(|c| c.kind.clone()).collect();
    let times: Vec<DateTime<Utc>> = changes.iter().map(|c| c.occurred).collect();
    let data: Vec<Value> = changes.iter().map(|c| c.data.clone()).collect();
    // unnest keeps the array order, so sequence numbers follow the export.
    sqlx::query(
        r#"insert into changes (directory_id, resource_type, resource_id, kind, occurred_at, data)
           select $1, t.resource_type, t.resource_id, t.kind, t.occurred_at, t.data
           from unnest($2::text[], $3::uuid[], $4::text[], $5::timestamptz[], $6::jsonb[])
                with ordinality as t(resource_type, resource_id, kind, occurred_at, data, position)
           order by t.position"#,
    )
    .bind(directory)
    .bind(&types)
    .bind(&ids)
    .bind(&kinds)
    .bind(&times)
    .bind(&data)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}
