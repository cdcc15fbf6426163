//! Attribute definitions of the User, Group and Enterprise User schemas
//! (RFC 7643 §4 and §7), lookups by name, and the `/Schemas` documents.
//!
//! The definitions are static data. The common attributes `id`,
//! `externalId` and `meta` (RFC 7643 §3.1) belong to every resource type
//! rather than to a schema, so the `/Schemas` documents omit them, but the
//! lookups resolve them as part of the core schema.

use serde_json::{json, Map, Value};

mod defs;

/// Core User schema URN.
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension schema URN.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// List response message URN.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Error response message URN.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// PATCH request message URN.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `POST /.search` request message URN.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// URN of the `/Schemas` resources themselves.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// URN of the `/ResourceTypes` resources.
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// A SCIM resource type that this server stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    /// `/Users` resources.
    User,
    /// `/Groups` resources.
    Group,
}

impl ResourceKind {
    /// Returns the URN of the core schema of this resource type.
    pub fn core_urn(self) -> &'static str {
        match self {
            ResourceKind::User => CORE_USER,
            ResourceKind::Group => CORE_GROUP,
        }
    }

    /// Returns the resource type name used in `meta.resourceType`.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// Returns the endpoint path relative to the base URL.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }
}

/// SCIM data type of an attribute (RFC 7643 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    /// Unicode string.
    String,
    /// `true` or `false`.
    Boolean,
    /// Real number.
    Decimal,
    /// Whole number.
    Integer,
    /// RFC 3339 timestamp string.
    DateTime,
    /// URI string.
    Reference,
    /// Object of sub-attributes.
    Complex,
    /// Base64-encoded string.
    Binary,
}

impl AttrType {
    /// Returns the name used in schema documents, e.g. `dateTime`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
            AttrType::Binary => "binary",
        }
    }
}

/// Whether and when a client may write an attribute (RFC 7643 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the server only.
    ReadOnly,
    /// Writable at any time.
    ReadWrite,
    /// Writable once, when the resource or element is created.
    Immutable,
    /// Writable but never returned, e.g. `password`.
    WriteOnly,
}

impl Mutability {
    /// Returns the name used in schema documents, e.g. `readOnly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// When the server returns an attribute in responses (RFC 7643 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    /// In every response, even when `attributes` excludes it.
    Always,
    /// In no response.
    Never,
    /// Unless `attributes` or `excludedAttributes` excludes it.
    Default,
    /// Only when `attributes` names it.
    Request,
}

impl Returned {
    /// Returns the name used in schema documents, e.g. `default`.
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// Scope in which the server keeps an attribute's values unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uniqueness {
    /// No uniqueness requirement.
    None,
    /// Unique among the resources of this server.
    Server,
    /// Globally unique.
    Global,
}

impl Uniqueness {
    /// Returns the name used in schema documents, e.g. `server`.
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// Definition of one attribute or sub-attribute (RFC 7643 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributeDef {
    /// Canonical attribute name, e.g. `userName`.
    pub name: &'static str,
    /// Data type.
    pub attr_type: AttrType,
    /// Whether the value is a JSON array of values.
    pub multi_valued: bool,
    /// Whether a resource must carry the attribute.
    pub required: bool,
    /// Whether string comparisons are case-sensitive.
    pub case_exact: bool,
    /// Write rules.
    pub mutability: Mutability,
    /// Response rules.
    pub returned: Returned,
    /// Uniqueness scope.
    pub uniqueness: Uniqueness,
    /// Suggested values, e.g. `work` and `home` for `emails.type`.
    pub canonical_values: &'static [&'static str],
    /// Resource types a reference may point to, e.g. `User` or `external`.
    pub reference_types: &'static [&'static str],
    /// Sub-attributes of a complex attribute, empty for other types.
    pub sub_attributes: &'static [AttributeDef],
    /// Human-readable description for the schema document.
    pub description: &'static str,
}

impl AttributeDef {
    /// Single-valued, optional, case-insensitive, readWrite, returned by
    /// default: the RFC 7643 §2.2 defaults.
    const fn new(name: &'static str, attr_type: AttrType, description: &'static str) -> Self {
        AttributeDef {
            name,
            attr_type,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
            description,
        }
    }

    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    const fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    const fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }

    const fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }

    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    const fn references(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    const fn subs(mut self, sub_attributes: &'static [AttributeDef]) -> Self {
        self.sub_attributes = sub_attributes;
        self
    }

    /// Returns true when a client may never write this attribute.
    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }
}

/// A schema: an identifying URN plus its attribute definitions.
#[derive(Debug, PartialEq, Eq)]
pub struct Schema {
    /// Schema URN.
    pub id: &'static str,
    /// Short name, e.g. `User`.
    pub name: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// Top-level attributes, without the common attributes.
    pub attributes: &'static [AttributeDef],
}

static USER_SCHEMAS: [&Schema; 2] = [&defs::USER, &defs::ENTERPRISE];
static GROUP_SCHEMAS: [&Schema; 1] = [&defs::GROUP];

/// Returns the schemas of a resource type, core schema first, then its
/// extensions.
pub fn schemas_for(kind: ResourceKind) -> &'static [&'static Schema] {
    match kind {
        ResourceKind::User => &USER_SCHEMAS,
        ResourceKind::Group => &GROUP_SCHEMAS,
    }
}

/// Returns the common attributes `id`, `externalId` and `meta`.
pub fn common_attributes() -> &'static [AttributeDef] {
    defs::COMMON
}

/// Finds a schema of `kind` by URN, ignoring ASCII case.
pub fn find_schema(kind: ResourceKind, urn: &str) -> Option<&'static Schema> {
    schemas_for(kind)
        .iter()
        .copied()
        .find(|schema| schema.id.eq_ignore_ascii_case(urn))
}

/// Returns true when `key` names an extension schema of `kind` (ignoring
/// ASCII case), i.e. a key whose value is an extension object.
pub fn is_extension_urn(kind: ResourceKind, key: &str) -> bool {
    find_schema(kind, key).is_some_and(|schema| schema.id != kind.core_urn())
}

/// Finds a top-level attribute by name, ignoring ASCII case in both the URN
/// and the name.
///
/// Without a URN, and with the core URN, the search covers the core schema
/// and the common attributes. With an extension URN it covers that
/// extension only. An unknown URN finds nothing.
pub fn find_attribute(
    kind: ResourceKind,
    urn: Option<&str>,
    name: &str,
) -> Option<(&'static Schema, &'static AttributeDef)> {
    let schemas = schemas_for(kind);
    let schema = match urn {
        None => schemas.first().copied()?,
        Some(urn) => find_schema(kind, urn)?,
    };
    let by_name = |attr: &&AttributeDef| attr.name.eq_ignore_ascii_case(name);

    if let Some(attr) = schema.attributes.iter().find(by_name) {
        return Some((schema, attr));
    }
    if schema.id == kind.core_urn() {
        return defs::COMMON.iter().find(by_name).map(|attr| (schema, attr));
    }
    None
}

/// Finds a sub-attribute of a complex attribute by name, ignoring ASCII case.
pub fn find_sub_attribute(attr: &AttributeDef, name: &str) -> Option<&'static AttributeDef> {
    let subs: &'static [AttributeDef] = attr.sub_attributes;
    subs.iter().find(|sub| sub.name.eq_ignore_ascii_case(name))
}

fn attribute_document(attr: &AttributeDef) -> Value {
    let mut doc = Map::new();
    doc.insert("name".into(), json!(attr.name));
    doc.insert("type".into(), json!(attr.attr_type.as_str()));
    doc.insert("multiValued".into(), json!(attr.multi_valued));
    doc.insert("description".into(), json!(attr.description));
    doc.insert("required".into(), json!(attr.required));
    if !attr.canonical_values.is_empty() {
        doc.insert("canonicalValues".into(), json!(attr.canonical_values));
    }
    doc.insert("caseExact".into(), json!(attr.case_exact));
    doc.insert("mutability".into(), json!(attr.mutability.as_str()));
    doc.insert("returned".into(), json!(attr.returned.as_str()));
    doc.insert("uniqueness".into(), json!(attr.uniqueness.as_str()));
    if attr.attr_type == AttrType::Reference {
        doc.insert("referenceTypes".into(), json!(attr.reference_types));
    }
    if attr.attr_type == AttrType::Complex {
        let subs: Vec<Value> = attr.sub_attributes.iter().map(attribute_document).collect();
        doc.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(doc)
}

/// Builds the `/Schemas/{id}` resource for `schema` (RFC 7643 §7).
///
/// `base_url` is the service root without the trailing slash, e.g.
/// `https://scim.example.com/scim/v2`; a trailing slash is tolerated.
pub fn schema_document(schema: &Schema, base_url: &str) -> Value {
    let attributes: Vec<Value> = schema.attributes.iter().map(attribute_document).collect();
    let location = format!("{}/Schemas/{}", base_url.trim_end_matches('/'), schema.id);
    json!({
        "schemas": [SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": location,
        },
    })
}

/// Builds the `/ResourceTypes/{name}` resource for `kind` (RFC 7643 §6).
pub fn resource_type_document(kind: ResourceKind, base_url: &str) -> Value {
    let extensions: Vec<Value> = schemas_for(kind)
        .iter()
        .skip(1)
        .map(|schema| json!({ "schema": schema.id, "required": false }))
        .collect();
    let location = format!(
        "{}/ResourceTypes/{}",
        base_url.trim_end_matches('/'),
        kind.name()
    );
    let description = schemas_for(kind)
        .first()
        .map_or("", |schema| schema.description);
    json!({
        "schemas": [RESOURCE_TYPE],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": description,
        "schema": kind.core_urn(),
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": location,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_and_endpoints() {
        assert_eq!(ResourceKind::User.name(), "User");
        assert_eq!(ResourceKind::Group.endpoint(), "/Groups");
        assert_eq!(ResourceKind::Group.core_urn(), CORE_GROUP);
    }

    #[test]
    fn find_attribute_ignores_case() {
        let (schema, attr) = find_attribute(ResourceKind::User, None, "USERNAME").unwrap();
        assert_eq!(schema.id, CORE_USER);
        assert_eq!(attr.name, "userName");
        assert_eq!(attr.uniqueness, Uniqueness::Server);

        let urn = "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER";
        let (_, attr) = find_attribute(ResourceKind::User, Some(urn), "displayname").unwrap();
        assert_eq!(attr.name, "displayName");
    }

    #[test]
    fn find_common_attributes() {
        let (schema, id) = find_attribute(ResourceKind::Group, None, "Id").unwrap();
        assert_eq!(schema.id, CORE_GROUP);
        assert_eq!(id.returned, Returned::Always);
        assert!(id.case_exact);
        let (_, meta) = find_attribute(ResourceKind::User, Some(CORE_USER), "meta").unwrap();
        let created = find_sub_attribute(meta, "CREATED").unwrap();
        assert_eq!(created.attr_type, AttrType::DateTime);
    }

    #[test]
    fn find_extension_attribute() {
        let (schema, attr) =
            find_attribute(ResourceKind::User, Some(ENTERPRISE_USER), "Manager").unwrap();
        assert_eq!(schema.id, ENTERPRISE_USER);
        assert_eq!(attr.attr_type, AttrType::Complex);
        // Common attributes are not part of an extension.
        assert!(find_attribute(ResourceKind::User, Some(ENTERPRISE_USER), "id").is_none());
        // Groups have no enterprise extension.
        assert!(find_attribute(ResourceKind::Group, Some(ENTERPRISE_USER), "manager").is_none());
        assert!(find_attribute(ResourceKind::User, Some("urn:x:y"), "userName").is_none());
    }

    #[test]
    fn extension_urn_detection() {
        assert!(is_extension_urn(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:Enterprise:2.0:User"
        ));
        assert!(!is_extension_urn(ResourceKind::User, CORE_USER));
        assert!(!is_extension_urn(ResourceKind::Group, ENTERPRISE_USER));
    }

    #[test]
    fn user_attribute_characteristics() {
        let (_, password) = find_attribute(ResourceKind::User, None, "password").unwrap();
        assert_eq!(password.mutability, Mutability::WriteOnly);
        assert_eq!(password.returned, Returned::Never);
        let (_, groups) = find_attribute(ResourceKind::User, None, "groups").unwrap();
        assert!(groups.is_read_only());
        assert!(groups.multi_valued);
        let (_, emails) = find_attribute(ResourceKind::User, None, "emails").unwrap();
        let email_type = find_sub_attribute(emails, "type").unwrap();
        assert_eq!(email_type.canonical_values, &["work", "home", "other"]);
        let (_, active) = find_attribute(ResourceKind::User, None, "active").unwrap();
        assert_eq!(active.attr_type, AttrType::Boolean);
    }

    #[test]
    fn group_members_characteristics() {
        let (_, members) = find_attribute(ResourceKind::Group, None, "members").unwrap();
        assert!(members.multi_valued);
        let value = find_sub_attribute(members, "value").unwrap();
        assert_eq!(value.mutability, Mutability::Immutable);
        let member_type = find_sub_attribute(members, "type").unwrap();
        assert_eq!(member_type.canonical_values, &["User", "Group"]);
        let (_, display_name) = find_attribute(ResourceKind::Group, None, "displayName").unwrap();
        assert!(display_name.required);
    }

    #[test]
    fn user_schema_has_all_attributes() {
        let names: Vec<&str> = defs::USER.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "userName",
                "name",
                "displayName",
                "nickName",
                "profileUrl",
                "title",
                "userType",
                "preferredLanguage",
                "locale",
                "timezone",
                "active",
                "password",
                "emails",
                "phoneNumbers",
                "ims",
                "photos",
                "addresses",
                "groups",
                "entitlements",
                "roles",
                "x509Certificates",
            ]
        );
    }

    #[test]
    fn schema_document_shape() {
        let doc = schema_document(&defs::ENTERPRISE, "https://h/scim/v2/");
        assert_eq!(doc["id"], ENTERPRISE_USER);
        assert_eq!(doc["schemas"], json!([SCHEMA]));
        assert_eq!(
            doc["meta"]["location"],
            format!("https://h/scim/v2/Schemas/{ENTERPRISE_USER}")
        );
        assert_eq!(doc["meta"]["resourceType"], "Schema");
        let manager = &doc["attributes"][5];
        assert_eq!(manager["name"], "manager");
        assert_eq!(manager["type"], "complex");
        let manager_ref = &manager["subAttributes"][1];
        assert_eq!(manager_ref["name"], "$ref");
        assert_eq!(manager_ref["referenceTypes"], json!(["User"]));
        assert_eq!(manager["subAttributes"][2]["mutability"], "readOnly");
    }

    #[test]
    fn schema_document_characteristics() {
        let doc = schema_document(&defs::USER, "https://h");
        let user_name = &doc["attributes"][0];
        assert_eq!(
            user_name,
            &json!({
                "name": "userName",
                "type": "string",
                "multiValued": false,
                "description": user_name["description"],
                "required": true,
                "caseExact": false,
                "mutability": "readWrite",
                "returned": "default",
                "uniqueness": "server",
            })
        );
        assert!(user_name["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
        // Common attributes stay out of schema documents.
        let names: Vec<&Value> = doc["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["name"])
            .collect();
        assert!(!names.contains(&&json!("id")));
    }

    #[test]
    fn resource_type_document_shape() {
        let doc = resource_type_document(ResourceKind::User, "https://h");
        assert_eq!(doc["endpoint"], "/Users");
        assert_eq!(doc["schema"], CORE_USER);
        assert_eq!(
            doc["schemaExtensions"],
            json!([{ "schema": ENTERPRISE_USER, "required": false }])
        );
        let group = resource_type_document(ResourceKind::Group, "https://h");
        assert_eq!(group["schemaExtensions"], json!([]));
        assert_eq!(group["meta"]["location"], "https://h/ResourceTypes/Group");
    }
}
