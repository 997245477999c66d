//! Rampart's HTTP surface: the [`axum::Router`]s that `rampart serve` and the Lambda
//! functions run unchanged.
//!
//! - [`rest`]: the REST API over any [`rampart_store::Store`] (reads, domain registration,
//!   hosted MTA-STS policies, the public TLS report upload).
//! - [`document`]: its OpenAPI 3.1 document, generated from the handlers and the types they
//!   answer with, served at `/openapi.json`.
//! - [`policy_host`]: the MTA-STS policy host (`/.well-known/mta-sts.txt`).
//! - [`ui`]: the dashboard's files at `/ui/`.
//! - [`edge`]: what bounds every request: the request timeout, the token, admin callers.
//!
//! Handlers translate HTTP only: the work is done by [`rampart_query`], [`rampart_ingest`]
//! and [`rampart_mta_sts`]. Nothing here knows about Lambda; the function crates adapt
//! their events to these Routers.

pub mod document;
pub mod edge;
pub mod policy_host;
pub mod rest;
pub mod ui;
