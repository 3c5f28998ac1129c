//! Integration tests: the real app on port 0 against a fresh database each.

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
mod sign_in_flow;
mod startup;
mod webhooks;
mod workspace;
