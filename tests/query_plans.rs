//! Query plans on PostgreSQL with 100,000 users: the filters identity
//! providers and applications use must use an index, never
//! by scanning every user. These tests read `explain` output; they measure
//! no time.

mod common;

use scimgate::scim::filter::parse_filter;
use scimgate::scim::list::Paging;
use scimgate::scim::schema::ResourceKind;
use scimgate::store::postgres::PgStore;
use scimgate::store::{DirectoryId, ListQuery};

use common::{postgres_enabled, Backend, TestPool, TestServer};

const USERS: i64 = 100_000;

/// Fills the default directory with users, their emails, and groups whose
/// members are those users, directly in SQL.
async fn populate(server: &TestServer, pool: &sqlx::PgPool) -> DirectoryId {
    let directory = server.store.ensure_directory("default").await.unwrap().id;
    let statements = [
        r#"insert into users (directory_id, id, user_name, external_id, display_name, active, resource, version, created_at, last_modified)
           select $1, gen_random_uuid(), 'user' || i || '@example.com', 'ext-' || i, 'User ' || i, i % 10 <> 0,
                  jsonb_build_object('userName', 'user' || i || '@example.com', 'externalId', 'ext-' || i,
                      'emails', jsonb_build_array(jsonb_build_object('value', 'user' || i || '@work.example.com', 'type', 'work'))),
                  1, now() - make_interval(secs => i), now() - make_interval(secs => i)
           from generate_series(1, $2) as i"#,
        r#"insert into user_emails (directory_id, user_id, position, value, type, is_primary)
           select directory_id, id, 0, resource #>> '{emails,0,value}', 'work', true from users where directory_id = $1"#,
        r#"insert into groups (directory_id, id, display_name, resource, version, created_at, last_modified)
           select $1, gen_random_uuid(), 'Group ' || i, jsonb_build_object('displayName', 'Group ' || i), 1, now(), now()
           from generate_series(1, 200) as i"#,
        r#"insert into group_members (directory_id, group_id, member_id, member_type, added_at)
           select u.directory_id, g.id, u.id, 'User', now()
           from (select id, directory_id, row_number() over (order by id) as n from users where directory_id = $1) u
           join (select id, row_number() over (order by id) as n from groups where directory_id = $1) g
             on g.n = 1 + u.n % 200"#,
    ];
    for statement in statements {
        let query = sqlx::query(statement).bind(directory);
        let query = if statement.contains("$2") {
            query.bind(USERS)
        } else {
            query
        };
        query.execute(pool).await.unwrap();
    }
    sqlx::query("analyze").execute(pool).await.unwrap();
    directory
}

async fn plan(store: &PgStore, directory: DirectoryId, kind: ResourceKind, filter: &str) -> String {
    let query = ListQuery {
        filter: Some(parse_filter(kind, filter).unwrap()),
        sort: None,
        paging: Paging::Index { start_index: 1 },
        count: 100,
        with_relations: false,
    };
    store.explain_list(kind, directory, &query).await.unwrap()
}

#[tokio::test]
async fn lookups_use_indexes() {
    if !postgres_enabled() {
        return;
    }
    let server = TestServer::start(Backend::Postgres).await;
    let TestPool::Postgres(pool) = &server.pool else {
        unreachable!("a PostgreSQL test server has a PostgreSQL pool");
    };
    let directory = populate(&server, pool).await;
    let store = PgStore::from_pool(pool.clone());
    let some_user: String =
        sqlx::query_scalar("select id::text from users where user_name = 'user500@example.com'")
            .fetch_one(pool)
            .await
            .unwrap();

    let cases = [
        (
            ResourceKind::User,
            "userName eq \"User500@example.com\"".to_owned(),
            "users_user_name_key",
        ),
        (
            ResourceKind::User,
            "externalId eq \"ext-500\"".to_owned(),
            "users_external_id_idx",
        ),
        (
            ResourceKind::User,
            "emails.value eq \"user500@work.example.com\"".to_owned(),
            "user_emails_value_idx",
        ),
        (
            ResourceKind::User,
            "emails[type eq \"work\"].value eq \"user500@work.example.com\"".to_owned(),
            "user_emails_value_idx",
        ),
        (
            ResourceKind::User,
            "meta.lastModified gt \"2099-01-01T00:00:00Z\"".to_owned(),
            "users_last_modified_idx",
        ),
        (
            ResourceKind::Group,
            format!("members.value eq \"{some_user}\""),
            "group_members_member_idx",
        ),
    ];
    for (kind, filter, index) in cases {
        let plan = plan(&store, directory, kind, &filter).await;
        assert!(plan.contains(index), "{filter} should use {index}:\n{plan}");
        assert!(
            !plan.contains("Seq Scan on users"),
            "{filter} scans users:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan on user_emails"),
            "{filter} scans user_emails:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan on group_members"),
            "{filter} scans group_members:\n{plan}"
        );
    }
    server.stop().await;
}
