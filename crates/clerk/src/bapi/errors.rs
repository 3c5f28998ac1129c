//! Clerk's error bodies and the client's error type (every error names its endpoint).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::endpoints::{Endpoint, Retry};

/// One entry of Clerk's `{"errors":[…]}` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClerkErrorEntry {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub long_message: Option<String>,
    #[serde(default)]
    pub meta: Option<Value>,
}

/// Clerk's error body shape (`ClerkErrors` in the spec), also what the emulator answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ClerkErrors {
    pub errors: Vec<ClerkErrorEntry>,
    #[serde(default)]
    pub meta: Option<Value>,
    #[serde(default)]
    pub clerk_trace_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{endpoint}: Clerk Backend API answered {status}: {}", first_code(.body))]
    Clerk { endpoint: &'static Endpoint, status: u16, body: ClerkErrors, retry_after: Option<u64> },
    #[error("{endpoint}: Clerk Backend API unreachable: {source}")]
    Transport {
        endpoint: &'static Endpoint,
        #[source]
        source: reqwest::Error,
    },
    /// Clerk answered, but not in a shape this client understands (a changed or unknown API).
    #[error("{endpoint}: Clerk Backend API answered {status} with a body this client does not understand: {detail}")]
    Unexpected { endpoint: &'static Endpoint, status: u16, detail: String },
    /// An id that cannot be one path segment (empty, `.` or `..`): refused before any call.
    #[error("{endpoint}: {value:?} is not a valid id")]
    InvalidId { endpoint: &'static Endpoint, value: String },
}

fn first_code(b: &ClerkErrors) -> String {
    b.errors.first().map(|e| e.code.clone()).unwrap_or_else(|| "unknown".into())
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Clerk { status, .. } | ApiError::Unexpected { status, .. } => Some(*status),
            ApiError::Transport { source, .. } => source.status().map(|s| s.as_u16()),
            ApiError::InvalidId { .. } => None,
        }
    }
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Clerk { body, .. } => body.errors.first().map(|e| e.code.as_str()),
            _ => None,
        }
    }
    /// Clerk itself said the resource does not exist: a 404 with Clerk's error body. A 404
    /// without it (a proxy, a wrong base URL) is not Clerk's word, and neither is any other failure.
    pub fn is_clerk_not_found(&self) -> bool {
        matches!(self, ApiError::Clerk { status: 404, .. })
    }
    /// The endpoint that failed.
    pub fn endpoint(&self) -> &'static Endpoint {
        match self {
            ApiError::Clerk { endpoint, .. }
            | ApiError::Transport { endpoint, .. }
            | ApiError::Unexpected { endpoint, .. }
            | ApiError::InvalidId { endpoint, .. } => endpoint,
        }
    }
    /// Seconds Clerk asked us to wait (429).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Clerk { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
    pub(super) fn retryable(&self, retry: Retry) -> bool {
        match (retry, self.status()) {
            (Retry::Never, _) => false,
            (_, Some(429)) => matches!(self, ApiError::Clerk { .. } | ApiError::Unexpected { .. }),
            (Retry::Idempotent, Some(s)) => (500..600).contains(&s),
            _ => false,
        }
    }
}
