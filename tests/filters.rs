//! Every filter operator and form against a populated directory, checked
//! against the expected set of user names, over HTTP on PostgreSQL.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use common::{json_body, Backend, TestServer};

on_both_backends!(
    every_operator_and_form,
    filter_values_are_bound_not_interpolated,
    filter_limits,
    group_filters,
);

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn populate(server: &TestServer) {
    let users = [
        json!({"userName": "ada@example.com", "displayName": "Ada Lovelace", "active": true, "title": "Analyst (lead)",
               "name": {"givenName": "Ada", "familyName": "Lovelace"},
               "emails": [{"value": "ada@work.example.com", "type": "work", "primary": true}, {"value": "ada@home.example.org", "type": "home"}],
               "addresses": [{"postalCode": "80331", "type": "work"}],
               ENTERPRISE: {"department": "Research", "employeeNumber": "10"}}),
        json!({"userName": "grace@example.com", "displayName": "Grace Hopper", "active": false, "title": "Rear \"Amazing\" Admiral",
               "name": {"givenName": "Grace", "familyName": "Hopper"},
               "emails": [{"value": "grace@work.example.com", "type": "work"}],
               "addresses": [{"postalCode": "10001", "type": "home"}],
               ENTERPRISE: {"department": "Navy and Research", "employeeNumber": "20"}}),
        json!({"userName": "émile@example.com", "displayName": "Émile Borel", "active": true, "title": "Mathématicien",
               "name": {"givenName": "Émile", "familyName": "Borel"}, "externalId": "EXT-3"}),
        json!({"userName": "zoe@example.com", "active": true}),
    ];
    for user in users {
        let mut body = user.clone();
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User"]);
        let response = server.send(Method::POST, "/Users", &body).await;
        assert_eq!(response.status(), 201, "create {user}");
    }
}

async fn user_names(server: &TestServer, filter: &str) -> BTreeSet<String> {
    let response = server
        .request(Method::GET, "/Users")
        .query(&[("filter", filter)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "filter {filter}");
    let list = json_body(response).await;
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["userName"].as_str().unwrap().to_owned())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter()
        .map(|name| format!("{name}@example.com"))
        .collect()
}

async fn every_operator_and_form(backend: Backend) {
    let server = TestServer::start(backend).await;
    populate(&server).await;

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("userName eq \"ADA@example.com\"", vec!["ada"]),
        ("userName ne \"ada@example.com\"", vec!["grace", "émile", "zoe"]),
        ("displayName co \"o\"", vec!["ada", "grace", "émile"]),
        ("displayName sw \"gr\"", vec!["grace"]),
        ("displayName ew \"PER\"", vec!["grace"]),
        ("userName gt \"grace@example.com\"", vec!["émile", "zoe"]),
        ("userName ge \"grace@example.com\"", vec!["grace", "émile", "zoe"]),
        ("userName lt \"b\"", vec!["ada"]),
        ("userName le \"ada@example.com\"", vec!["ada"]),
        ("displayName pr", vec!["ada", "grace", "émile"]),
        ("not (displayName pr)", vec!["zoe"]),
        ("externalId eq null", vec!["ada", "grace", "zoe"]),
        ("externalId ne null", vec!["émile"]),
        ("externalId eq \"ext-3\"", vec![]),
        ("externalId eq \"EXT-3\"", vec!["émile"]),
        ("active eq false", vec!["grace"]),
        ("active ne false", vec!["ada", "émile", "zoe"]),
        // Precedence: and binds tighter than or.
        ("userName sw \"zoe\" or userName sw \"ada\" and active eq false", vec!["zoe"]),
        ("(userName sw \"zoe\" or userName sw \"ada\") and active eq true", vec!["ada", "zoe"]),
        ("not (active eq true) or userName eq \"zoe@example.com\"", vec!["grace", "zoe"]),
        ("NAME.FAMILYNAME EQ \"lovelace\"", vec!["ada"]),
        ("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw \"g\"", vec!["grace"]),
        ("emails.value ew \".org\"", vec!["ada"]),
        ("emails[type eq \"work\" and value co \"grace\"]", vec!["grace"]),
        ("emails[type eq \"home\"].value eq \"ada@home.example.org\"", vec!["ada"]),
        ("emails[type eq \"home\"].value eq \"ada@work.example.com\"", vec![]),
        ("emails[primary eq true]", vec!["ada"]),
        ("emails pr", vec!["ada", "grace"]),
        ("addresses[postalCode sw \"80\"]", vec!["ada"]),
        ("addresses.type eq \"home\"", vec!["grace"]),
        (r#"title eq "Rear \"Amazing\" Admiral""#, vec!["grace"]),
        ("title co \"(lead)\"", vec!["ada"]),
        ("title eq \"mathématicien\"", vec!["émile"]),
        ("displayName eq \"Émile Borel\"", vec!["émile"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department co \"and research\"", vec!["grace"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"research\"", vec!["ada"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber gt \"15\"", vec!["grace"]),
        ("meta.created gt \"2000-01-01T00:00:00Z\"", vec!["ada", "grace", "émile", "zoe"]),
        ("meta.lastModified lt \"2000-01-01T01:00:00+01:00\"", vec![]),
        ("meta.resourceType eq \"User\"", vec!["ada", "grace", "émile", "zoe"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            user_names(&server, filter).await,
            names(&expected),
            "filter {filter}"
        );
    }

    // Equality and ranges fold the case of every letter on both backends.
    let unicode_folded = user_names(&server, "displayName eq \"émile borel\"").await;
    assert_eq!(unicode_folded, names(&["émile"]));
    let unicode_folded = user_names(&server, "title eq \"MATHÉMATICIEN\"").await;
    assert_eq!(unicode_folded, names(&["émile"]));

    // Substring operators fold only A to Z on SQLite, a documented limitation.
    let substring = user_names(&server, "displayName sw \"émile\"").await;
    let expected = match backend {
        Backend::Postgres => names(&["émile"]),
        Backend::Sqlite => names(&[]),
    };
    assert_eq!(substring, expected);
    server.stop().await;
}

async fn filter_values_are_bound_not_interpolated(backend: Backend) {
    let server = TestServer::start(backend).await;
    populate(&server).await;
    for filter in [
        "userName eq \"x' or '1'='1\"",
        "displayName co \"%\"",
        "displayName sw \"_\"",
        "title co \"\\\\\"",
    ] {
        assert_eq!(
            user_names(&server, filter).await,
            BTreeSet::new(),
            "filter {filter}"
        );
    }
    let list: Value = json_body(server.get("/Users").await).await;
    assert_eq!(list["totalResults"], 4);
    server.stop().await;
}

async fn filter_limits(backend: Backend) {
    let server = TestServer::start(backend).await;
    let deep = format!("{}userName pr{}", "(".repeat(70), ")".repeat(70));
    let long = format!("userName eq \"{}\"", "a".repeat(17 * 1024));
    for filter in [deep, long] {
        let response = server
            .request(Method::GET, "/Users")
            .query(&[("filter", filter.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let error = json_body(response).await;
        assert_eq!(error["scimType"], "invalidFilter");
    }
    let chain = vec!["userName eq \"a\""; 500].join(" or ");
    let response = server.request(Method::POST, "/Users/.search").header("content-type", "application/scim+json")
        .body(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": chain}).to_string())
        .send().await.unwrap();
    assert_eq!(response.status(), 200, "long and/or chains are not nesting");
    server.stop().await;
}

async fn group_filters(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.create_user("ada@example.com").await;
    let eng = server.create_group("Engineering", &[&ada]).await;
    let ops = server.create_group("Operations", &[]).await;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("members[value eq \"{ada}\"]"), vec![&eng]),
        ("members pr".into(), vec![&eng]),
        ("not (members pr)".into(), vec![&ops]),
        ("members.type eq \"User\"".into(), vec![&eng]),
        (
            "displayName sw \"op\" or displayName eq \"engineering\"".into(),
            vec![&eng, &ops],
        ),
    ];
    for (filter, expected) in cases {
        let list = json_body(
            server
                .request(Method::GET, "/Groups")
                .query(&[("filter", filter.as_str())])
                .send()
                .await
                .unwrap(),
        )
        .await;
        let ids: Vec<&str> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, expected, "filter {filter}");
    }
    server.stop().await;
}
