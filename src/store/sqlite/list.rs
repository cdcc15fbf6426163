//! List queries on SQLite: filter, sort order, index and cursor paging,
//! shared by users and groups. The same design as the PostgreSQL module:
//! every list is ordered by a key (the `sortBy` attribute, else the creation
//! time) and then by id, and cursor paging continues after the last key and
//! id (keyset paging).

use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use uuid::fmt::Hyphenated;

use super::{db_error, filter, id_text, JsonText, Timestamp, CASE_FOLD};
use crate::scim::cursor::CursorPosition;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::list::Paging;
use crate::scim::schema::{AttrType, ResourceKind};
use crate::store::filter_target::{ColumnType, JsonBase, OrderKey, Target};
use crate::store::{DirectoryId, ListQuery, StoreError};

/// One row of a list query.
#[derive(sqlx::FromRow)]
pub(super) struct ListRow {
    pub id: Hyphenated,
    pub resource: JsonText,
    pub version: i64,
    pub created_at: Timestamp,
    pub last_modified: Timestamp,
    /// The order key as JSON text (`json_quote`), `null` when absent.
    pub sort_key: String,
}

/// Binding type of a cursor's key: SQLite stores booleans as integers and
/// times and ids as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyType {
    Text,
    Integer,
    Number,
}

/// The SQL of an order key on this backend.
trait OrderSql {
    /// Returns the type a cursor's key is bound as.
    fn key_type(&self) -> KeyType;
    /// Pushes the key expression.
    fn push(&self, builder: &mut QueryBuilder<'_, Sqlite>);
    /// Binds a cursor's key as the key's type.
    fn push_bind_key(
        &self,
        builder: &mut QueryBuilder<'_, Sqlite>,
        key: &Value,
    ) -> Result<(), ScimError>;
}

impl OrderSql for OrderKey {
    fn key_type(&self) -> KeyType {
        match self {
            OrderKey::Created | OrderKey::PrimaryEmail => KeyType::Text,
            OrderKey::Target(Target::Column { column, .. }) => match column {
                ColumnType::Boolean => KeyType::Integer,
                ColumnType::Text | ColumnType::Timestamp | ColumnType::Uuid => KeyType::Text,
            },
            OrderKey::Target(Target::Json { attr_type, .. }) => match attr_type {
                AttrType::Boolean => KeyType::Integer,
                AttrType::Integer | AttrType::Decimal => KeyType::Number,
                _ => KeyType::Text,
            },
        }
    }

    /// Pushes the key expression; strings that compare ignoring case are
    /// lowered, as the filters compare them.
    fn push(&self, builder: &mut QueryBuilder<'_, Sqlite>) {
        match self {
            OrderKey::Created => {
                builder.push("r.created_at");
            }
            OrderKey::PrimaryEmail => {
                builder.push(
                    "((select e.value from user_emails e where e.directory_id = r.directory_id \
                     and e.user_id = r.id order by e.is_primary desc, e.position limit 1)",
                );
                builder.push(format!(" collate {CASE_FOLD})"));
            }
            OrderKey::Target(Target::Column {
                sql,
                case_exact,
                column,
            }) => {
                if *column == ColumnType::Text && !case_exact {
                    builder.push(format!("({sql} collate {CASE_FOLD})"));
                } else {
                    builder.push(*sql);
                }
            }
            OrderKey::Target(Target::Json {
                base,
                attr_type,
                case_exact,
            }) => {
                let types = match attr_type {
                    AttrType::Boolean => Some("('true', 'false')"),
                    AttrType::Integer | AttrType::Decimal => Some("('integer', 'real')"),
                    _ => None,
                };
                match types {
                    Some(types) => push_typed_json(builder, base, types),
                    None => {
                        builder.push("(");
                        filter::push_json(builder, "json_extract", base);
                        if !case_exact {
                            builder.push(format!(" collate {CASE_FOLD}"));
                        }
                        builder.push(")");
                    }
                }
            }
        }
    }

    fn push_bind_key(
        &self,
        builder: &mut QueryBuilder<'_, Sqlite>,
        key: &Value,
    ) -> Result<(), ScimError> {
        let mismatch = || {
            ScimError {
            status: 400,
            scim_type: Some(ScimType::InvalidCursor),
            detail: "invalid cursor: its position does not fit the sort order; start again with an empty 'cursor' parameter".into(),
        }
        };
        match self.key_type() {
            KeyType::Text => builder.push_bind(key.as_str().ok_or_else(mismatch)?.to_owned()),
            KeyType::Integer => builder.push_bind(key.as_i64().ok_or_else(mismatch)?),
            KeyType::Number => builder.push_bind(key.as_f64().ok_or_else(mismatch)?),
        };
        Ok(())
    }
}

/// Pushes a JSON value that counts only when its JSON type is one of `types`.
fn push_typed_json(builder: &mut QueryBuilder<'_, Sqlite>, base: &JsonBase, types: &str) {
    builder.push("(case when ");
    filter::push_json(builder, "json_type", base);
    builder.push(format!(" in {types} then "));
    filter::push_json(builder, "json_extract", base);
    builder.push(" end)");
}

/// Pushes the keyset condition "after `position`" for the given direction.
fn push_after(
    builder: &mut QueryBuilder<'_, Sqlite>,
    key: &OrderKey,
    descending: bool,
    position: &CursorPosition,
) -> Result<(), ScimError> {
    let (beyond, id_beyond) = if descending {
        ("<", "r.id <")
    } else {
        (">", "r.id >")
    };
    let id = id_text(position.id).to_string();
    builder.push(" and (");
    if position.key.is_null() {
        // Nulls sort last: only later nulls remain.
        builder.push("(");
        key.push(builder);
        builder.push(format!(") is null and {id_beyond} "));
        builder.push_bind(id);
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
        builder.push_bind(id);
        builder.push(") or (");
        key.push(builder);
        builder.push(") is null");
    }
    builder.push(")");
    Ok(())
}

/// Appends the page query of a list: rows in order, one more than asked.
fn push_select(
    select: &mut QueryBuilder<'_, Sqlite>,
    table: &'static str,
    kind: ResourceKind,
    directory: DirectoryId,
    query: &ListQuery,
) -> Result<(), ScimError> {
    let key = OrderKey::from_sort(kind, query.sort.as_ref())?;
    let descending = query.sort.as_ref().is_some_and(|sort| sort.descending);
    select.push("select r.id, r.resource, r.version, r.created_at, r.last_modified, json_quote(");
    key.push(select);
    select.push(format!(
        ") as sort_key from {table} r where r.directory_id = "
    ));
    select.push_bind(id_text(directory.0));
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

/// Runs a list query on `table` (`users` or `groups`), returning the total,
/// the page's rows and, with cursor paging, the position after the page.
pub(super) async fn list_rows(
    pool: &SqlitePool,
    table: &'static str,
    kind: ResourceKind,
    directory: DirectoryId,
    query: &ListQuery,
) -> Result<(u64, Vec<ListRow>, Option<CursorPosition>), StoreError> {
    let mut count = QueryBuilder::<Sqlite>::new(format!(
        "select count(*) from {table} r where r.directory_id = "
    ));
    count.push_bind(id_text(directory.0));
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

    let mut select = QueryBuilder::<Sqlite>::new("");
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
            key: serde_json::from_str(&last.sort_key).unwrap_or(Value::Null),
            id: last.id.into_uuid(),
        }),
        _ => None,
    };
    Ok((total, rows, next))
}
