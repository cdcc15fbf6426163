//! Tests for PATCH parsing and application.

use serde_json::{json, Value};

use super::*;
use crate::scim::error::ScimType;
use crate::scim::schema::{CORE_USER, ENTERPRISE_USER};

const USER: ResourceKind = ResourceKind::User;
const GROUP: ResourceKind = ResourceKind::Group;

fn request(operations: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

fn parse_user(operations: Value) -> Vec<PatchOperation> {
    match parse_patch_request(USER, &request(operations)) {
        Ok(ops) => ops,
        Err(e) => panic!("request failed to parse: {}", e.detail),
    }
}

fn base_user() -> Value {
    json!({
        "userName": "bjensen",
        "active": true,
        "emails": [
            {"value": "b@work.example", "type": "work", "primary": true},
            {"value": "b@home.example", "type": "home"}
        ],
    })
}

/// Parses `operations` and applies them to `user`, returning the result.
fn patch_user(mut user: Value, operations: Value) -> Result<Value, ScimError> {
    let ops = parse_patch_request(USER, &request(operations))?;
    apply_user_patch(&mut user, &ops)?;
    Ok(user)
}

fn patched(operations: Value) -> Value {
    match patch_user(base_user(), operations) {
        Ok(user) => user,
        Err(e) => panic!("patch failed: {}", e.detail),
    }
}

fn patch_error(operations: Value) -> ScimError {
    match patch_user(base_user(), operations) {
        Ok(user) => panic!("patch succeeded unexpectedly with {user}"),
        Err(e) => e,
    }
}

fn patch_group(operations: Value) -> Result<(Value, Vec<MemberOp>), ScimError> {
    let ops = parse_patch_request(GROUP, &request(operations))?;
    let mut group = json!({"displayName": "Engineering"});
    let member_ops = apply_group_patch(&mut group, &ops)?;
    Ok((group, member_ops))
}

fn member(id: &str) -> MemberRef {
    MemberRef {
        value: id.to_owned(),
        display: None,
        member_type: None,
    }
}

#[test]
fn parse_op_names_ignore_case() {
    let ops = parse_user(json!([
        {"op": "Add", "path": "title", "value": "a"},
        {"op": "REPLACE", "path": "title", "value": "b"},
        {"op": "remove", "path": "title"}
    ]));
    let kinds: Vec<PatchOpKind> = ops.iter().map(|o| o.op).collect();
    assert_eq!(
        kinds,
        [PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove]
    );
    assert_eq!(ops[2].value, None);
    assert_eq!(
        ops[0].path.as_ref().map(|p| p.to_string()),
        Some("title".to_owned())
    );
}

#[test]
fn parse_operations_key_ignores_case() {
    let body = json!({"schemas": [PATCH_OP], "operations": [{"op": "add", "path": "title", "value": "x"}]});
    assert_eq!(parse_patch_request(USER, &body).unwrap().len(), 1);
}

#[test]
fn parse_rejects_bad_envelopes() {
    let cases = [
        (json!([]), ScimType::InvalidSyntax, "PATCH request body must be a JSON object, got an array"),
        (
            json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
            ScimType::InvalidSyntax,
            "PATCH request 'schemas' must contain \"urn:ietf:params:scim:api:messages:2.0:PatchOp\"",
        ),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": []}),
            ScimType::InvalidSyntax,
            "PATCH request 'schemas' must contain \"urn:ietf:params:scim:api:messages:2.0:PatchOp\"",
        ),
        (json!({"schemas": [PATCH_OP], "Operations": []}), ScimType::InvalidSyntax, "PATCH request 'Operations' is empty"),
        (json!({"schemas": [PATCH_OP]}), ScimType::InvalidSyntax, "PATCH request has no 'Operations' array"),
        (
            json!({"schemas": [PATCH_OP], "Operations": {"op": "add"}}),
            ScimType::InvalidSyntax,
            "PATCH request 'Operations' must be an array, got an object",
        ),
    ];
    for (body, scim_type, detail) in cases {
        let err = parse_patch_request(USER, &body).unwrap_err();
        assert_eq!(err.scim_type, Some(scim_type), "{body}");
        assert_eq!(err.detail, detail, "{body}");
    }
}

#[test]
fn parse_rejects_bad_operations() {
    let cases = [
        (json!(["add"]), ScimType::InvalidSyntax, "Operations[0]: operation must be an object, got a string"),
        (json!([{"path": "title"}]), ScimType::InvalidSyntax, "Operations[0]: operation has no 'op'"),
        (
            json!([{"op": "move", "path": "title"}]),
            ScimType::InvalidSyntax,
            "Operations[0]: unknown op 'move': expected 'add', 'remove' or 'replace'",
        ),
        (
            json!([{"op": "add", "path": "title", "value": "x"}, {"op": "remove"}]),
            ScimType::NoTarget,
            "Operations[1]: a 'remove' operation needs a 'path'",
        ),
        (json!([{"op": "replace", "path": "title"}]), ScimType::InvalidValue, "Operations[0]: the 'replace' operation needs a 'value'"),
        (json!([{"op": "add", "path": 5, "value": "x"}]), ScimType::InvalidPath, "Operations[0]: 'path' must be a string, got a number"),
        (
            json!([{"op": "add", "path": "emails[type eq]", "value": "x"}]),
            ScimType::InvalidPath,
            "Operations[0]: invalid path 'emails[type eq]': expected a value after 'eq' at position 14, got ']'",
        ),
    ];
    for (operations, scim_type, detail) in cases {
        let err = parse_patch_request(USER, &request(operations.clone())).unwrap_err();
        assert_eq!(err.scim_type, Some(scim_type), "{operations}");
        assert_eq!(err.detail, detail, "{operations}");
    }
}

#[test]
fn patch_entra_no_path_replace() {
    let user = patched(json!([
        {"op": "replace", "value": {
            "displayName": "M",
            "name.givenName": "G",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "1970",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "abc"
        }},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "m@example.com"}
    ]));
    assert_eq!(
        user,
        json!({
            "userName": "bjensen",
            "active": true,
            "emails": [
                {"value": "m@example.com", "type": "work", "primary": true},
                {"value": "b@home.example", "type": "home"}
            ],
            "displayName": "M",
            "name": {"givenName": "G"},
            ENTERPRISE_USER: {"employeeNumber": "1970", "manager": {"value": "abc"}},
        })
    );
}

#[test]
fn patch_string_boolean_active() {
    let user = patched(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(user["active"], json!(false));
    let user = patched(json!([{"op": "replace", "value": {"ACTIVE": "TRUE"}}]));
    assert_eq!(user["active"], json!(true));
    let err = patch_error(json!([{"op": "replace", "path": "active", "value": "yes"}]));
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    assert_eq!(
        err.detail,
        "Operations[0]: attribute 'active' must be true or false, got a string"
    );
}

#[test]
fn patch_add_single_valued() {
    let user = patched(json!([{"op": "add", "path": "TITLE", "value": "Boss"}]));
    assert_eq!(user["title"], json!("Boss"));
    let user = patched(json!([{"op": "add", "path": "userName", "value": "barbara"}]));
    assert_eq!(user["userName"], json!("barbara"));
}

#[test]
fn patch_add_multi_valued_appends() {
    let user = patched(json!([
        {"op": "add", "path": "emails", "value": [{"value": "b@other.example", "type": "other"}]},
        {"op": "add", "path": "phoneNumbers", "value": {"value": "555", "type": "work"}}
    ]));
    assert_eq!(user["emails"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        user["emails"][2],
        json!({"value": "b@other.example", "type": "other"})
    );
    assert_eq!(
        user["phoneNumbers"],
        json!([{"value": "555", "type": "work"}])
    );
}

#[test]
fn patch_add_is_idempotent() {
    let add = json!([{"op": "add", "path": "emails", "value": [{"value": "b@home.example", "type": "home"}]}]);
    assert_eq!(patched(add), base_user());
    let twice = json!([
        {"op": "add", "path": "roles", "value": [{"value": "admin"}]},
        {"op": "add", "path": "roles", "value": [{"value": "admin"}]}
    ]);
    assert_eq!(patched(twice)["roles"], json!([{"value": "admin"}]));
}

#[test]
fn patch_add_primary_clears_others() {
    let user = patched(json!([
        {"op": "add", "path": "emails", "value": [{"value": "new@x.example", "primary": true}]}
    ]));
    assert_eq!(user["emails"][0]["primary"], json!(false));
    assert_eq!(user["emails"][2]["primary"], json!(true));
}

#[test]
fn patch_replace_multi_valued() {
    let user = patched(json!([
        {"op": "replace", "path": "emails", "value": [{"value": "only@x.example", "type": "work"}]}
    ]));
    assert_eq!(
        user["emails"],
        json!([{"value": "only@x.example", "type": "work"}])
    );
    let cleared = patched(json!([{"op": "replace", "path": "emails", "value": []}]));
    assert_eq!(cleared.get("emails"), None);
}

#[test]
fn patch_replace_complex_merges() {
    let mut user = base_user();
    user["name"] = json!({"givenName": "Barbara", "familyName": "Jensen"});
    let user = patch_user(
        user,
        json!([{"op": "replace", "path": "name", "value": {"FamilyName": "Smith", "givenName": null}}]),
    )
    .unwrap();
    assert_eq!(user["name"], json!({"familyName": "Smith"}));
}

#[test]
fn patch_filter_updates_matching_element() {
    let user = patched(json!([
        {"op": "replace", "path": "emails[type eq \"HOME\"].value", "value": "new@home.example"}
    ]));
    assert_eq!(
        user["emails"][1],
        json!({"value": "new@home.example", "type": "home"})
    );
    assert_eq!(user["emails"][0]["value"], json!("b@work.example"));
}

#[test]
fn patch_filter_creates_missing_element() {
    let user = patched(json!([
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
        {"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"}
    ]));
    assert_eq!(
        user["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
    assert_eq!(
        user["addresses"],
        json!([{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield"}])
    );
}

#[test]
fn patch_schemas_is_rejected() {
    let err = patch_error(json!([{"op": "replace", "path": "schemas", "value": ["urn:x"]}]));
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
}

#[test]
fn patch_filter_on_own_sub_attribute_no_target() {
    let err = patch_error(json!([
        {"op": "replace", "path": "emails[type eq \"pager\"].type", "value": "other"}
    ]));
    assert_eq!(err.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn patch_filter_no_match_no_target() {
    let err = patch_error(json!([
        {"op": "replace", "path": "emails[value co \"nomatch\"].type", "value": "work"}
    ]));
    assert_eq!(err.scim_type, Some(ScimType::NoTarget));
    assert_eq!(
        err.detail,
        "Operations[0]: no value of 'emails' matches the filter in 'emails[value co \"nomatch\"].type'"
    );
}

#[test]
fn patch_filter_replace_whole_element() {
    let user = patched(json!([
        {"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "x@home.example", "type": "home"}}
    ]));
    assert_eq!(
        user["emails"][1],
        json!({"value": "x@home.example", "type": "home"})
    );
    assert_eq!(user["emails"].as_array().map(Vec::len), Some(2));
}

#[test]
fn patch_remove_whole_attribute() {
    let user =
        patched(json!([{"op": "remove", "path": "emails"}, {"op": "remove", "path": "title"}]));
    assert_eq!(user, json!({"userName": "bjensen", "active": true}));
}

#[test]
fn patch_remove_sub_attribute() {
    let mut user = base_user();
    user["name"] = json!({"givenName": "Barbara", "familyName": "Jensen"});
    let user = patch_user(user, json!([{"op": "remove", "path": "name.givenName"}])).unwrap();
    assert_eq!(user["name"], json!({"familyName": "Jensen"}));
    let user = patch_user(user, json!([{"op": "remove", "path": "name.familyName"}])).unwrap();
    assert_eq!(user.get("name"), None);
}

#[test]
fn patch_remove_filtered_elements() {
    let user = patched(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]));
    assert_eq!(
        user["emails"],
        json!([{"value": "b@home.example", "type": "home"}])
    );
    let user =
        patched(json!([{"op": "remove", "path": "emails[type eq \"work\" or type eq \"home\"]"}]));
    assert_eq!(user.get("emails"), None);
}

#[test]
fn patch_remove_filtered_sub_attribute() {
    let user = patched(json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]));
    assert_eq!(
        user["emails"][0],
        json!({"value": "b@work.example", "type": "work"})
    );
}

#[test]
fn patch_remove_by_value_array() {
    let user = patched(json!([
        {"op": "remove", "path": "emails", "value": [{"value": "B@HOME.example"}]}
    ]));
    assert_eq!(
        user["emails"],
        json!([{"value": "b@work.example", "type": "work", "primary": true}])
    );
}

#[test]
fn patch_remove_is_idempotent() {
    let ops = json!([
        {"op": "remove", "path": "nickName"},
        {"op": "remove", "path": "emails[type eq \"other\"]"},
        {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
    ]);
    assert_eq!(patched(ops), base_user());
}

#[test]
fn patch_enterprise_paths() {
    let user = patched(json!([
        {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:Department", "value": "R&D"}
    ]));
    assert_eq!(
        user[ENTERPRISE_USER],
        json!({"manager": {"value": "m-1"}, "department": "R&D"})
    );

    let user = patch_user(
        user,
        json!([
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "value": "m-2"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
        ]),
    )
    .unwrap();
    assert_eq!(user[ENTERPRISE_USER], json!({"manager": {"value": "m-2"}}));

    let user = patch_user(
        user,
        json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]),
    )
    .unwrap();
    assert_eq!(user.get(ENTERPRISE_USER), None);
}

#[test]
fn patch_no_path_extension_object() {
    let user = patched(json!([
        {"op": "add", "value": {
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "Ops", "manager": {"value": "m"}},
            "urn:ietf:params:scim:schemas:core:2.0:User:nickName": "Babs"
        }}
    ]));
    assert_eq!(user["nickName"], json!("Babs"));
    assert_eq!(
        user[ENTERPRISE_USER],
        json!({"department": "Ops", "manager": {"value": "m"}})
    );
}

#[test]
fn patch_whole_schema_path() {
    let user = patched(json!([
        {"op": "add", "path": ENTERPRISE_USER, "value": {"costCenter": "42"}}
    ]));
    assert_eq!(user[ENTERPRISE_USER], json!({"costCenter": "42"}));

    let user = patched(json!([
        {"op": "add", "path": ENTERPRISE_USER, "value": {"costCenter": "42"}},
        {"op": "remove", "path": "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER"}
    ]));
    assert_eq!(user.get(ENTERPRISE_USER), None);

    let err = patch_error(json!([{"op": "remove", "path": CORE_USER}]));
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
}

#[test]
fn patch_read_only_attributes() {
    let user = patched(json!([
        {"op": "replace", "value": {"id": "other", "meta": {"version": "1"}, "groups": [], "schemas": ["x"], "title": "T"}}
    ]));
    assert_eq!(user.get("id"), None);
    assert_eq!(user.get("meta"), None);
    assert_eq!(user.get("schemas"), None);
    assert_eq!(user["title"], json!("T"));

    for path in [
        "id",
        "meta.created",
        "groups",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
    ] {
        let err = patch_error(json!([{"op": "replace", "path": path, "value": "x"}]));
        assert_eq!(err.scim_type, Some(ScimType::Mutability), "path {path}");
        assert_eq!(
            err.detail,
            format!("Operations[0]: attribute '{path}' is read-only and cannot be changed")
        );
    }
}

#[test]
fn patch_password_is_kept() {
    let user = patched(json!([{"op": "replace", "path": "password", "value": "s3cret!"}]));
    assert_eq!(user["password"], json!("s3cret!"));
}

#[test]
fn patch_type_errors_name_attribute() {
    let err = patch_error(json!([{"op": "add", "path": "emails", "value": "x@y"}]));
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    assert_eq!(
        err.detail,
        "Operations[0]: attribute 'emails' must be an array, got a string"
    );
    let err = patch_error(json!([{"op": "replace", "value": {"name": {"givenName": 5}}}]));
    assert_eq!(
        err.detail,
        "Operations[0]: attribute 'name.givenName' must be a string, got a number"
    );
    let err = patch_error(json!([{"op": "replace", "value": "x"}]));
    assert_eq!(
        err.detail,
        "Operations[0]: the value of the 'replace' operation without a 'path' must be an object of attributes, got a string"
    );
}

#[test]
fn patch_required_user_name() {
    let err = patch_error(json!([{"op": "remove", "path": "userName"}]));
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    assert_eq!(err.detail, "attribute 'userName' is required");
    let err = patch_error(json!([{"op": "replace", "path": "userName", "value": null}]));
    assert_eq!(err.detail, "attribute 'userName' is required");
}

#[test]
fn patch_failure_leaves_resource_unchanged() {
    let mut user = base_user();
    let ops = parse_user(json!([
        {"op": "replace", "path": "title", "value": "changed"},
        {"op": "replace", "path": "id", "value": "x"}
    ]));
    let err = apply_user_patch(&mut user, &ops).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
    assert_eq!(user, base_user());
}

#[test]
fn patch_unknown_attributes_kept() {
    let user = patched(json!([
        {"op": "add", "path": "costCode", "value": "C1"},
        {"op": "add", "value": {"urn:example:custom:1.0:User": {"badge": "7"}}},
        {"op": "add", "path": "urn:example:custom:1.0:User:floor", "value": 3}
    ]));
    assert_eq!(user["costCode"], json!("C1"));
    assert_eq!(
        user["urn:example:custom:1.0:User"],
        json!({"badge": "7", "floor": 3})
    );
    let user = patch_user(user, json!([{"op": "remove", "path": "COSTCODE"}])).unwrap();
    assert_eq!(user.get("costCode"), None);
}

#[test]
fn patch_sub_attribute_on_all_elements() {
    let user = patched(json!([{"op": "replace", "path": "emails.type", "value": "other"}]));
    assert_eq!(user["emails"][0]["type"], json!("other"));
    assert_eq!(user["emails"][1]["type"], json!("other"));
    let err = patch_error(json!([{"op": "replace", "path": "ims.value", "value": "x"}]));
    assert_eq!(err.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn group_patch_add_members() {
    let (group, ops) = patch_group(json!([
        {"op": "Add", "path": "members", "value": [{"value": "u1", "display": "Ann", "type": "user", "$ref": null}]},
        {"op": "add", "path": "members", "value": {"value": "g2", "type": "Group"}},
        {"op": "add", "path": "members", "value": []}
    ]))
    .unwrap();
    assert_eq!(group, json!({"displayName": "Engineering"}));
    assert_eq!(
        ops,
        vec![
            MemberOp::Add(vec![MemberRef {
                value: "u1".into(),
                display: Some("Ann".into()),
                member_type: Some("User".into()),
            }]),
            MemberOp::Add(vec![MemberRef {
                value: "g2".into(),
                display: None,
                member_type: Some("Group".into()),
            }]),
        ]
    );
}

#[test]
fn group_patch_remove_by_value() {
    let (_, ops) = patch_group(json!([
        {"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}
    ]))
    .unwrap();
    assert_eq!(ops, vec![MemberOp::Remove(vec!["u1".into(), "u2".into()])]);
}

#[test]
fn group_patch_remove_member_filter() {
    let (_, ops) = patch_group(json!([
        {"op": "remove", "path": "members[value eq \"a\" or VALUE EQ \"b\"]"},
        {"op": "remove", "path": "members[value eq \"c\"]"}
    ]))
    .unwrap();
    assert_eq!(
        ops,
        vec![
            MemberOp::Remove(vec!["a".into(), "b".into()]),
            MemberOp::Remove(vec!["c".into()])
        ]
    );
}

#[test]
fn group_patch_remove_all_and_replace() {
    let (_, ops) = patch_group(json!([
        {"op": "remove", "path": "members"},
        {"op": "replace", "path": "members", "value": [{"value": "u9"}]},
        {"op": "replace", "path": "members", "value": []}
    ]))
    .unwrap();
    assert_eq!(
        ops,
        vec![
            MemberOp::RemoveAll,
            MemberOp::Replace(vec![member("u9")]),
            MemberOp::Replace(vec![])
        ]
    );
}

#[test]
fn group_patch_no_path_members() {
    let (group, ops) = patch_group(json!([
        {"op": "replace", "value": {"id": "x", "displayName": "Eng 2", "members": [{"value": "u1"}]}},
        {"op": "add", "value": {"urn:ietf:params:scim:schemas:core:2.0:Group:members": [{"value": "u2"}], "externalId": "e1"}}
    ]))
    .unwrap();
    assert_eq!(group, json!({"displayName": "Eng 2", "externalId": "e1"}));
    assert_eq!(
        ops,
        vec![
            MemberOp::Replace(vec![member("u1")]),
            MemberOp::Add(vec![member("u2")])
        ]
    );
}

#[test]
fn group_patch_member_errors() {
    let cases = [
        (
            json!([{"op": "remove", "path": "members[type eq \"User\"]"}]),
            ScimType::InvalidFilter,
            "Operations[0]: member filters support only 'value eq' comparisons joined by 'or', e.g. members[value eq \"2819c223\"], got [type eq \"User\"]",
        ),
        (
            json!([{"op": "replace", "path": "members[value eq \"a\"].display", "value": "x"}]),
            ScimType::InvalidPath,
            "Operations[0]: path 'members[value eq \"a\"].display' is not supported: members can only be added, replaced or removed whole, with path 'members' or 'members[value eq \"id\"]'",
        ),
        (
            json!([{"op": "add", "path": "members[value eq \"a\"]", "value": {"value": "a"}}]),
            ScimType::InvalidPath,
            "Operations[0]: path 'members[value eq \"a\"]' is not supported for 'add': use path 'members' with the member objects as the value",
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}]),
            ScimType::InvalidValue,
            "Operations[0]: member is missing its 'value' id",
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": 7}]}]),
            ScimType::InvalidValue,
            "Operations[0]: member 'value' must be a string id, got a number",
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": "u1", "type": "Robot"}]}]),
            ScimType::InvalidValue,
            "Operations[0]: member 'type' of 'u1' must be \"User\" or \"Group\", got \"Robot\"",
        ),
        (
            json!([{"op": "add", "path": "members", "value": "u1"}]),
            ScimType::InvalidValue,
            "Operations[0]: attribute 'members' must be an array of member objects, got a string",
        ),
    ];
    for (operations, scim_type, detail) in cases {
        let err = patch_group(operations.clone()).unwrap_err();
        assert_eq!(err.scim_type, Some(scim_type), "{operations}");
        assert_eq!(err.detail, detail, "{operations}");
    }
}

#[test]
fn group_patch_display_name() {
    let (group, ops) =
        patch_group(json!([{"op": "replace", "path": "DisplayName", "value": "Ops"}])).unwrap();
    assert_eq!(group, json!({"displayName": "Ops"}));
    assert!(ops.is_empty());
    let err = patch_group(json!([{"op": "remove", "path": "displayName"}])).unwrap_err();
    assert_eq!(err.detail, "attribute 'displayName' is required");
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// JSON values built from attribute names, op names and paths that the
    /// code looks at, so generated bodies reach deep into the logic.
    fn json_strategy() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec![
            "userName",
            "emails",
            "value",
            "type",
            "primary",
            "name",
            "givenName",
            "active",
            "members",
            "display",
            "$ref",
            "id",
            "meta",
            "schemas",
            "Operations",
            "op",
            "path",
            "displayName",
            "manager",
            "name.givenName",
            ENTERPRISE_USER,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:x:y",
        ])
        .prop_map(str::to_owned);
        let text = prop::sample::select(vec![
            "add",
            "Replace",
            "remove",
            "true",
            "False",
            "work",
            "User",
            "emails[type eq \"work\"].value",
            "members[value eq \"a\"]",
            "name.givenName",
            "emails",
            "members",
            "id",
            "",
            "x",
        ])
        .prop_map(|s| Value::String(s.to_owned()));
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            text,
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn normalize_and_patch_never_panic(body in json_strategy(), operations in json_strategy()) {
            let _ = crate::scim::resource::normalize_resource(USER, body.clone());
            let _ = crate::scim::resource::normalize_resource(GROUP, body.clone());
            for kind in [USER, GROUP] {
                let wrapped = request(operations.clone());
                if let Ok(ops) = parse_patch_request(kind, &wrapped) {
                    let mut user = base_user();
                    let _ = apply_user_patch(&mut user, &ops);
                    let mut group = json!({"displayName": "g"});
                    let _ = apply_group_patch(&mut group, &ops);
                }
            }
        }

        #[test]
        fn patch_operations_never_panic(
            op in prop::sample::select(vec!["add", "remove", "replace"]),
            path in prop::sample::select(vec![
                "emails", "emails[type eq \"work\"]", "emails[type eq \"work\"].value",
                "emails[value co \"x\"].type", "name", "name.givenName", "active", "title",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "members", "members[value eq \"a\"]", "unknownThing", "urn:x:y:z", "",
            ]),
            value in json_strategy(),
        ) {
            let operations = json!([{ "op": op, "path": path, "value": value }]);
            for kind in [USER, GROUP] {
                if let Ok(ops) = parse_patch_request(kind, &request(operations.clone())) {
                    let mut user = base_user();
                    if apply_user_patch(&mut user, &ops).is_ok() {
                        prop_assert!(user.get("userName").is_some_and(Value::is_string));
                    }
                    let mut group = json!({"displayName": "g"});
                    let _ = apply_group_patch(&mut group, &ops);
                }
            }
        }
    }
}
