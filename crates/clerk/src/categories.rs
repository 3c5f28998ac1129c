//! JWT header categories (`cat`) of Clerk's tokens (protocol §3.1), as in the SDK's
//! `packages/backend/src/tokens/jwtCategories.ts`. Their own module so `verify` (which rejects
//! machine categories) and `claims` (which reads verified claims) share them without importing
//! each other.

/// Session tokens.
pub const CAT_SESSION: &str = "cl_B7d4PD111AAA";
/// JWT-template tokens: validly signed by the instance, never a session.
pub const CAT_TEMPLATE: &str = "cl_B7d4PD222AAA";
/// Machine-to-machine tokens.
pub const CAT_M2M: &str = "cl_B7d4PD333AAA";
/// The "ignore" tag: treated as a session token.
pub const CAT_IGNORE: &str = "cl_I7d4PD111III";
