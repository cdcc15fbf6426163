//! Application API reads on SQLite: keyset-paginated lists in id order.
//!
//! Ids are stored as lowercase hyphenated uuid text, whose text order is
//! the order of the uuids, so `id > ?` pages the same way as on PostgreSQL.

use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::groups::{GroupRow, GROUP_COLUMNS};
use super::users::{load_groups, UserRow, USER_COLUMNS};
use super::{db_error, id_text, Timestamp, CASE_FOLD};
use crate::store::listing::{GroupListQuery, MemberEntry, UserListQuery};
use crate::store::{DirectoryId, StoreError, StoredResource};

pub(super) async fn query_users(
    pool: &SqlitePool,
    directory: DirectoryId,
    query: &UserListQuery,
) -> Result<Vec<StoredResource>, StoreError> {
    let mut select = QueryBuilder::<Sqlite>::new(format!(
        "select {USER_COLUMNS} from users r where r.directory_id = "
    ));
    select.push_bind(id_text(directory.0));
    if let Some(active) = query.active {
        select.push(" and r.active = ").push_bind(active);
    }
    if let Some(email) = &query.email {
        select
            .push(
                " and exists (select 1 from user_emails e where e.directory_id = r.directory_id \
                 and e.user_id = r.id and e.value = ",
            )
            .push_bind(email.clone())
            .push(format!(" collate {CASE_FOLD})"));
    }
    if let Some(user_name) = &query.user_name {
        select
            .push(" and r.user_name = ")
            .push_bind(user_name.clone())
            .push(format!(" collate {CASE_FOLD}"));
    }
    if let Some(external_id) = &query.external_id {
        select
            .push(" and r.external_id = ")
            .push_bind(external_id.clone());
    }
    if let Some(group) = query.group {
        select
            .push(
                " and exists (select 1 from group_members m where m.directory_id = r.directory_id \
                 and m.member_id = r.id and m.group_id = ",
            )
            .push_bind(id_text(group))
            .push(")");
    }
    if let Some(since) = query.updated_since {
        select
            .push(" and r.last_modified >= ")
            .push_bind(Timestamp(since));
    }
    if let Some(after) = query.after {
        select.push(" and r.id > ").push_bind(id_text(after));
    }
    select
        .push(" order by r.id limit ")
        .push_bind(i64::from(query.limit));
    let rows: Vec<UserRow> = select
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(db_error)?;

    let ids: Vec<Uuid> = rows.iter().map(|row| row.id.into_uuid()).collect();
    let mut groups = load_groups(pool, directory, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let user_groups = groups.remove(&row.id.into_uuid()).unwrap_or_default();
            row.into_resource(Some(user_groups))
        })
        .collect())
}

pub(super) async fn query_groups(
    pool: &SqlitePool,
    directory: DirectoryId,
    query: &GroupListQuery,
) -> Result<Vec<StoredResource>, StoreError> {
    let mut select = QueryBuilder::<Sqlite>::new(format!(
        "select {GROUP_COLUMNS} from groups r where r.directory_id = "
    ));
    select.push_bind(id_text(directory.0));
    if let Some(name) = &query.name {
        select
            .push(" and r.display_name = ")
            .push_bind(name.clone())
            .push(format!(" collate {CASE_FOLD}"));
    }
    if let Some(external_id) = &query.external_id {
        select
            .push(" and r.external_id = ")
            .push_bind(external_id.clone());
    }
    if let Some(since) = query.updated_since {
        select
            .push(" and r.last_modified >= ")
            .push_bind(Timestamp(since));
    }
    if let Some(after) = query.after {
        select.push(" and r.id > ").push_bind(id_text(after));
    }
    select
        .push(" order by r.id limit ")
        .push_bind(i64::from(query.limit));
    let rows: Vec<GroupRow> = select
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(GroupRow::into_resource).collect())
}

async fn require_exists(
    pool: &SqlitePool,
    table_query: &str,
    directory: DirectoryId,
    id: Uuid,
) -> Result<(), StoreError> {
    let found: Option<i32> = sqlx::query_scalar(table_query)
        .bind(id_text(directory.0))
        .bind(id_text(id))
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

pub(super) async fn group_member_page(
    pool: &SqlitePool,
    directory: DirectoryId,
    group: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<MemberEntry>, StoreError> {
    require_exists(
        pool,
        "select 1 from groups where directory_id = ?1 and id = ?2",
        directory,
        group,
    )
    .await?;
    // The primary key (directory_id, group_id, member_id) serves this keyset
    // scan, so a page costs the same on a group of any size.
    let rows: Vec<(Hyphenated, String, Option<String>)> = sqlx::query_as(
        r#"select m.member_id, m.member_type,
                  coalesce(u.display_name, u.user_name, g.display_name)
           from group_members m
           left join users u on m.member_type = 'User'
                and u.directory_id = m.directory_id and u.id = m.member_id
           left join groups g on m.member_type = 'Group'
                and g.directory_id = m.directory_id and g.id = m.member_id
           where m.directory_id = ?1 and m.group_id = ?2
                 and (?3 is null or m.member_id > ?3)
           order by m.member_id
           limit ?4"#,
    )
    .bind(id_text(directory.0))
    .bind(id_text(group))
    .bind(after.map(id_text))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, member_type, display)| MemberEntry {
            id: id.into_uuid(),
            member_type,
            display,
        })
        .collect())
}

pub(super) async fn user_groups(
    pool: &SqlitePool,
    directory: DirectoryId,
    user: Uuid,
) -> Result<Vec<StoredResource>, StoreError> {
    require_exists(
        pool,
        "select 1 from users where directory_id = ?1 and id = ?2",
        directory,
        user,
    )
    .await?;
    // Binary text order of names, as PostgreSQL's under a C collation.
    let query = format!(
        r#"select {GROUP_COLUMNS} from groups r
           join group_members m on m.directory_id = r.directory_id and m.group_id = r.id
           where r.directory_id = ?1 and m.member_id = ?2
           order by r.display_name, r.id"#
    );
    let rows: Vec<GroupRow> = sqlx::query_as(&query)
        .bind(id_text(directory.0))
        .bind(id_text(user))
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(GroupRow::into_resource).collect())
}
