//! Server side of the request path (ssr only).
//!
//! `config` → `startup` (one path shared by `main` and tests) → `auth` (Clerk layer + route
//! gate) → `routes` (health, API, sign-in/out) and Leptos pages → `db` (pool, role checks,
//! migrations) → Postgres.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod mirror;
pub mod projects;
pub mod reconcile;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod tenant;
