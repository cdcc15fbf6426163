//! scimgate: a SCIM 2.0 service provider that stores what identity providers
//! push (users, groups, memberships) and records every change.
//!
//! The crate is layered so that each layer can be read and tested alone:
//!
//! - [`scim`]: the protocol (schemas, filters, PATCH, projection, errors),
//!   pure Rust with no I/O.
//! - [`store`]: one storage trait and its SQLite and PostgreSQL
//!   implementations.
//! - [`http`]: the axum router, extractors, error rendering and SCIM handlers.
//! - [`api`] and [`admin`]: the application API (REST reads and the change
//!   feed) and the admin API (webhook endpoints), nested into that router.
//! - [`view`], [`feed`], [`webhook`] and [`jwt`]: backend-independent
//!   resource shapes, change events, webhook delivery and JWT validation.
//! - [`app`]: start-up and graceful shutdown, callable from tests.
//! - [`cli`] and [`config`]: the `scimgate` command and its settings.

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod feed;
pub mod http;
pub mod jwt;
pub mod scim;
pub mod store;
pub mod telemetry;
pub mod view;
pub mod webhook;
