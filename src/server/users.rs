//! Users as mirrored from Clerk's webhooks.

use serde::Serialize;
use sqlx::PgPool;

/// A user's mirrored row (`GET /api/profile`), camelCase JSON, times RFC 3339.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub id: uuid::Uuid,
    pub clerk_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub image_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
}

/// `None` until the `user.created` webhook has arrived (or after `user.deleted`).
pub async fn profile(pool: &PgPool, clerk_id: &str) -> Result<Option<Profile>, sqlx::Error> {
    sqlx::query_as!(
        Profile,
        "SELECT id, clerk_id, email, name, image_url, created_at, updated_at FROM users WHERE clerk_id = $1 AND deleted_at IS NULL",
        clerk_id
    )
    .fetch_optional(pool)
    .await
}
