//! List queries on PostgreSQL: filter, sort order, index and cursor paging,
//! shared by users and groups.
//!
//! Every list is ordered by a key (the `sortBy` attribute, else the creation
//! time) and then by id, so that the order is total and pages never repeat
//! or skip a resource. Cursor paging continues after the last key and id
//! (keyset paging), so that its cost does not grow with the page number.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::db_error;
use super::filter;
use crate::scim::cursor::CursorPosition;
use crate::scim::error::ScimError;
use crate::scim::list::Paging;
use crate::scim::schema::{AttrType, ResourceKind};
use crate::store::filter_target::{ColumnType, OrderKey, Target};
use crate::store::{DirectoryId, ListQuery, StoreError};

/// One row of a list query.
#[derive(sqlx::FromRow)]
pub(super) struct ListRow {
    pub id: Uuid,
    pub resource: Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub sort_key: Option<Value>,
}

/// SQL type of an order key, for binding a cursor's key back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyType {
    Text,
    Boolean,
    Number,
    Timestamp,
    Uuid,
}

/// The SQL of an order key on this backend.
trait OrderSql {
    /// Returns the type a cursor's key is bound as.
    fn key_type(&self) -> KeyType;
    /// Pushes the key expression.
    fn push(&self, builder: &mut QueryBuilder<'_, Postgres>);
    /// Binds a cursor's key as the key's type.
    fn push_bind_key(
        &self,
        builder: &mut QueryBuilder<'_, Postgres>,
        key: &Value,
    ) -> Result<(), ScimError>;
}

impl OrderSql for OrderKey {
    fn key_type(&self) -> KeyType {
        match self {
            OrderKey::Created => KeyType::Timestamp,
            OrderKey::PrimaryEmail => KeyType::Text,
            OrderKey::Target(Target::Column { column, .. }) => match column {
                ColumnType::Text => KeyType::Text,
                ColumnType::Boolean => KeyType::Boolean,
                ColumnType::Timestamp => KeyType::Timestamp,
                ColumnType::Uuid => KeyType::Uuid,
            },
            OrderKey::Target(Target::Json { attr_type, .. }) => match attr_type {
                AttrType::Boolean => KeyType::Boolean,
                AttrType::Integer | AttrType::Decimal => KeyType::Number,
                _ => KeyType::Text,
            },
        }
    }

    /// Pushes the key expression. Strings that compare ignoring case are
    /// lowered, so that the order matches how filters compare them.
    fn push(&self, builder: &mut QueryBuilder<'_, Postgres>) {
        match self {
            OrderKey::Created => {
                builder.push("r.created_at");
            }
            OrderKey::PrimaryEmail => {
                builder.push(
                    "(select lower(e.value) from user_emails e where e.directory_id = r.directory_id \
                     and e.user_id = r.id order by e.is_primary desc, e.position limit 1)",
                );
            }
            OrderKey::Target(Target::Column {
                sql,
                case_exact,
                column,
            }) => {
                if *column == ColumnType::Text && !case_exact {
                    builder.push(format!("lower({sql})"));
                } else {
                    builder.push(*sql);
                }
            }
            OrderKey::Target(Target::Json {
                base,
                attr_type,
                case_exact,
            }) => match attr_type {
                AttrType::Boolean | AttrType::Integer | AttrType::Decimal => {
                    let (json_type, cast) = if *attr_type == AttrType::Boolean {
                        ("boolean", "boolean")
                    } else {
                        ("number", "float8")
                    };
                    builder.push("(case when jsonb_typeof(");
                    filter::push_json(builder, base);
                    builder.push(format!(") = '{json_type}' then ("));
                    filter::push_json(builder, base);
                    builder.push(format!(" #>> '{{}}')::{cast} end)"));
                }
                _ => {
                    builder.push(if *case_exact { "(" } else { "lower(" });
                    filter::push_json(builder, base);
                    builder.push(" #>> '{}')");
                }
            },
        }
    }

    /// Binds a cursor's key as the key's SQL type.
    fn push_bind_key(
        &self,
        builder: &mut QueryBuilder<'_, Postgres>,
        key: &Value,
    ) -> Result<(), ScimError> {
        let mismatch = || {
            ScimError {
            status: 400,
            scim_type: Some(crate::scim::error::ScimType::InvalidCursor),
            detail: "invalid cursor: its position does not fit the sort order; start again with an empty 'cursor' parameter".into(),
        }
        };
        match self.key_type() {
            KeyType::Text => builder.push_bind(key.as_str().ok_or_else(mismatch)?.to_owned()),
            KeyType::Boolean => builder.push_bind(key.as_bool().ok_or_else(mismatch)?),
            KeyType::Number => builder.push_bind(key.as_f64().ok_or_else(mismatch)?),
            KeyType::Timestamp => {
                let text = key.as_str().ok_or_else(mismatch)?;
                let time = DateTime::parse_from_rfc3339(text).map_err(|_| mismatch())?;
                builder.push_bind(time.with_timezone(&Utc))
            }
            KeyType::Uuid => {
                let text = key.as_str().ok_or_else(mismatch)?;
                builder.push_bind(Uuid::parse_str(text).map_err(|_| mismatch())?)
            }
        };
        Ok(())
    }
}

/// Pushes the keyset condition "after `position`" for the given direction.
fn push_after(
    builder: &mut QueryBuilder<'_, Postgres>,
    key: &OrderKey,
    descending: bool,
    position: &CursorPosition,
) -> Result<(), ScimError> {
    let (beyond, id_beyond) = if descending {
        ("<", "r.id <")
    } else {
        (">", "r.id >")
    };
    builder.push(" and (");
    if position.key.is_null() {
        // Nulls sort last: only later nulls remain.
        builder.push("(");
        key.push(builder);
        builder.push(format!(") is null and {id_beyond} "));
        builder.push_bind(position.id);
    } else {
        builder.push("(");
        key.push(builder);
        builder.push(format!(") {beyond} "));
        key.push_bind_key(builder, &position.key)?;
        builder.push(" or ((");
        key.push(builder);
        builder.push(") = ");
        key.push_bind_key(builder, &position.key)?;
        builder.push(format!(" and {id_beyond} "));
        builder.push_bind(position.id);
        builder.push(") or (");
        key.push(builder);
        builder.push(") is null");
    }
    builder.push(")");
    Ok(())
}

/// Appends the page query of a list: rows in order, one more than asked.
fn push_select(
    select: &mut QueryBuilder<'_, Postgres>,
    table: &'static str,
    kind: ResourceKind,
    directory: DirectoryId,
    query: &ListQuery,
) -> Result<(), ScimError> {
    let key = OrderKey::from_sort(kind, query.sort.as_ref())?;
    let descending = query.sort.as_ref().is_some_and(|sort| sort.descending);
    select.push("select r.id, r.resource, r.version, r.created_at, r.last_modified, to_jsonb(");
    key.push(select);
    select.push(format!(
        ") as sort_key from {table} r where r.directory_id = "
    ));
    select.push_bind(directory);
    filter::push_where(select, kind, query.filter.as_ref())?;
    if let Paging::Cursor(Some(position)) = &query.paging {
        push_after(select, &key, descending, position)?;
    }
    let direction = if descending { "desc" } else { "asc" };
    select.push(" order by ");
    key.push(select);
    select.push(format!(" {direction} nulls last, r.id {direction} limit "));
    // Fetching one more row than asked shows whether a next page exists.
    select.push_bind(
        i64::try_from(query.count)
            .unwrap_or(i64::MAX)
            .saturating_add(1),
    );
    if let Paging::Index { start_index } = query.paging {
        select.push(" offset ");
        select.push_bind(i64::try_from(start_index.saturating_sub(1)).unwrap_or(i64::MAX));
    }
    Ok(())
}

/// Returns PostgreSQL's plan (`explain` output, one line per row) for the
/// page query of a list, so that tests and operators can check index use.
pub(super) async fn explain_list(
    pool: &PgPool,
    kind: ResourceKind,
    directory: DirectoryId,
    query: &ListQuery,
) -> Result<String, StoreError> {
    let table = match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    };
    let mut explain = QueryBuilder::<Postgres>::new("explain ");
    push_select(&mut explain, table, kind, directory, query)?;
    let lines: Vec<String> = explain
        .build_query_scalar()
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    Ok(lines.join("\n"))
}

/// Runs a list query on `table` (`users` or `groups`), returning the total,
/// the page's rows and, with cursor paging, the position after the page.
pub(super) async fn list_rows(
    pool: &PgPool,
    table: &'static str,
    kind: ResourceKind,
    directory: DirectoryId,
    query: &ListQuery,
) -> Result<(u64, Vec<ListRow>, Option<CursorPosition>), StoreError> {
    let mut count = QueryBuilder::<Postgres>::new(format!(
        "select count(*) from {table} r where r.directory_id = "
    ));
    count.push_bind(directory);
    filter::push_where(&mut count, kind, query.filter.as_ref())?;
    let total: i64 = count
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    let total = u64::try_from(total).unwrap_or(0);
    if query.count == 0 {
        return Ok((total, Vec::new(), None));
    }

    let mut select = QueryBuilder::<Postgres>::new("");
    push_select(&mut select, table, kind, directory, query)?;
    let mut rows: Vec<ListRow> = select
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(db_error)?;

    let has_more = u64::try_from(rows.len()).unwrap_or(u64::MAX) > query.count;
    rows.truncate(usize::try_from(query.count).unwrap_or(usize::MAX));
    let next = match (&query.paging, has_more, rows.last()) {
        (Paging::Cursor(_), true, Some(last)) => Some(CursorPosition {
            key: last.sort_key.clone().unwrap_or(Value::Null),
            id: last.id,
        }),
        _ => None,
    };
    Ok((total, rows, next))
}
