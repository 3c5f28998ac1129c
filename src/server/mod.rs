//! Server side of the request path (ssr only), in its order:
//!
//! `config` → `startup` (one path shared by `main` and tests; `state` is what handlers share)
//! → `auth` (Clerk layer, route gate, CSRF) → `routes` (health, API, sign-in/out, select-org,
//! webhook) and the Leptos pages, whose server functions reach the server through `server_fns`
//! → `tenant` (the only way to tenant data) → `projects`, `audit`, `workspace`, `members`
//! (organization administration through the Backend API), `users`,
//! `mirror` (Clerk's webhooks), `reconcile` (`tenantry sync`) → `db` → Postgres.
//! `error` is the HTTP boundary's error type; `cli` the `tenantry` command.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod format;
pub mod limits;
pub mod members;
pub mod mirror;
pub mod observability;
pub mod projects;
pub mod reconcile;
pub mod redirects;
pub mod retention;
pub mod routes;
pub mod security;
pub mod server_fns;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tenant;
pub mod users;
pub mod workspace;
