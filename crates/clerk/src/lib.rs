//! Clerk's backend protocol in Rust, deciding what the official `@clerk/backend` SDK decides.
//!
//! No web framework or database in here (the `axum` feature adds a middleware and extractors).
//! The request path: [`keys`] → [`jwks`] key material → [`verify`] a session token → [`claims`]
//! into an [`Auth`] → [`request::Clerk::authenticate_request`] runs the decision table, handshake
//! included; [`verify_token`] is the SDK's `verifyToken` for services (template tokens too).
//! [`bapi`] is the Backend API client, [`webhooks`] verifies svix-signed events.

pub mod auth_object;
pub mod bapi;
pub mod budget;
pub mod categories;
pub mod claims;
pub mod jwks;
pub mod keys;
pub mod mint;
pub mod orgsync;
pub mod request;
pub mod service_token;
pub mod signatures;
pub mod verify;
pub mod webhooks;

#[cfg(feature = "axum")]
pub mod axum;

pub use auth_object::AuthObject;
pub use bapi::BackendApi;
pub use budget::{HandshakeNoncePolicy, TokenBucket};
pub use claims::{ActiveOrg, Auth};
pub use jwks::{JwksCache, JwksPolicy, KeySource};
pub use keys::{InstanceType, PublishableKey, SecretKey};
pub use orgsync::OrganizationSync;
pub use request::{AuthStatus, Clerk, ClerkOptions, RequestState, Satellite};
pub use service_token::{verify_token, verify_token_cached, TokenKind, VerifiedToken};
pub use signatures::VerifiedSignatures;
pub use verify::{TokenError, TokenErrorReason, VerifyOptions};
pub use webhooks::{WebhookError, WebhookEvent, WebhookVerifier};
