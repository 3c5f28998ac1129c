//! Users as mirrored from Clerk's webhooks.

use serde::Serialize;
use sqlx::PgPool;

use super::observability::backend_call;
use super::state::AppState;
use crate::model::CurrentUser;

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

/// The signed-in user for server code (what `use_user()` shows): the mirrored row; while the
/// mirror has not caught up, Clerk's answer within the request budget and wait; failing both,
/// the id alone (a header still renders).
///
/// `mirrored` is the user's mirrored row when the caller read it already (with other data, in
/// one statement); `None` means the mirror has none.
pub async fn current_user(st: &AppState, user_id: &str, mirrored: Option<CurrentUser>) -> CurrentUser {
    if let Some(user) = mirrored {
        return user;
    }
    let from_clerk = match (st.clerk.api(), st.backend_api_budget.spend("current-user", user_id)) {
        (Some(api), Ok(())) => backend_call("get_user", api.get_user(user_id)).await.and_then(Result::ok),
        _ => None,
    };
    match from_clerk {
        Some(u) => CurrentUser {
            id: u.id.clone(),
            name: u.display_name(),
            email: u.primary_email().map(str::to_string),
            image_url: u.image_url.clone(),
        },
        None => CurrentUser { id: user_id.to_string(), name: None, email: None, image_url: None },
    }
}
