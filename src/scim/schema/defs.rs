//! Static attribute definitions, transcribed from the schema representations
//! in RFC 7643 §8.7.1 (User, Group) and §8.7.2 (Enterprise User), plus the
//! common attributes of RFC 7643 §3.1.

use super::AttrType::{Binary, Boolean, Complex, DateTime, Reference, String};
use super::Mutability::{Immutable, ReadOnly, WriteOnly};
use super::{AttributeDef as A, Returned, Schema, Uniqueness};

const META_SUBS: &[A] = &[
    A::new(
        "resourceType",
        String,
        "Name of the resource type of the resource.",
    )
    .case_exact()
    .mutability(ReadOnly),
    A::new(
        "created",
        DateTime,
        "Time the resource was added to the service provider.",
    )
    .mutability(ReadOnly),
    A::new(
        "lastModified",
        DateTime,
        "Time the resource was last updated.",
    )
    .mutability(ReadOnly),
    A::new("location", Reference, "URI of the resource.")
        .case_exact()
        .mutability(ReadOnly)
        .references(&["uri"]),
    A::new(
        "version",
        String,
        "Entity tag (ETag) of the resource version.",
    )
    .case_exact()
    .mutability(ReadOnly),
];

/// Attributes shared by every resource type.
pub(super) const COMMON: &[A] = &[
    A::new("id", String, "Server-assigned identifier of the resource.")
        .case_exact()
        .mutability(ReadOnly)
        .returned(Returned::Always)
        .uniqueness(Uniqueness::Server),
    A::new(
        "externalId",
        String,
        "Identifier of the resource in the provisioning client.",
    )
    .case_exact(),
    A::new(
        "meta",
        Complex,
        "Resource metadata maintained by the server.",
    )
    .mutability(ReadOnly)
    .subs(META_SUBS),
];

const NAME_SUBS: &[A] = &[
    A::new(
        "formatted",
        String,
        "Full name for display, including titles and suffixes.",
    ),
    A::new(
        "familyName",
        String,
        "Family name, or last name in most Western languages.",
    ),
    A::new(
        "givenName",
        String,
        "Given name, or first name in most Western languages.",
    ),
    A::new("middleName", String, "Middle name or names."),
    A::new(
        "honorificPrefix",
        String,
        "Title or salutation before the name, e.g. 'Ms.'.",
    ),
    A::new(
        "honorificSuffix",
        String,
        "Suffix after the name, e.g. 'III'.",
    ),
];

const PRIMARY: A = A::new("primary", Boolean, "Whether this is the preferred value.");
const DISPLAY: A = A::new("display", String, "Label for display purposes.");

const EMAIL_SUBS: &[A] = &[
    A::new(
        "value",
        String,
        "Email address, canonicalized per RFC 5321.",
    ),
    DISPLAY,
    A::new("type", String, "Kind of email address.").canonical(&["work", "home", "other"]),
    PRIMARY,
];

const PHONE_SUBS: &[A] = &[
    A::new(
        "value",
        String,
        "Phone number, preferably in RFC 3966 form.",
    ),
    DISPLAY,
    A::new("type", String, "Kind of phone number.")
        .canonical(&["work", "home", "mobile", "fax", "pager", "other"]),
    PRIMARY,
];

const IM_SUBS: &[A] = &[
    A::new("value", String, "Instant messaging address."),
    DISPLAY,
    A::new("type", String, "Instant messaging service.")
        .canonical(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    PRIMARY,
];

const PHOTO_SUBS: &[A] = &[
    A::new("value", Reference, "URL of an image of the user.")
        .case_exact()
        .references(&["external"]),
    DISPLAY,
    A::new("type", String, "Kind of image.").canonical(&["photo", "thumbnail"]),
    PRIMARY,
];

const ADDRESS_SUBS: &[A] = &[
    A::new(
        "formatted",
        String,
        "Full mailing address formatted for display.",
    ),
    A::new(
        "streetAddress",
        String,
        "Street address, possibly over several lines.",
    ),
    A::new("locality", String, "City or locality."),
    A::new("region", String, "State or region."),
    A::new("postalCode", String, "Zip code or postal code."),
    A::new(
        "country",
        String,
        "Country name, as an ISO 3166-1 alpha-2 code.",
    ),
    A::new("type", String, "Kind of address.").canonical(&["work", "home", "other"]),
    PRIMARY,
];

const USER_GROUP_SUBS: &[A] = &[
    A::new("value", String, "Identifier of the group.").mutability(ReadOnly),
    A::new("$ref", Reference, "URI of the group resource.")
        .case_exact()
        .mutability(ReadOnly)
        .references(&["User", "Group"]),
    A::new("display", String, "Display name of the group.").mutability(ReadOnly),
    A::new(
        "type",
        String,
        "Whether membership is direct or through another group.",
    )
    .mutability(ReadOnly)
    .canonical(&["direct", "indirect"]),
];

const PLAIN_MULTI_SUBS: &[A] = &[
    A::new("value", String, "The value."),
    DISPLAY,
    A::new("type", String, "Label for the value's function."),
    PRIMARY,
];

const CERTIFICATE_SUBS: &[A] = &[
    A::new(
        "value",
        Binary,
        "DER-encoded X.509 certificate, base64-encoded.",
    ),
    DISPLAY,
    A::new("type", String, "Label for the certificate's function."),
    PRIMARY,
];

const USER_ATTRIBUTES: &[A] = &[
    A::new(
        "userName",
        String,
        "Unique identifier the user signs in with.",
    )
    .required()
    .uniqueness(Uniqueness::Server),
    A::new("name", Complex, "Components of the user's real name.").subs(NAME_SUBS),
    A::new(
        "displayName",
        String,
        "Name of the user for display to end users.",
    ),
    A::new("nickName", String, "Casual name of the user."),
    A::new("profileUrl", Reference, "URL of the user's online profile.").references(&["external"]),
    A::new("title", String, "Job title, e.g. 'Vice President'."),
    A::new(
        "userType",
        String,
        "Relationship to the organization, e.g. 'Employee'.",
    ),
    A::new(
        "preferredLanguage",
        String,
        "Preferred written or spoken language, e.g. 'en-US'.",
    ),
    A::new(
        "locale",
        String,
        "Default location for localizing values, e.g. 'en-US'.",
    ),
    A::new(
        "timezone",
        String,
        "Time zone in IANA form, e.g. 'America/Los_Angeles'.",
    ),
    A::new("active", Boolean, "Whether the user may sign in."),
    A::new(
        "password",
        String,
        "Clear-text password, accepted on write and never returned.",
    )
    .mutability(WriteOnly)
    .returned(Returned::Never),
    A::new("emails", Complex, "Email addresses of the user.")
        .multi()
        .subs(EMAIL_SUBS),
    A::new("phoneNumbers", Complex, "Phone numbers of the user.")
        .multi()
        .subs(PHONE_SUBS),
    A::new("ims", Complex, "Instant messaging addresses of the user.")
        .multi()
        .subs(IM_SUBS),
    A::new("photos", Complex, "URLs of images of the user.")
        .multi()
        .subs(PHOTO_SUBS),
    A::new(
        "addresses",
        Complex,
        "Physical mailing addresses of the user.",
    )
    .multi()
    .subs(ADDRESS_SUBS),
    A::new(
        "groups",
        Complex,
        "Groups the user belongs to, maintained by the server.",
    )
    .multi()
    .mutability(ReadOnly)
    .subs(USER_GROUP_SUBS),
    A::new("entitlements", Complex, "Entitlements of the user.")
        .multi()
        .subs(PLAIN_MULTI_SUBS),
    A::new("roles", Complex, "Roles of the user.")
        .multi()
        .subs(PLAIN_MULTI_SUBS),
    A::new(
        "x509Certificates",
        Complex,
        "X.509 certificates of the user.",
    )
    .multi()
    .subs(CERTIFICATE_SUBS),
];

/// Core User schema.
pub(super) static USER: Schema = Schema {
    id: super::CORE_USER,
    name: "User",
    description: "User account",
    attributes: USER_ATTRIBUTES,
};

const MEMBER_SUBS: &[A] = &[
    A::new("value", String, "Identifier of the member resource.")
        .case_exact()
        .mutability(Immutable),
    A::new("$ref", Reference, "URI of the member resource.")
        .case_exact()
        .mutability(Immutable)
        .references(&["User", "Group"]),
    // Not in the RFC 7643 §8.7.1 Group schema, but identity providers send
    // it; it is stored with the membership and returned as sent.
    A::new("display", String, "Display name of the member.").mutability(Immutable),
    A::new("type", String, "Resource type of the member.")
        .mutability(Immutable)
        .canonical(&["User", "Group"]),
];

const GROUP_ATTRIBUTES: &[A] = &[
    A::new(
        "displayName",
        String,
        "Name of the group for display to end users.",
    )
    .required(),
    A::new(
        "members",
        Complex,
        "Users and groups that belong to the group.",
    )
    .multi()
    .subs(MEMBER_SUBS),
];

/// Core Group schema.
pub(super) static GROUP: Schema = Schema {
    id: super::CORE_GROUP,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

const MANAGER_SUBS: &[A] = &[
    A::new(
        "value",
        String,
        "Identifier of the manager's User resource.",
    )
    .case_exact(),
    A::new("$ref", Reference, "URI of the manager's User resource.")
        .case_exact()
        .references(&["User"]),
    A::new(
        "displayName",
        String,
        "Display name of the manager, set by the server.",
    )
    .mutability(ReadOnly),
];

const ENTERPRISE_ATTRIBUTES: &[A] = &[
    A::new(
        "employeeNumber",
        String,
        "Identifier assigned by the organization.",
    ),
    A::new("costCenter", String, "Name of a cost center."),
    A::new("organization", String, "Name of an organization."),
    A::new("division", String, "Name of a division."),
    A::new("department", String, "Name of a department."),
    A::new("manager", Complex, "The user's manager.").subs(MANAGER_SUBS),
];

/// Enterprise User extension schema.
pub(super) static ENTERPRISE: Schema = Schema {
    id: super::ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};
