//! Static scripts the server itself serves (not cargo-leptos's `/pkg`): their URL carries a hash
//! of their content, so they are cached for a year and never revalidated.

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;

use crate::app::SESSION_KEEPER_JS;

/// `GET /assets/session-keeper.<hash>.js`.
pub async fn session_keeper() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        SESSION_KEEPER_JS,
    )
}

/// `GET /assets/favicon.svg`: the icon every page links (without it, browsers ask for
/// `/favicon.ico` and log a 404). Not content-hashed, so cached for a day.
pub async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        include_str!("../../../assets/favicon.svg"),
    )
}
