//! Attribute paths (`userName`, `name.givenName`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`)
//! and the PATCH `path` grammar of RFC 7644 §3.5.2.
//!
//! [`resolve`] canonicalises a path against the schemas of a resource type.
//! It accepts attributes that the server does not model, because unknown
//! attributes are stored as sent. Callers that need a modelled attribute,
//! such as the filter parser, check [`ResolvedPath::is_known`].

use std::fmt;

use super::error::{ScimError, ScimType};
use super::filter::{self, Filter};
use super::schema::{self, AttrType, AttributeDef, ResourceKind};

/// An attribute path split into its parts, spelled as the client wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN prefix, e.g. the enterprise extension URN.
    pub urn: Option<String>,
    /// Top-level attribute name.
    pub attr: String,
    /// Sub-attribute name after the dot.
    pub sub_attr: Option<String>,
}

/// Returns true for an RFC 7643 §2.1 attribute name: an ASCII letter followed
/// by letters, digits, '-' or '_', or the special name `$ref`.
fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_valid = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (starts_with_letter && rest_valid) || name == "$ref"
}

impl AttrPath {
    /// Splits `raw` into URN, attribute and sub-attribute.
    ///
    /// A path that starts with `urn:` carries a schema URN, which ends at the
    /// last ':' because attribute names contain no ':' while URNs contain
    /// dots (`2.0`). Errors are `invalidPath` and quote `raw`.
    pub fn parse(raw: &str) -> Result<AttrPath, ScimError> {
        let invalid = |why: &str| ScimError::invalid_path(format!("invalid path '{raw}': {why}"));

        if raw.is_empty() {
            return Err(ScimError::invalid_path("attribute path is empty"));
        }
        if raw.chars().any(char::is_whitespace) {
            return Err(invalid("attribute paths contain no whitespace"));
        }

        let is_urn = raw.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        let (urn, rest) = match raw.rfind(':') {
            Some(colon) if is_urn => (Some(&raw[..colon]), &raw[colon + 1..]),
            Some(_) => return Err(invalid("only a 'urn:' schema prefix may contain ':'")),
            None => (None, raw),
        };
        if urn.is_some_and(|u| u.len() <= 4) {
            return Err(invalid("the schema URN is empty"));
        }

        let (attr, sub_attr) = match rest.split_once('.') {
            Some((attr, sub)) => (attr, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(attr) {
            return Err(invalid(&format!("'{attr}' is not a valid attribute name")));
        }
        if let Some(sub) = sub_attr {
            if sub.contains('.') {
                return Err(invalid("sub-attributes cannot have sub-attributes"));
            }
            if !is_attr_name(sub) {
                return Err(invalid(&format!(
                    "'{sub}' is not a valid sub-attribute name"
                )));
            }
        }

        Ok(AttrPath {
            urn: urn.map(str::to_owned),
            attr: attr.to_owned(),
            sub_attr: sub_attr.map(str::to_owned),
        })
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// An attribute path canonicalised against the schemas of a resource type.
///
/// Modelled names use their canonical spelling and carry their definition.
/// Attributes and sub-attributes the server does not model keep the client's
/// spelling and have no definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPath {
    /// URN of the schema that contains the attribute: the core URN for core
    /// and common attributes, the canonical URN for a known extension, and
    /// the client's spelling for an unknown one.
    pub urn: String,
    /// Whether the attribute lives in the extension object keyed by `urn`
    /// rather than at the top level of the resource.
    pub extension: bool,
    /// Top-level attribute name.
    pub attr: String,
    /// Sub-attribute name.
    pub sub_attr: Option<String>,
    /// Definition of `attr`, if the server models it.
    pub def: Option<&'static AttributeDef>,
    /// Definition of `sub_attr`, if the server models it.
    pub sub_def: Option<&'static AttributeDef>,
}

impl ResolvedPath {
    /// Returns the definition of the attribute the path ends at: the
    /// sub-attribute's if there is one, otherwise the attribute's.
    pub fn target_def(&self) -> Option<&'static AttributeDef> {
        match self.sub_attr {
            Some(_) => self.sub_def,
            None => self.def,
        }
    }

    /// Returns true when the server models every part of the path.
    pub fn is_known(&self) -> bool {
        self.target_def().is_some() && (self.sub_attr.is_none() || self.def.is_some())
    }

    /// Returns the same path without its sub-attribute.
    pub fn without_sub_attr(&self) -> ResolvedPath {
        ResolvedPath {
            sub_attr: None,
            sub_def: None,
            ..self.clone()
        }
    }

    /// Resolves `name` as a sub-attribute of this path's attribute, as
    /// inside a value filter `emails[type eq "work"]`. Errors are
    /// `invalidPath`.
    pub fn with_sub_attr(&self, name: &str) -> Result<ResolvedPath, ScimError> {
        if !is_attr_name(name) {
            return Err(ScimError::invalid_path(format!(
                "'{name}' is not a valid sub-attribute name of '{}'",
                self.attr
            )));
        }
        let sub_def = match self.def {
            Some(def) if def.attr_type != AttrType::Complex => {
                return Err(no_sub_attributes(def));
            }
            Some(def) => schema::find_sub_attribute(def, name),
            None => None,
        };
        Ok(ResolvedPath {
            sub_attr: Some(sub_def.map_or_else(|| name.to_owned(), |d| d.name.to_owned())),
            sub_def,
            ..self.without_sub_attr()
        })
    }
}

fn no_sub_attributes(def: &AttributeDef) -> ScimError {
    ScimError::invalid_path(format!(
        "attribute '{}' is of type {} and has no sub-attributes",
        def.name,
        def.attr_type.as_str()
    ))
}

impl fmt::Display for ResolvedPath {
    /// Prints the canonical form: URN-qualified for extension attributes,
    /// plain for core and common attributes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.extension {
            write!(f, "{}:", self.urn)?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Parses and canonicalises an attribute path for resource type `kind`.
///
/// Names and URNs match case-insensitively. The core URN prefix means the
/// core schema. An unknown URN prefix selects an extension object the server
/// does not model. Errors are `invalidPath`, e.g. for a sub-attribute of a
/// simple attribute or for a path that names a whole schema.
pub fn resolve(kind: ResourceKind, raw: &str) -> Result<ResolvedPath, ScimError> {
    if schema::find_schema(kind, raw).is_some() {
        return Err(ScimError::invalid_path(format!(
            "path '{raw}' names a schema, not an attribute"
        )));
    }
    resolve_attr_path(kind, &AttrPath::parse(raw)?)
}

/// Canonicalises an already split path; see [`resolve`].
pub fn resolve_attr_path(kind: ResourceKind, path: &AttrPath) -> Result<ResolvedPath, ScimError> {
    let core = kind.core_urn();
    let (urn, extension, def) = match path.urn.as_deref() {
        None => (core.to_owned(), false, lookup(kind, None, &path.attr)),
        Some(urn) if urn.eq_ignore_ascii_case(core) => {
            (core.to_owned(), false, lookup(kind, None, &path.attr))
        }
        Some(urn) => match schema::find_schema(kind, urn) {
            Some(found) => (
                found.id.to_owned(),
                true,
                lookup(kind, Some(found.id), &path.attr),
            ),
            None => (urn.to_owned(), true, None),
        },
    };

    let resolved = ResolvedPath {
        urn,
        extension,
        attr: def.map_or_else(|| path.attr.clone(), |d| d.name.to_owned()),
        sub_attr: None,
        def,
        sub_def: None,
    };
    match &path.sub_attr {
        Some(sub) => resolved.with_sub_attr(sub),
        None => Ok(resolved),
    }
}

fn lookup(kind: ResourceKind, urn: Option<&str>, name: &str) -> Option<&'static AttributeDef> {
    schema::find_attribute(kind, urn, name).map(|(_, def)| def)
}

/// A parsed PATCH `path` (RFC 7644 §3.5.2: `attrPath / valuePath [subAttr]`).
///
/// For `name.givenName`, `attr` is the whole path including its
/// sub-attribute. For `emails[type eq "work"].value`, `attr` is `emails`,
/// `value_filter` is the filter and `sub_attr` is `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    /// The targeted attribute.
    pub attr: ResolvedPath,
    /// Filter that selects elements of a multi-valued attribute.
    pub value_filter: Option<Filter>,
    /// Canonical sub-attribute after the value filter.
    pub sub_attr: Option<String>,
}

impl PatchPath {
    /// Returns the path with the sub-attribute after a value filter moved
    /// into `attr`, so that both forms read the same way.
    pub fn target(&self) -> ResolvedPath {
        match &self.sub_attr {
            Some(sub) => self
                .attr
                .with_sub_attr(sub)
                .unwrap_or_else(|_| self.attr.clone()),
            None => self.attr.clone(),
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.value_filter {
            write!(f, "[{}]", filter.in_brackets())?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Parses a PATCH `path` for resource type `kind`.
///
/// Every error, including one inside the value filter, is `invalidPath`
/// and quotes the path.
pub fn parse_patch_path(kind: ResourceKind, raw: &str) -> Result<PatchPath, ScimError> {
    let raw = raw.trim();
    if !raw.contains('[') {
        let attr = resolve(kind, raw).map_err(|e| quote_path(raw, e))?;
        return Ok(PatchPath {
            attr,
            value_filter: None,
            sub_attr: None,
        });
    }

    let (attr, filter, sub_attr) =
        filter::parse_value_path(kind, raw).map_err(|e| quote_path(raw, e))?;

    let sub_attr = match sub_attr {
        Some(sub) => {
            let with_sub = attr.with_sub_attr(&sub).map_err(|e| quote_path(raw, e))?;
            with_sub.sub_attr
        }
        None => None,
    };
    Ok(PatchPath {
        attr,
        value_filter: Some(filter),
        sub_attr,
    })
}

fn quote_path(raw: &str, error: ScimError) -> ScimError {
    if error.scim_type == Some(ScimType::InvalidPath) && error.detail.contains(raw) {
        return error;
    }
    ScimError::invalid_path(format!("invalid path '{raw}': {}", error.detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::CompareOp;
    use crate::scim::schema::{CORE_USER, ENTERPRISE_USER};
    use serde_json::json;

    const USER: ResourceKind = ResourceKind::User;

    #[test]
    fn resolve_canonical_names() {
        let path = resolve(USER, "USERNAME").unwrap();
        assert_eq!(path.attr, "userName");
        assert_eq!(path.urn, CORE_USER);
        assert!(!path.extension);
        assert!(path.is_known());
        assert_eq!(path.to_string(), "userName");

        let path = resolve(USER, "Name.GIVENNAME").unwrap();
        assert_eq!(path.to_string(), "name.givenName");
        assert_eq!(path.sub_def.map(|d| d.name), Some("givenName"));
    }

    #[test]
    fn resolve_core_urn_prefix() {
        let path = resolve(
            USER,
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
        )
        .unwrap();
        assert_eq!(path, resolve(USER, "name.givenName").unwrap());
        let path = resolve(USER, "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName").unwrap();
        assert_eq!(path.to_string(), "userName");
    }

    #[test]
    fn resolve_extension_urn_prefix() {
        let raw = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value";
        let path = resolve(USER, raw).unwrap();
        assert!(path.extension);
        assert_eq!(path.urn, ENTERPRISE_USER);
        assert_eq!(path.attr, "manager");
        assert_eq!(path.sub_attr.as_deref(), Some("value"));
        assert_eq!(path.to_string(), raw);
    }

    #[test]
    fn resolve_unknown_attributes() {
        let path = resolve(USER, "costCode").unwrap();
        assert!(!path.extension);
        assert!(path.def.is_none());
        assert!(!path.is_known());

        let path = resolve(USER, "urn:example:custom:1.0:User:badge.color").unwrap();
        assert!(path.extension);
        assert_eq!(path.urn, "urn:example:custom:1.0:User");
        assert_eq!(path.attr, "badge");
        assert_eq!(path.sub_attr.as_deref(), Some("color"));

        let path = resolve(USER, "name.nick").unwrap();
        assert!(path.def.is_some());
        assert!(path.sub_def.is_none());
        assert!(!path.is_known());
    }

    #[test]
    fn resolve_rejects_invalid_paths() {
        let cases = [
            ("", "attribute path is empty"),
            ("a b", "invalid path 'a b': attribute paths contain no whitespace"),
            ("name.givenName.x", "invalid path 'name.givenName.x': sub-attributes cannot have sub-attributes"),
            ("foo:bar", "invalid path 'foo:bar': only a 'urn:' schema prefix may contain ':'"),
            ("1abc", "invalid path '1abc': '1abc' is not a valid attribute name"),
            ("urn:x:", "invalid path 'urn:x:': '' is not a valid attribute name"),
            ("userName.first", "attribute 'userName' is of type string and has no sub-attributes"),
            (
                ENTERPRISE_USER,
                "path 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User' names a schema, not an attribute",
            ),
        ];
        for (raw, detail) in cases {
            let err = resolve(USER, raw).unwrap_err();
            assert_eq!(err.detail, detail, "path {raw:?}");
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
        }
    }

    #[test]
    fn attr_path_splits_at_last_colon() {
        let path = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .unwrap();
        assert_eq!(path.urn.as_deref(), Some(ENTERPRISE_USER));
        assert_eq!(path.attr, "department");
        assert_eq!(path.sub_attr, None);
        assert_eq!(path.to_string(), format!("{ENTERPRISE_USER}:department"));
        let reference = AttrPath::parse("members.$ref").unwrap();
        assert_eq!(reference.sub_attr.as_deref(), Some("$ref"));
    }

    #[test]
    fn patch_path_plain_forms() {
        let path = parse_patch_path(USER, "name.givenName").unwrap();
        assert_eq!(path.attr.to_string(), "name.givenName");
        assert_eq!(path.value_filter, None);
        assert_eq!(path.sub_attr, None);

        let raw = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
        let path = parse_patch_path(USER, raw).unwrap();
        assert_eq!(path.attr.attr, "department");
        assert!(path.attr.extension);

        let path = parse_patch_path(
            USER,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            path.target().to_string(),
            format!("{ENTERPRISE_USER}:manager.value")
        );
    }

    #[test]
    fn patch_path_value_filters() {
        let path = parse_patch_path(USER, r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(path.attr.to_string(), "emails");
        assert_eq!(path.sub_attr.as_deref(), Some("value"));
        let Some(Filter::Compare {
            path: inner,
            op,
            value,
        }) = &path.value_filter
        else {
            panic!("expected a comparison filter, got {:?}", path.value_filter);
        };
        assert_eq!(inner.to_string(), "emails.type");
        assert_eq!(*op, CompareOp::Eq);
        assert_eq!(value, &json!("work"));
        assert_eq!(path.to_string(), r#"emails[type eq "work"].value"#);
        assert_eq!(path.target().to_string(), "emails.value");

        let path = parse_patch_path(USER, r#"ADDRESSES[Type EQ "work"].STREETADDRESS"#).unwrap();
        assert_eq!(
            path.to_string(),
            r#"addresses[type eq "work"].streetAddress"#
        );

        let group =
            parse_patch_path(ResourceKind::Group, r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(group.to_string(), r#"members[value eq "2819c223"]"#);
        assert_eq!(group.sub_attr, None);
    }

    #[test]
    fn patch_path_errors_are_invalid_path() {
        let cases = [
            (r#"emails[type eq "work""#, "invalid path 'emails[type eq \"work\"': expected ']' at position 21 to close the '[' at position 6, got the end of the filter"),
            (r#"emails[foo eq "x"]"#, "invalid path 'emails[foo eq \"x\"]': unknown attribute 'emails.foo' in filter at position 7"),
            (r#"emails[type eq "work"].value.x"#, "invalid path 'emails[type eq \"work\"].value.x': 'value.x' is not a valid sub-attribute name of 'emails'"),
            (r#"emails[type eq "work"] extra"#, "invalid path 'emails[type eq \"work\"] extra': expected 'and', 'or' or the end of the filter at position 23, got 'extra'"),
            ("name.", "invalid path 'name.': '' is not a valid sub-attribute name"),
            ("name..x", "invalid path 'name..x': sub-attributes cannot have sub-attributes"),
        ];
        for (raw, detail) in cases {
            let err = parse_patch_path(USER, raw).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "path {raw}");
            assert_eq!(err.detail, detail, "path {raw}");
        }
    }
}
