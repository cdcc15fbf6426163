//! Membership rows on PostgreSQL: every change costs work proportional to
//! the members it names, never to the group's size (except a full replace).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::db_error;
use crate::scim::render::MemberView;
use crate::scim::schema::ResourceKind;
use crate::store::changes::{self, Change, ChangeKind};
use crate::store::members::{MembershipDelta, MembershipPlan};
use crate::store::{DirectoryId, StoreError};

/// Locks group rows in id order, the order every writer uses, so that
/// concurrent writers touching several groups cannot deadlock on them.
pub(super) async fn lock_groups(
    tx: &mut Transaction<'_, Postgres>,
    directory: DirectoryId,
    group_ids: &[Uuid],
) -> Result<(), StoreError> {
    if group_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "select id from groups where directory_id = $1 and id = any($2) order by id for update",
    )
    .bind(directory)
    .bind(group_ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Finds which of `ids` are users or groups of the directory. The rows are
/// share-locked so that a concurrent delete cannot leave a membership row
/// pointing at a resource that no longer exists.
async fn resolve_members(
    tx: &mut Transaction<'_, Postgres>,
    directory: DirectoryId,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users: Vec<Uuid> = sqlx::query_scalar(
        "select id from users where directory_id = $1 and id = any($2) for share",
    )
    .bind(directory)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    let groups: Vec<Uuid> = sqlx::query_scalar(
        "select id from groups where directory_id = $1 and id = any($2) for share",
    )
    .bind(directory)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    let mut found = HashMap::with_capacity(users.len() + groups.len());
    found.extend(users.into_iter().map(|id| (id, "User".to_owned())));
    found.extend(groups.into_iter().map(|id| (id, "Group".to_owned())));
    Ok(found)
}

/// Applies a membership plan to group `group_id`. Member ids that do not
/// name a user or group of the directory are skipped and logged, so that
/// the valid members of the request still apply.
pub(super) async fn apply_plan(
    tx: &mut Transaction<'_, Postgres>,
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
    let mut add_types = Vec::with_capacity(plan.add.len());
    let mut add_displays: Vec<Option<String>> = Vec::with_capacity(plan.add.len());
    for id in &plan.add {
        match found.get(id) {
            Some(_) if *id == group_id => {
                tracing::warn!(directory.id = %directory, group.id = %group_id,
                    "skipped group member: a group cannot be a member of itself");
            }
            Some(member_type) => {
                add_ids.push(*id);
                add_types.push(member_type.clone());
                add_displays.push(plan.displays.get(id).cloned());
            }
            None => {
                tracing::warn!(directory.id = %directory, group.id = %group_id, member.value = %id,
                    "skipped group member: no user or group with this id in the directory");
            }
        }
    }

    let mut delta = MembershipDelta::default();
    if plan.clear_all {
        delta.removed = sqlx::query_as(
            r#"delete from group_members
               where directory_id = $1 and group_id = $2 and not (member_id = any($3))
               returning member_id, member_type"#,
        )
        .bind(directory)
        .bind(group_id)
        .bind(&add_ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
    } else if !plan.remove.is_empty() {
        delta.removed = sqlx::query_as(
            r#"delete from group_members
               where directory_id = $1 and group_id = $2 and member_id = any($3)
               returning member_id, member_type"#,
        )
        .bind(directory)
        .bind(group_id)
        .bind(&plan.remove)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    if !add_ids.is_empty() {
        delta.added = sqlx::query_as(
            r#"insert into group_members (directory_id, group_id, member_id, member_type, display, added_at)
               select $1, $2, t.member_id, t.member_type, t.display, $6
               from unnest($3::uuid[], $4::text[], $5::text[]) as t(member_id, member_type, display)
               on conflict do nothing
               returning member_id, member_type"#,
        )
        .bind(directory)
        .bind(group_id)
        .bind(&add_ids)
        .bind(&add_types)
        .bind(&add_displays)
        .bind(at)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    delta.sort_by_plan(plan);
    Ok(delta)
}

/// Removes a deleted user or group from every group it belongs to, bumping
/// each group's version, and returns the change records.
pub(super) async fn remove_member_everywhere(
    tx: &mut Transaction<'_, Postgres>,
    directory: DirectoryId,
    member_id: Uuid,
    member_type: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Change>, StoreError> {
    let mut groups: Vec<(Uuid, String)> = sqlx::query_as(
        r#"with removed as (
               delete from group_members where directory_id = $1 and member_id = $2
               returning group_id
           )
           update groups g set version = g.version + 1, last_modified = $3
           from removed
           where g.directory_id = $1 and g.id = removed.group_id
           returning g.id, g.display_name"#,
    )
    .bind(directory)
    .bind(member_id)
    .bind(at)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    // Group id order, so that the change records do not depend on the plan.
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
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let rows: Vec<(Uuid, Uuid, String, Option<String>)> = sqlx::query_as(
        r#"select m.group_id, m.member_id, m.member_type, m.display
           from group_members m
           where m.directory_id = $1 and m.group_id = any($2)
           order by m.group_id, m.added_at, m.member_id"#,
    )
    .bind(directory)
    .bind(group_ids)
    .fetch_all(executor)
    .await
    .map_err(db_error)?;
    let mut members: HashMap<Uuid, Vec<MemberView>> = HashMap::new();
    for (group_id, member_id, member_type, display) in rows {
        members.entry(group_id).or_default().push(MemberView {
            value: member_id.to_string(),
            member_type,
            display,
        });
    }
    Ok(members)
}
