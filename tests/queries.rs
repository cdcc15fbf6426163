//! Sorting, index and cursor paging, `.search` and service-root queries,
//! over HTTP against a real server and PostgreSQL.

#[macro_use]
mod common;

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};

use common::{json_body, Backend, TestServer};

on_both_backends!(
    sort_by_attributes,
    index_pages_with_sort_are_stable,
    cursor_walk_sees_each_user_once,
    cursor_errors,
    search_endpoints,
    root_queries_span_both_types,
);

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|resource| resource["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_named(
    server: &TestServer,
    user_name: &str,
    family: Option<&str>,
    employee: Option<i64>,
) -> String {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
    });
    if let Some(family) = family {
        body["name"] = json!({"familyName": family});
    }
    if let Some(number) = employee {
        body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
            json!({"employeeNumber": number.to_string()});
    }
    let created = json_body(server.send(Method::POST, "/Users", &body).await).await;
    created["id"].as_str().unwrap().to_owned()
}

async fn sort_by_attributes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let carol = create_named(&server, "carol@example.com", Some("Baker"), Some(3)).await;
    let alice = create_named(&server, "Alice@example.com", Some("young"), Some(1)).await;
    let bob = create_named(&server, "bob@example.com", None, Some(2)).await;

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("sortBy=userName", vec![&alice, &bob, &carol]),
        (
            "sortBy=userName&sortOrder=descending",
            vec![&carol, &bob, &alice],
        ),
        ("sortBy=name.familyName", vec![&carol, &alice, &bob]),
        (
            "sortBy=name.familyName&sortOrder=descending",
            vec![&alice, &carol, &bob],
        ),
        ("sortBy=meta.created", vec![&carol, &alice, &bob]),
        (
            "sortBy=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            vec![&alice, &bob, &carol],
        ),
        ("sortBy=emails.value", vec![&carol, &alice, &bob]),
    ];
    for (query, expected) in cases {
        let list = json_body(server.get(&format!("/Users?{query}")).await).await;
        assert_eq!(ids(&list), expected, "{query}");
    }
    let response = server.get("/Users?sortBy=phoneNumbers").await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["scimType"], "invalidValue");
    server.stop().await;
}

async fn index_pages_with_sort_are_stable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut created = Vec::new();
    for index in 0..7 {
        // Equal sort keys force the id tie-break.
        created.push(
            create_named(
                &server,
                &format!("user{index}@example.com"),
                Some("Same"),
                None,
            )
            .await,
        );
    }
    let mut seen = Vec::new();
    for start in [1, 4, 7] {
        let page = json_body(
            server
                .get(&format!(
                    "/Users?sortBy=name.familyName&startIndex={start}&count=3"
                ))
                .await,
        )
        .await;
        assert_eq!(page["totalResults"], 7);
        seen.extend(ids(&page));
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 7);
    assert_eq!(unique.len(), 7);
    server.stop().await;
}

async fn cursor_walk_sees_each_user_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut created = Vec::new();
    for index in 0..9 {
        created.push(create_named(&server, &format!("user{index}@example.com"), None, None).await);
    }

    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let list = json_body(
            server
                .request(Method::GET, "/Users")
                .query(&[("cursor", cursor.as_str()), ("count", "4")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        pages += 1;
        assert_eq!(
            list.get("startIndex"),
            None,
            "cursor pages have no startIndex"
        );
        seen.extend(ids(&list));
        // Writes during the walk: a new user (after the cursor) and a deletion.
        if pages == 1 {
            create_named(&server, "late@example.com", None, None).await;
            let response = server
                .request(Method::DELETE, &format!("/Users/{}", created[8]))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 204);
        }
        match list.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages < 10, "the walk must end");
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no user twice: {seen:?}");
    assert_eq!(seen.len(), 9, "8 original users left plus the late one");
    assert_eq!(&seen[..8], &created[..8]);
    server.stop().await;
}

async fn cursor_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    for index in 0..3 {
        create_named(&server, &format!("user{index}@example.com"), None, None).await;
    }
    let first = json_body(server.get("/Users?cursor=&count=1&sortBy=userName").await).await;
    let next = first["nextCursor"].as_str().unwrap().to_owned();

    let response = server
        .request(Method::GET, "/Users")
        .query(&[("cursor", "garbage")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["scimType"], "invalidCursor");

    // The cursor belongs to a sorted query.
    let response = server
        .request(Method::GET, "/Users")
        .query(&[("cursor", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["scimType"], "invalidCursor");

    let response = server
        .request(Method::GET, "/Users")
        .query(&[
            ("cursor", next.as_str()),
            ("sortBy", "userName"),
            ("count", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = server
        .request(Method::GET, "/Users")
        .query(&[("cursor", ""), ("startIndex", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    server.stop().await;
}

async fn search_endpoints(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = create_named(&server, "ada@example.com", Some("Lovelace"), None).await;
    create_named(&server, "grace@example.com", Some("Hopper"), None).await;
    let group = server.create_group("Analysts", &[&ada]).await;

    let body = json!({
        "schemas": [SEARCH],
        "filter": "name.familyName eq \"lovelace\"",
        "attributes": ["userName"],
        "count": 10,
    });
    let response = server.send(Method::POST, "/Users/.search", &body).await;
    assert_eq!(response.status(), 200);
    let list = json_body(response).await;
    assert_eq!(ids(&list), vec![ada.clone()]);
    assert_eq!(list["Resources"][0]["userName"], "ada@example.com");
    assert_eq!(list["Resources"][0].get("name"), None);

    let body = json!({"schemas": [SEARCH], "filter": format!("members.value eq \"{ada}\""), "excludedAttributes": ["members"]});
    let list = json_body(server.send(Method::POST, "/Groups/.search", &body).await).await;
    assert_eq!(ids(&list), vec![group.clone()]);
    assert_eq!(list["Resources"][0].get("members"), None);

    let response = server
        .send(
            Method::POST,
            "/Users/.search",
            &json!({"filter": "userName pr"}),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["scimType"], "invalidSyntax");
    server.stop().await;
}

async fn root_queries_span_both_types(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = create_named(&server, "ada@example.com", None, None).await;
    let group = server.create_group("Analysts", &[&ada]).await;

    let list = json_body(server.get("").await).await;
    assert_eq!(list["totalResults"], 2);
    assert_eq!(ids(&list), vec![ada.clone(), group.clone()]);
    assert_eq!(list["Resources"][1]["meta"]["resourceType"], "Group");

    let list = json_body(
        server
            .request(Method::GET, "")
            .query(&[("filter", "userName sw \"ada\"")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ids(&list), vec![ada.clone()]);

    let body = json!({"schemas": [SEARCH], "filter": "displayName eq \"analysts\"", "startIndex": 1, "count": 5});
    let list = json_body(server.send(Method::POST, "/.search", &body).await).await;
    assert_eq!(ids(&list), vec![group.clone()]);

    let list = json_body(server.get("?startIndex=2&count=1").await).await;
    assert_eq!(ids(&list), vec![group]);
    assert_eq!(list["totalResults"], 2);

    let response = server
        .request(Method::GET, "")
        .query(&[("filter", "nosuch eq 1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["scimType"], "invalidFilter");
    server.stop().await;
}
