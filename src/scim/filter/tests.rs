//! Tests for filter parsing, printing and evaluation.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::scim::error::ScimType;
use crate::scim::path::resolve;
use crate::scim::schema::{ResourceKind, ENTERPRISE_USER};

const USER: ResourceKind = ResourceKind::User;
const GROUP: ResourceKind = ResourceKind::Group;

fn user(input: &str) -> Filter {
    match parse_filter(USER, input) {
        Ok(filter) => filter,
        Err(e) => panic!("filter {input:?} failed to parse: {}", e.detail),
    }
}

fn user_err(input: &str) -> String {
    match parse_filter(USER, input) {
        Ok(filter) => panic!("filter {input:?} parsed unexpectedly as {filter:?}"),
        Err(e) => {
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{}", e.detail);
            assert_eq!(e.status, 400);
            e.detail
        }
    }
}

fn cmp(path: &str, op: CompareOp, value: Value) -> Filter {
    Filter::Compare {
        path: resolve(USER, path).unwrap(),
        op,
        value,
    }
}

fn and(left: Filter, right: Filter) -> Filter {
    Filter::And(Box::new(left), Box::new(right))
}

fn or(left: Filter, right: Filter) -> Filter {
    Filter::Or(Box::new(left), Box::new(right))
}

#[test]
fn parse_simple_equality() {
    assert_eq!(
        user(r#"userName eq "bjensen""#),
        cmp("userName", CompareOp::Eq, json!("bjensen"))
    );
}

#[test]
fn parse_ignores_keyword_case() {
    let filter = user(r#"USERNAME EQ "x" AND Active Eq TRUE"#);
    assert_eq!(
        filter,
        and(
            cmp("userName", CompareOp::Eq, json!("x")),
            cmp("active", CompareOp::Eq, json!(true))
        )
    );
    assert_eq!(filter.to_string(), r#"userName eq "x" and active eq true"#);
}

#[test]
fn parse_every_operator() {
    for op in ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"] {
        let expected = CompareOp::from_keyword(op).unwrap();
        let filter = user(&format!(r#"title {op} "Boss""#));
        assert_eq!(
            filter,
            cmp("title", expected, json!("Boss")),
            "operator {op}"
        );
    }
    assert_eq!(
        user("title pr"),
        Filter::Present(resolve(USER, "title").unwrap())
    );
    assert_eq!(
        user("title PR"),
        Filter::Present(resolve(USER, "title").unwrap())
    );
}

#[test]
fn parse_and_binds_tighter() {
    let a = || cmp("userName", CompareOp::Eq, json!("a"));
    let b = || cmp("title", CompareOp::Eq, json!("b"));
    let c = || cmp("nickName", CompareOp::Eq, json!("c"));
    assert_eq!(
        user(r#"userName eq "a" or title eq "b" and nickName eq "c""#),
        or(a(), and(b(), c()))
    );
    assert_eq!(
        user(r#"userName eq "a" and title eq "b" or nickName eq "c""#),
        or(and(a(), b()), c())
    );
    assert_eq!(
        user(r#"userName eq "a" and (title eq "b" or nickName eq "c")"#),
        and(a(), or(b(), c()))
    );
}

#[test]
fn parse_not_binds_tighter() {
    let filter = user(r#"not (userName eq "a") and title pr"#);
    assert_eq!(
        filter,
        and(
            Filter::Not(Box::new(cmp("userName", CompareOp::Eq, json!("a")))),
            Filter::Present(resolve(USER, "title").unwrap())
        )
    );
    assert_eq!(filter.to_string(), r#"not (userName eq "a") and title pr"#);
    assert_eq!(
        user(r#"NOT(userName eq "a")"#),
        Filter::Not(Box::new(cmp("userName", CompareOp::Eq, json!("a"))))
    );
}

#[test]
fn parse_nested_parentheses() {
    assert_eq!(
        user(r#"(((userName eq "a")))"#),
        cmp("userName", CompareOp::Eq, json!("a"))
    );
    let filter = user(r#"((title pr or (nickName pr)) and not ((userName sw "x")))"#);
    assert_eq!(
        filter.to_string(),
        r#"(title pr or nickName pr) and not (userName sw "x")"#
    );
}

#[test]
fn parse_long_chain_is_balanced() {
    let terms: Vec<String> = (0..700).map(|i| format!(r#"title eq "u{i}""#)).collect();
    let filter = user(&terms.join(" or "));
    fn depth(filter: &Filter) -> usize {
        match filter {
            Filter::And(l, r) | Filter::Or(l, r) => 1 + depth(l).max(depth(r)),
            Filter::Not(inner) => 1 + depth(inner),
            Filter::ValuePath { filter, .. } => 1 + depth(filter),
            _ => 1,
        }
    }
    assert_eq!(depth(&filter), 11);
    assert!(filter.matches_resource(&json!({"title": "U699"})));
    assert!(!filter.matches_resource(&json!({"title": "u700"})));
}

#[test]
fn parse_escaped_quotes() {
    assert_eq!(
        user(r#"displayName eq "say \"hi\" \\ now""#),
        cmp("displayName", CompareOp::Eq, json!(r#"say "hi" \ now"#))
    );
}

#[test]
fn parse_unicode_values() {
    assert_eq!(
        user(r#"displayName eq "Zoë 日本 \u00e9""#),
        cmp("displayName", CompareOp::Eq, json!("Zoë 日本 é"))
    );
}

#[test]
fn parse_keywords_inside_quotes() {
    assert_eq!(
        user(r#"displayName eq "a and b or not (c) [d]""#),
        cmp(
            "displayName",
            CompareOp::Eq,
            json!("a and b or not (c) [d]")
        )
    );
}

#[test]
fn parse_literals() {
    assert_eq!(
        user("active eq FALSE"),
        cmp("active", CompareOp::Eq, json!(false))
    );
    assert_eq!(
        user("title eq Null"),
        cmp("title", CompareOp::Eq, Value::Null)
    );
    assert_eq!(
        user("title ne null"),
        cmp("title", CompareOp::Ne, Value::Null)
    );
    assert_eq!(parser_literal("42"), Some(json!(42)));
    assert_eq!(parser_literal("-1.5e3"), Some(json!(-1500.0)));
    assert_eq!(parser_literal("0.25"), Some(json!(0.25)));
    assert_eq!(parser_literal("1e999"), None);
    assert_eq!(parser_literal("12abc"), None);
    assert_eq!(parser_literal("yes"), None);
}

fn parser_literal(word: &str) -> Option<Value> {
    // A number compared with a string attribute reports the value type,
    // which proves the literal was read as a number.
    match parse_filter(USER, &format!("userName eq {word}")) {
        Err(e) if e.detail.contains("got a number") => serde_json::from_str(word).ok(),
        Err(e) if e.detail.contains("got a boolean") => serde_json::from_str(word).ok(),
        _ => None,
    }
}

#[test]
fn parse_urn_prefixed_paths() {
    let core = user(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#);
    assert_eq!(core, cmp("userName", CompareOp::Eq, json!("a")));
    assert_eq!(core.to_string(), r#"userName eq "a""#);

    let filter = user(&format!(r#"{ENTERPRISE_USER}:manager.value eq "m1""#));
    let Filter::Compare { path, .. } = &filter else {
        panic!("expected a comparison, got {filter:?}");
    };
    assert!(path.extension);
    assert_eq!(path.urn, ENTERPRISE_USER);
    assert_eq!(path.attr, "manager");
    assert_eq!(path.sub_attr.as_deref(), Some("value"));
    assert_eq!(
        filter.to_string(),
        format!(r#"{ENTERPRISE_USER}:manager.value eq "m1""#)
    );

    let lower =
        user(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:DEPARTMENT eq "x""#);
    assert_eq!(
        lower.to_string(),
        format!(r#"{ENTERPRISE_USER}:department eq "x""#)
    );
}

#[test]
fn parse_meta_attributes() {
    let filter = user(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#);
    assert_eq!(
        filter,
        cmp(
            "meta.lastModified",
            CompareOp::Gt,
            json!("2011-05-13T04:42:34Z")
        )
    );
    user(r#"meta.created le "2011-05-13T04:42:34.123+02:00""#);
    user(r#"meta.resourceType eq "User""#);
    user(r#"meta.version eq "W/\"3\"""#);
    user(r#"meta.location sw "https://""#);
    user(r#"id eq "2819c223-7f76-453a-919d-413861904646""#);
    let detail = user_err(r#"meta.created gt "2011-13-13""#);
    assert!(
        detail.starts_with(
            "attribute 'meta.created' is a dateTime, so the value must be an RFC 3339"
        ),
        "{detail}"
    );
}

#[test]
fn parse_value_filter() {
    let filter = user(r#"emails[type eq "work" and value co "@example.com"]"#);
    let emails = resolve(USER, "emails").unwrap();
    let expected = Filter::ValuePath {
        attr: emails.clone(),
        filter: Box::new(and(
            cmp("emails.type", CompareOp::Eq, json!("work")),
            cmp("emails.value", CompareOp::Co, json!("@example.com")),
        )),
    };
    assert_eq!(filter, expected);
    assert_eq!(
        filter.to_string(),
        r#"emails[type eq "work" and value co "@example.com"]"#
    );
}

#[test]
fn parse_idp_value_path_form() {
    let filter = user(r#"emails[type eq "work"].value eq "x@example.com""#);
    let expected = Filter::ValuePath {
        attr: resolve(USER, "emails").unwrap(),
        filter: Box::new(and(
            cmp("emails.type", CompareOp::Eq, json!("work")),
            cmp("emails.value", CompareOp::Eq, json!("x@example.com")),
        )),
    };
    assert_eq!(filter, expected);
    let present = user(r#"Emails[Type eq "work"].VALUE pr"#);
    assert_eq!(
        present.to_string(),
        r#"emails[type eq "work" and value pr]"#
    );
}

#[test]
fn parse_complex_shorthand_uses_value() {
    assert_eq!(
        user(r#"emails co "example.com""#),
        cmp("emails.value", CompareOp::Co, json!("example.com"))
    );
    assert_eq!(
        user("emails pr"),
        Filter::Present(resolve(USER, "emails").unwrap())
    );
}

#[test]
fn parse_group_filters() {
    let filter = parse_filter(
        GROUP,
        r#"members[value eq "2819c223"] and displayName sw "Eng""#,
    )
    .unwrap();
    assert_eq!(
        filter.to_string(),
        r#"members[value eq "2819c223"] and displayName sw "Eng""#
    );
    let err = parse_filter(GROUP, r#"userName eq "a""#).unwrap_err();
    assert_eq!(
        err.detail,
        "unknown attribute 'userName' in filter at position 0"
    );
}

#[test]
fn error_missing_operator_position() {
    assert_eq!(
        user_err("userName foo"),
        "expected a comparison operator after 'userName' at position 9, got 'foo'"
    );
    assert_eq!(
        user_err("userName"),
        "expected a comparison operator after 'userName' at position 8, got the end of the filter"
    );
}

#[test]
fn error_missing_value() {
    assert_eq!(
        user_err("userName eq"),
        "expected a value after 'eq' at position 11, got the end of the filter"
    );
    assert_eq!(
        user_err("userName eq bob"),
        "invalid value 'bob' after 'eq': expected a quoted string, a number, true, false or null \
         at position 12"
    );
}

#[test]
fn error_unclosed_groups() {
    assert_eq!(
        user_err(r#"(userName eq "a""#),
        "expected ')' at position 16 to close the '(' at position 0, got the end of the filter"
    );
    assert_eq!(
        user_err(r#"emails[type eq "work""#),
        "expected ']' at position 21 to close the '[' at position 6, got the end of the filter"
    );
    assert_eq!(
        user_err(r#"userName eq "a")"#),
        "unbalanced ')' at position 15"
    );
}

#[test]
fn error_trailing_tokens() {
    assert_eq!(
        user_err(r#"userName eq "a" title pr"#),
        "expected 'and', 'or' or the end of the filter at position 16, got 'title'"
    );
    assert_eq!(
        user_err(r#"userName eq "a" and"#),
        "expected an attribute path, '(' or 'not' at position 19, got the end of the filter"
    );
}

#[test]
fn error_unknown_attributes() {
    assert_eq!(
        user_err(r#"foo eq "x""#),
        "unknown attribute 'foo' in filter at position 0"
    );
    assert_eq!(
        user_err(r#"title pr and name.nick eq "x""#),
        "unknown attribute 'name.nick' in filter at position 13"
    );
    assert_eq!(
        user_err(r#"emails[kind eq "x"]"#),
        "unknown attribute 'emails.kind' in filter at position 7"
    );
    assert_eq!(
        user_err(r#"urn:example:custom:1.0:User:costCode eq "x""#),
        "unknown attribute 'urn:example:custom:1.0:User:costCode' in filter at position 0"
    );
}

#[test]
fn error_operator_type_mismatch() {
    assert_eq!(
        user_err(r#"active co "t""#),
        "operator 'co' cannot be applied to attribute 'active' of type boolean at position 7"
    );
    assert_eq!(
        user_err(r#"active gt true"#),
        "operator 'gt' cannot be applied to attribute 'active' of type boolean at position 7"
    );
    assert_eq!(
        user_err(r#"meta.created sw "2011""#),
        "operator 'sw' cannot be applied to attribute 'meta.created' of type dateTime at position 13"
    );
    assert_eq!(
        user_err(r#"title gt null"#),
        "operator 'gt' cannot compare with null at position 6"
    );
}

#[test]
fn error_value_type_mismatch() {
    assert_eq!(
        user_err(r#"active eq "true""#),
        "attribute 'active' is of type boolean, so the value must be true or false, got a string \
         at position 7"
    );
    assert_eq!(
        user_err("userName eq 42"),
        "attribute 'userName' is of type string, so the value must be a quoted string, got a number \
         at position 9"
    );
}

#[test]
fn error_complex_and_hidden_attributes() {
    assert_eq!(
        user_err(r#"name eq "x""#),
        "attribute 'name' is complex: compare one of its sub-attributes, e.g. 'name.formatted' \
         at position 5"
    );
    assert_eq!(
        user_err(r#"password eq "x""#),
        "attribute 'password' is never returned, so it cannot be used in a filter at position 9"
    );
}

#[test]
fn error_value_filter_misuse() {
    assert_eq!(
        user_err(r#"emails[type eq "work" and emails[value pr]]"#),
        "a value filter '[...]' cannot be nested in another at position 32"
    );
    assert_eq!(
        user_err(r#"userName[value eq "x"]"#),
        "'userName' is not a complex attribute, so it cannot take a value filter at position 8"
    );
    assert_eq!(
        user_err(r#"emails[emails.type eq "work"]"#),
        "'emails.type' inside 'emails[...]' must be a bare sub-attribute name at position 7"
    );
    assert_eq!(
        user_err(r#"emails[type eq "work"].value"#),
        "expected a comparison operator after 'emails[...].value' at position 28, got the end of the filter"
    );
}

#[test]
fn error_not_without_parentheses() {
    assert_eq!(
        user_err(r#"not userName eq "x""#),
        "expected '(' after 'not' at position 4, got 'userName'"
    );
}

#[test]
fn error_empty_and_invalid_strings() {
    assert_eq!(user_err("   "), "filter is empty");
    assert_eq!(
        user_err(r#"userName eq "abc"#),
        "unterminated string starting at position 12"
    );
}

#[test]
fn depth_limit_enforced() {
    let nested = |levels: usize| format!("{}userName pr{}", "(".repeat(levels), ")".repeat(levels));
    assert_eq!(
        user(&nested(MAX_FILTER_DEPTH)),
        Filter::Present(resolve(USER, "userName").unwrap())
    );
    assert_eq!(
        user_err(&nested(MAX_FILTER_DEPTH + 1)),
        "filter nesting exceeds the maximum depth of 64 at position 64"
    );
    let nots = format!("{}userName pr{}", "not (".repeat(100), ")".repeat(100));
    assert!(user_err(&nots).starts_with("filter nesting exceeds the maximum depth of 64"));
    // Deeper input than the limit must fail cleanly, not overflow the stack.
    let deep = "(".repeat(MAX_FILTER_LEN);
    assert!(user_err(&deep).starts_with("filter nesting exceeds"));
}

#[test]
fn length_limit_enforced() {
    let long = format!(r#"userName eq "{}""#, "a".repeat(MAX_FILTER_LEN));
    assert_eq!(
        user_err(&long),
        format!(
            "filter is {} bytes long, more than the maximum of 16384 bytes",
            MAX_FILTER_LEN + 14
        )
    );
}

#[test]
fn matches_element_case_rules() {
    let element = json!({"type": "Work", "value": "A@Example.com", "primary": true});
    assert!(
        user(r#"emails[type eq "work"]"#).matches_resource(&json!({"emails": [element.clone()]}))
    );
    let Filter::ValuePath { filter, .. } =
        user(r#"emails[type eq "WORK" and value ew "example.COM"]"#)
    else {
        panic!("expected a value path");
    };
    assert!(filter.matches(&element));
    let Filter::ValuePath { filter, .. } = user(r#"emails[primary eq false]"#) else {
        panic!("expected a value path");
    };
    assert!(!filter.matches(&element));

    // members.value is caseExact.
    let Filter::ValuePath { filter, .. } =
        parse_filter(GROUP, r#"members[value eq "ABC"]"#).unwrap()
    else {
        panic!("expected a value path");
    };
    assert!(!filter.matches(&json!({"value": "abc"})));
    assert!(filter.matches(&json!({"value": "ABC"})));
}

#[test]
fn matches_resource_operators() {
    let resource = json!({
        "userName": "bjensen",
        "title": "",
        "active": true,
        "emails": [{"value": "b@example.com", "type": "work"}, {"value": "b@home.org", "type": "home"}],
        "meta": {"lastModified": "2023-12-31T23:30:00Z"},
        ENTERPRISE_USER: {"department": "R&D", "manager": {"value": "m1"}},
    });
    let cases = [
        (r#"userName eq "BJENSEN""#, true),
        (r#"userName ne "bjensen""#, false),
        (r#"userName co "jen""#, true),
        (r#"userName sw "bj""#, true),
        (r#"userName ew "sen""#, true),
        (r#"userName gt "a""#, true),
        (r#"userName ge "bjensen""#, true),
        (r#"userName lt "bjensen""#, false),
        (r#"userName le "c""#, true),
        ("title pr", false),
        ("nickName pr", false),
        (r#"nickName ne "x""#, true),
        ("nickName eq null", true),
        ("userName ne null", true),
        ("active eq true", true),
        ("active ne true", false),
        (r#"emails co "home.org""#, true),
        (r#"emails[type eq "home" and value co "example"]"#, false),
        (r#"emails[type eq "home"].value ew ".org""#, true),
        (r#"meta.lastModified gt "2024-01-01T00:00:00+01:00""#, true),
        (r#"meta.lastModified gt "2024-01-01T00:30:00+01:00""#, false),
        (r#"meta.lastModified ge "2023-12-31T23:30:00.000Z""#, true),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#,
            true,
        ),
        (r#"not (userName eq "bjensen") or title pr"#, false),
    ];
    for (text, expected) in cases {
        assert_eq!(
            user(text).matches_resource(&resource),
            expected,
            "filter {text}"
        );
    }
}

#[test]
fn display_round_trips_examples() {
    let examples = [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        r#"a eq 1"#,
    ];
    for text in examples {
        let Ok(first) = parse_filter(USER, text) else {
            assert_eq!(text, "a eq 1", "only the last example is invalid");
            continue;
        };
        let printed = first.to_string();
        assert_eq!(
            parse_filter(USER, &printed),
            Ok(first),
            "printed as {printed}"
        );
    }
}

fn leaf_strategy() -> impl Strategy<Value = String> {
    let string_attr = prop::sample::select(vec![
        "userName",
        "DISPLAYNAME",
        "name.givenName",
        "title",
        "emails",
        "emails.type",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:core:2.0:User:nickName",
    ]);
    let op = prop::sample::select(vec!["eq", "NE", "co", "sw", "Ew", "gt", "ge", "lt", "le"]);
    let text = any::<String>().prop_map(|s| Value::String(s).to_string());
    let compare = (string_attr.clone(), op, text).prop_map(|(a, o, t)| format!("{a} {o} {t}"));
    let present = string_attr.prop_map(|a| format!("{a} pr"));
    let boolean = any::<bool>().prop_map(|b| format!("active eq {b}"));
    let date = (0i64..4_000_000_000).prop_map(|secs| {
        let stamp = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
        format!("meta.created gt \"{}\"", stamp.to_rfc3339())
    });
    let value_path = (
        prop::sample::select(vec!["type", "value", "display"]),
        any::<String>(),
    )
        .prop_map(|(sub, s)| format!("emails[{sub} eq {}]", Value::String(s)));
    prop_oneof![compare, present, boolean, date, value_path]
}

fn filter_text_strategy() -> impl Strategy<Value = String> {
    leaf_strategy().prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

proptest! {
    #[test]
    fn display_round_trips_generated(text in filter_text_strategy()) {
        let parsed = parse_filter(USER, &text);
        prop_assert!(parsed.is_ok(), "generated filter {:?} failed: {:?}", text, parsed);
        let first = parsed.unwrap_or_else(|_| unreachable!());
        let printed = first.to_string();
        prop_assert_eq!(parse_filter(USER, &printed), Ok(first), "printed as {}", printed);
    }

    #[test]
    fn parse_never_panics(text in "[a-zA-Z \"()\\[\\]\\.:\\\\0-9]{0,60}") {
        let _ = parse_filter(USER, &text);
        let _ = parse_filter(GROUP, &text);
    }

    #[test]
    fn parse_arbitrary_unicode(text in any::<String>()) {
        let _ = parse_filter(USER, &text);
    }
}
