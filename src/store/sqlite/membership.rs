//! Membership rows on SQLite: every change costs work proportional to the
//! members it names, never to the group's size (except a full replace).
//!
//! Lists of ids travel as one bound JSON array read with `json_each`, where
//! the PostgreSQL store binds arrays. The write transaction holds the whole
//! database's write lock, so there are no row locks to take in order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{Sqlite, Transaction};
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::{db_error, id_list, id_text, Timestamp};
use crate::scim::render::MemberView;
use crate::scim::schema::ResourceKind;
use crate::store::changes::{self, Change, ChangeKind};
use crate::store::members::{MembershipDelta, MembershipPlan};
use crate::store::{DirectoryId, StoreError};

/// Finds which of `ids` are users or groups of the directory.
async fn resolve_members(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users: Vec<Hyphenated> = sqlx::query_scalar(
        "select id from users where directory_id = ?1 and id in (select value from json_each(?2))",
    )
    .bind(id_text(directory.0))
    .bind(id_list(ids))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    let groups: Vec<Hyphenated> = sqlx::query_scalar(
        "select id from groups where directory_id = ?1 and id in (select value from json_each(?2))",
    )
    .bind(id_text(directory.0))
    .bind(id_list(ids))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    let mut found = HashMap::with_capacity(users.len() + groups.len());
    found.extend(
        users
            .into_iter()
            .map(|id| (id.into_uuid(), "User".to_owned())),
    );
    found.extend(
        groups
            .into_iter()
            .map(|id| (id.into_uuid(), "Group".to_owned())),
    );
    Ok(found)
}

/// Converts `(member_id, member_type)` rows.
fn member_rows(rows: Vec<(Hyphenated, String)>) -> Vec<(Uuid, String)> {
    rows.into_iter()
        .map(|(id, member_type)| (id.into_uuid(), member_type))
        .collect()
}

/// Applies a membership plan to group `group_id`. Member ids that do not
/// name a user or group of the directory are skipped and logged, so that
/// the valid members of the request still apply.
pub(super) async fn apply_plan(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    group_id: Uuid,
    plan: &MembershipPlan,
    at: DateTime<Utc>,
) -> Result<MembershipDelta, StoreError> {
    for value in &plan.invalid {
        tracing::warn!(directory.id = %directory, group.id = %group_id, member.value = %value,
            "skipped group member: the value is not a resource id");
    }
    let found = resolve_members(tx, directory, &plan.add).await?;
    let mut add_ids = Vec::with_capacity(plan.add.len());
    let mut add_rows = Vec::with_capacity(plan.add.len());
    for id in &plan.add {
        match found.get(id) {
            Some(_) if *id == group_id => {
                tracing::warn!(directory.id = %directory, group.id = %group_id,
                    "skipped group member: a group cannot be a member of itself");
            }
            Some(member_type) => {
                add_ids.push(*id);
                add_rows.push(json!({
                    "id": id.to_string(),
                    "type": member_type,
                    "display": plan.displays.get(id),
                }));
            }
            None => {
                tracing::warn!(directory.id = %directory, group.id = %group_id, member.value = %id,
                    "skipped group member: no user or group with this id in the directory");
            }
        }
    }

    let mut delta = MembershipDelta::default();
    if plan.clear_all {
        let rows = sqlx::query_as(
            r#"delete from group_members
               where directory_id = ?1 and group_id = ?2
                 and member_id not in (select value from json_each(?3))
               returning member_id, member_type"#,
        )
        .bind(id_text(directory.0))
        .bind(id_text(group_id))
        .bind(id_list(&add_ids))
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
        delta.removed = member_rows(rows);
    } else if !plan.remove.is_empty() {
        let rows = sqlx::query_as(
            r#"delete from group_members
               where directory_id = ?1 and group_id = ?2
                 and member_id in (select value from json_each(?3))
               returning member_id, member_type"#,
        )
        .bind(id_text(directory.0))
        .bind(id_text(group_id))
        .bind(id_list(&plan.remove))
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
        delta.removed = member_rows(rows);
    }
    if !add_rows.is_empty() {
        // `where true` keeps SQLite from reading `on conflict` as part of
        // the select's join syntax, as its upsert documentation requires.
        let rows = sqlx::query_as(
            r#"insert into group_members (directory_id, group_id, member_id, member_type, display, added_at)
               select ?1, ?2, j.value ->> '$.id', j.value ->> '$.type', j.value ->> '$.display', ?3
               from json_each(?4) as j
               where true
               order by j.key
               on conflict do nothing
               returning member_id, member_type"#,
        )
        .bind(id_text(directory.0))
        .bind(id_text(group_id))
        .bind(Timestamp(at))
        .bind(Value::from(add_rows).to_string())
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
        delta.added = member_rows(rows);
    }
    delta.sort_by_plan(plan);
    Ok(delta)
}

/// Removes a deleted user or group from every group it belongs to, bumping
/// each group's version, and returns the change records.
pub(super) async fn remove_member_everywhere(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    member_id: Uuid,
    member_type: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Change>, StoreError> {
    let group_ids: Vec<Hyphenated> = sqlx::query_scalar(
        "delete from group_members where directory_id = ?1 and member_id = ?2 returning group_id",
    )
    .bind(id_text(directory.0))
    .bind(id_text(member_id))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let group_ids: Vec<Uuid> = group_ids.into_iter().map(Hyphenated::into_uuid).collect();
    let rows: Vec<(Hyphenated, String)> = sqlx::query_as(
        r#"update groups set version = version + 1, last_modified = ?3
           where directory_id = ?1 and id in (select value from json_each(?2))
           returning id, display_name"#,
    )
    .bind(id_text(directory.0))
    .bind(id_list(&group_ids))
    .bind(Timestamp(at))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    let mut groups: Vec<(Uuid, String)> = rows
        .into_iter()
        .map(|(id, name)| (id.into_uuid(), name))
        .collect();
    // Group id order, so that change records come out the same on both
    // backends whatever order the database returns rows in.
    groups.sort();
    let mut records = Vec::with_capacity(groups.len());
    for (group_id, group_name) in groups {
        records.push(Change {
            resource_type: ResourceKind::Group,
            resource_id: group_id,
            kind: ChangeKind::MemberRemoved,
            data: changes::member_data(group_id, &group_name, member_id, member_type),
        });
    }
    Ok(records)
}

/// Loads the members of several groups in one query, in the order they
/// joined. `display` is what the client sent with the member, if anything,
/// so that a group reads back as it was written.
pub(super) async fn load_members<'e, E>(
    executor: E,
    directory: DirectoryId,
    group_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<MemberView>>, StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let rows: Vec<(Hyphenated, Hyphenated, String, Option<String>)> = sqlx::query_as(
        r#"select m.group_id, m.member_id, m.member_type, m.display
           from group_members m
           where m.directory_id = ?1 and m.group_id in (select value from json_each(?2))
           order by m.group_id, m.added_at, m.member_id"#,
    )
    .bind(id_text(directory.0))
    .bind(id_list(group_ids))
    .fetch_all(executor)
    .await
    .map_err(db_error)?;
    let mut members: HashMap<Uuid, Vec<MemberView>> = HashMap::new();
    for (group_id, member_id, member_type, display) in rows {
        members
            .entry(group_id.into_uuid())
            .or_default()
            .push(MemberView {
                value: member_id.to_string(),
                member_type,
                display,
            });
    }
    Ok(members)
}
