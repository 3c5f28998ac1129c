//! Types shared by the server and the hydrated client (server function payloads).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub created_by: String,
    /// RFC 3339.
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub project_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgChoice {
    pub id: String,
    pub name: String,
    pub slug: Option<String>,
    pub role: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub org_id: String,
    pub org_name: String,
    pub role: String,
    pub can_manage: bool,
    pub is_admin: bool,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub active_projects: i64,
    pub archived_projects: i64,
    pub recent: Vec<AuditEntry>,
}

/// Name rules, checked on both sides (the database has the same CHECK for projects).
pub fn validate_project_name(name: &str) -> Result<String, String> {
    bounded_name(name, "A project needs a name.", "Project names are at most 80 characters.")
}

/// Why an organization action came back to `/select-org`. Only these codes travel in the URL, so
/// a crafted link cannot put its own words on the page.
pub fn select_org_error_text(code: &str) -> &'static str {
    match code {
        "choose" => "Choose an organization.",
        "name_missing" => "An organization needs a name.",
        "name_too_long" => "Organization names are at most 80 characters.",
        "rate_limited" => {
            "You have created several organizations in the last hour; please wait a few minutes before creating another."
        }
        "refused" => "Clerk refused to create the organization.",
        "unavailable" => "Clerk is unavailable; please try again.",
        _ => "Something went wrong; please try again.",
    }
}

pub fn validate_organization_name(name: &str) -> Result<String, String> {
    bounded_name(name, "An organization needs a name.", "Organization names are at most 80 characters.")
}

fn bounded_name(name: &str, empty: &str, too_long: &str) -> Result<String, String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(empty.into());
    }
    if n.chars().count() > 80 {
        return Err(too_long.into());
    }
    Ok(n.to_string())
}

pub fn validate_description(d: &str) -> Result<String, String> {
    if d.chars().count() > 2000 {
        return Err("Descriptions are at most 2000 characters.".into());
    }
    Ok(d.trim().to_string())
}
