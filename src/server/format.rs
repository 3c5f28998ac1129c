//! How times leave the server: RFC 3339 text (what the browser's `<time>` and JSON clients read).

use time::format_description::well_known::Rfc3339;

/// `2026-11-29T20:31:07.123456Z`-style text; empty if the time cannot be formatted (year > 9999).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
