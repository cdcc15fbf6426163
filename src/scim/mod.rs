//! SCIM 2.0 protocol core: schemas, attribute paths, filters, PATCH and
//! resource normalisation (RFC 7643 and RFC 7644).
//!
//! This module performs no I/O. It turns client JSON into validated,
//! canonical JSON and typed values that the storage and HTTP layers consume.
//! Every request body and filter string reaches it unchecked, so it is
//! written not to panic on any input, and property tests feed it arbitrary
//! filters and JSON to check that.

pub mod bulk;
pub mod cursor;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod render;
pub mod resource;
pub mod schema;
