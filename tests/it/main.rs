//! Integration tests: the real app on port 0 against a fresh database each.

// The tests begin transactions of their own to set up and to hold locks, never abandoned half-way;
// only the app's must begin through `db::begin` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod auth_routes;
mod bounds;
mod config_errors;
mod faults;
mod health;
mod helpers;
mod members;
mod observability;
mod page_reads;
mod reconcile;
mod replicas;
mod rest_api;
mod retention;
mod rls;
mod schema;
mod scope;
mod select_org;
mod sign_in_flow;
mod startup;
mod statement_scope;
mod webhooks;
mod workspace;
