//! Types shared by the server and the browser's islands (server function payloads).

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

/// Projects per page of the projects list (keyset pagination; a shorter page is the last).
pub const PROJECTS_PAGE_SIZE: usize = 50;

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

/// The SDK's `prefixWithOrg`: `value.replace(/^(org:)*/, "org:")`.
fn org_prefixed(value: &str) -> String {
    let mut rest = value;
    while let Some(r) = rest.strip_prefix("org:") {
        rest = r;
    }
    format!("org:{rest}")
}

impl Workspace {
    /// The active organization as the workspace shell shows it, from the page's auth snapshot
    /// (the same verified session every server function checks again: these flags only shape
    /// the page). `None` without an active organization.
    pub fn from_snapshot(s: &AuthSnapshot) -> Option<Self> {
        let org = s.organization.as_ref()?;
        let role = s.auth.org_role.clone().unwrap_or_default();
        // As Clerk's `has()` (and the server's checks) compare: `org:` prefixed on both sides.
        let is_admin = org_prefixed(&role) == "org:admin";
        Some(Self {
            org_id: org.id.clone(),
            org_name: org.name.clone(),
            can_manage: is_admin || s.auth.org_permissions.iter().any(|p| org_prefixed(p) == "org:projects:manage"),
            is_admin,
            role,
            user_id: s.auth.user_id.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub active_projects: i64,
    pub archived_projects: i64,
    /// The newest audit entries; `None` for non-admins (the audit log is admin-only everywhere).
    pub recent: Option<Vec<AuditEntry>>,
}

/// One member of the active organization (`/app/members`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: String,
    /// First and last name; empty when Clerk has none (the page then shows the email).
    pub name: String,
    pub email: String,
    /// `org:admin`, `org:member`, …
    pub role: String,
    /// RFC 3339.
    pub joined: String,
    /// The caller themself.
    pub is_self: bool,
}

/// `members/list`: everyone in the organization, and whether the caller may manage them
/// (decided from their verified session token, never from the mirror). The members page's
/// island gets `can_manage` as a prop from the same session (it must know before this loads,
/// to read the invitations beside it); JSON clients read it here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersView {
    pub members: Vec<MemberView>,
    pub can_manage: bool,
}

/// A pending organization invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: String,
    /// RFC 3339.
    pub created: String,
}

/// The organization as `/app/settings` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub id: String,
    pub name: String,
    pub slug: String,
}

/// The roles an admin can give (Clerk's default roles).
pub const ORG_ROLES: [(&str, &str); 2] = [("org:admin", "Admin"), ("org:member", "Member")];

/// `Admin` for `org:admin`; an unknown role as it is, less its `org:` prefix.
pub fn role_label(role: &str) -> String {
    ORG_ROLES
        .iter()
        .find(|(r, _)| *r == role)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| role.trim_start_matches("org:").to_string())
}

/// Clerk's organization slug rules: lowercase letters, digits and hyphens, not at either end,
/// at most 64 characters. Answers the trimmed slug.
pub fn validate_slug(slug: &str) -> Option<String> {
    let s = slug.trim();
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    ok.then(|| s.to_string())
}

/// A plausible email address (Clerk checks it properly): trimmed, lowercased, one `@` with text
/// on both sides, no spaces, at most 254 characters.
pub fn validate_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !e.chars().any(char::is_whitespace)
        && e.len() <= 254;
    ok.then_some(e)
}

/// What is wrong with a typed name or description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    Missing,
    TooLong,
    /// A control character (NUL, escape…; in descriptions, other than tab and line breaks):
    /// Postgres cannot store NUL, and the others are never meant to be shown.
    ControlCharacter,
}

/// Name rules, checked on both sides (the database has the same CHECK for projects): trimmed,
/// 1 to 80 characters.
pub fn validate_project_name(name: &str) -> Result<String, TextProblem> {
    bounded_name(name)
}

/// Why an organization action came back to `/select-org`. Only these codes travel in the URL
/// (`?error=<code>`), so a crafted link cannot put its own words on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectOrgError {
    /// No (or an unusable) organization id was posted.
    Choose,
    NameMissing,
    NameTooLong,
    /// A control character in the name.
    NameInvalid,
    /// The user's creation allowance is spent.
    RateLimited,
    /// Clerk refused the creation (4xx other than our own credentials).
    Refused,
    /// Clerk could not be reached or refused our secret key.
    Unavailable,
}

impl SelectOrgError {
    pub const ALL: [Self; 7] = [
        Self::Choose,
        Self::NameMissing,
        Self::NameTooLong,
        Self::NameInvalid,
        Self::RateLimited,
        Self::Refused,
        Self::Unavailable,
    ];

    /// The code in the URL.
    pub fn code(self) -> &'static str {
        match self {
            Self::Choose => "choose",
            Self::NameMissing => "name_missing",
            Self::NameTooLong => "name_too_long",
            Self::NameInvalid => "name_invalid",
            Self::RateLimited => "rate_limited",
            Self::Refused => "refused",
            Self::Unavailable => "unavailable",
        }
    }

    /// `None` for a code we never send: the page then shows a generic message.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Choose => "Choose an organization.",
            Self::NameMissing => "An organization needs a name.",
            Self::NameTooLong => "Organization names are at most 80 characters.",
            Self::NameInvalid => "Organization names cannot contain control characters.",
            Self::RateLimited => {
                "You have created several organizations in the last hour; please wait a few minutes before creating another."
            }
            Self::Refused => "Clerk refused to create the organization.",
            Self::Unavailable => "Clerk is unavailable; please try again.",
        }
    }

    /// The text for a code read from the URL.
    pub fn text_for_code(code: &str) -> &'static str {
        Self::from_code(code).map_or("Something went wrong; please try again.", Self::text)
    }
}

/// The same rules for organization names (Clerk accepts longer ones; we keep them readable).
pub fn validate_organization_name(name: &str) -> Result<String, TextProblem> {
    bounded_name(name)
}

fn bounded_name(name: &str) -> Result<String, TextProblem> {
    if name.chars().any(char::is_control) {
        return Err(TextProblem::ControlCharacter);
    }
    let n = name.trim();
    if n.is_empty() {
        return Err(TextProblem::Missing);
    }
    if n.chars().count() > 80 {
        return Err(TextProblem::TooLong);
    }
    Ok(n.to_string())
}

/// At most 2000 characters, trimmed.
pub fn validate_description(d: &str) -> Result<String, TextProblem> {
    if d.chars().count() > 2000 {
        return Err(TextProblem::TooLong);
    }
    if d.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(TextProblem::ControlCharacter);
    }
    Ok(d.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_is_the_snapshots_organization() {
        let snapshot = |role: &str, permissions: &[&str], org: bool| AuthSnapshot {
            auth: SessionAuth {
                user_id: "user_1".into(),
                session_id: None,
                session_status: Some("active".into()),
                org_id: org.then(|| "org_1".into()),
                org_role: org.then(|| role.into()),
                org_permissions: permissions.iter().map(|p| p.to_string()).collect(),
            },
            user: CurrentUser { id: "user_1".into(), name: None, email: None, image_url: None },
            organization: org.then(|| ActiveOrganization { id: "org_1".into(), name: "Acme".into(), slug: None }),
            account_url: String::new(),
        };
        let admin = Workspace::from_snapshot(&snapshot("org:admin", &[], true)).unwrap();
        assert_eq!((admin.org_name.as_str(), admin.is_admin, admin.can_manage), ("Acme", true, true));
        let manager = Workspace::from_snapshot(&snapshot("org:member", &["org:projects:manage"], true)).unwrap();
        assert_eq!((manager.is_admin, manager.can_manage, manager.role.as_str()), (false, true, "org:member"));
        let member = Workspace::from_snapshot(&snapshot("org:member", &["org:projects:read"], true)).unwrap();
        assert_eq!((member.is_admin, member.can_manage), (false, false));
        // v1 tokens may carry unprefixed names: compared as Clerk's has() compares them.
        let v1 = Workspace::from_snapshot(&snapshot("admin", &[], true)).unwrap();
        assert!(v1.is_admin && v1.can_manage);
        let v1 = Workspace::from_snapshot(&snapshot("member", &["projects:manage"], true)).unwrap();
        assert!(!v1.is_admin && v1.can_manage);
        assert_eq!(Workspace::from_snapshot(&snapshot("", &[], false)), None);
    }

    #[test]
    fn names_and_descriptions_refuse_control_characters() {
        assert_eq!(validate_project_name(" Apollo "), Ok("Apollo".into()));
        for bad in ["a\0b", "bell\u{7}", "esc\u{1b}[31m", "del\u{7f}", "c1\u{85}x", "line\nbreak"] {
            assert_eq!(validate_project_name(bad), Err(TextProblem::ControlCharacter), "{bad:?}");
            assert_eq!(validate_organization_name(bad), Err(TextProblem::ControlCharacter), "{bad:?}");
        }
        assert_eq!(validate_description("two\nlines\r\n\tindented"), Ok("two\nlines\r\n\tindented".into()));
        for bad in ["nul\0", "bell\u{7}", "c1\u{9b}"] {
            assert_eq!(validate_description(bad), Err(TextProblem::ControlCharacter), "{bad:?}");
        }
    }

    #[test]
    fn components_read_roles_and_names_as_clerk_does() {
        let auth = SessionAuth {
            user_id: "user_1".into(),
            session_id: None,
            session_status: Some("active".into()),
            org_id: Some("org_1".into()),
            org_role: Some("org:admin".into()),
            org_permissions: vec!["org:sys_memberships:manage".into()],
        };
        assert!(auth.has_role("admin") && auth.has_role("org:admin") && !auth.has_role("org:member"));
        assert!(auth.has_permission("sys_memberships:manage") && !auth.has_permission("org:projects:manage"));
        let user = |name: Option<&str>, email: Option<&str>| CurrentUser {
            id: "user_1".into(),
            name: name.map(Into::into),
            email: email.map(Into::into),
            image_url: None,
        };
        assert_eq!(
            (user(Some("émile Zola"), None).display_name(), user(Some("émile Zola"), None).initial().as_str()),
            ("émile Zola", "É")
        );
        assert_eq!(user(None, Some("bob@acme.test")).display_name(), "bob@acme.test");
        assert_eq!((user(Some(" "), None).display_name(), user(None, None).initial().as_str()), ("user_1", "U"));
    }

    #[test]
    fn slugs_follow_clerks_rules() {
        assert_eq!(validate_slug(" acme-2 ").as_deref(), Some("acme-2"));
        for bad in ["", "Acme", "acme corp", "-acme", "acme-", "acme_corp", "acmé", &"a".repeat(65)] {
            assert_eq!(validate_slug(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn emails_are_trimmed_lowercased_and_plausible() {
        assert_eq!(validate_email(" Erin@Example.TEST ").as_deref(), Some("erin@example.test"));
        for bad in ["", "erin", "@example.test", "erin@", "erin@example", "er in@example.test", "a@b@c.test"] {
            assert_eq!(validate_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn select_org_codes_round_trip_and_unknown_codes_put_no_words_on_the_page() {
        for e in SelectOrgError::ALL {
            assert_eq!(SelectOrgError::from_code(e.code()), Some(e));
        }
        assert_eq!(
            SelectOrgError::text_for_code("Your account is locked, call +1 555"),
            "Something went wrong; please try again."
        );
    }
}

/// The signed-in user as components read it (Clerk's `useUser()`): the mirrored row, else
/// Clerk's answer while the mirror catches up, else just the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub image_url: Option<String>,
}

impl CurrentUser {
    /// Name, else email address, else the Clerk user id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().filter(|n| !n.trim().is_empty()).or(self.email.as_deref()).unwrap_or(&self.id)
    }
    /// The avatar's letter: the display name's first character, upper-cased.
    pub fn initial(&self) -> String {
        self.display_name().chars().next().map(|c| c.to_uppercase().collect()).unwrap_or_else(|| "?".into())
    }
}

/// The session as components read it (Clerk's `useAuth()`): who, which session, and the active
/// organization's role and permissions as the verified token states them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAuth {
    pub user_id: String,
    pub session_id: Option<String>,
    /// `"active"` or `"pending"` (a session task is left).
    pub session_status: Option<String>,
    pub org_id: Option<String>,
    /// `org:`-prefixed, e.g. `org:admin`.
    pub org_role: Option<String>,
    pub org_permissions: Vec<String>,
}

impl SessionAuth {
    /// Clerk's `has({ role })`: both sides `org:`-prefixed.
    pub fn has_role(&self, role: &str) -> bool {
        self.org_role.as_deref().is_some_and(|mine| with_org_prefix(mine) == with_org_prefix(role))
    }
    /// Clerk's `has({ permission })`.
    pub fn has_permission(&self, permission: &str) -> bool {
        let want = with_org_prefix(permission);
        self.org_id.is_some() && self.org_permissions.contains(&want)
    }
}

/// The SDK's `prefixWithOrg`: `value.replace(/^(org:)*/, "org:")`.
fn with_org_prefix(value: &str) -> String {
    let mut rest = value;
    while let Some(r) = rest.strip_prefix("org:") {
        rest = r;
    }
    format!("org:{rest}")
}

/// The active organization as components read it (Clerk's `useOrganization()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveOrganization {
    pub id: String,
    pub name: String,
    pub slug: Option<String>,
}

/// Everything `use_auth()`, `use_user()` and `use_organization()` read, resolved on the server
/// once per page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthSnapshot {
    pub auth: SessionAuth,
    pub user: CurrentUser,
    pub organization: Option<ActiveOrganization>,
    /// The user's account page (Clerk's hosted user profile).
    pub account_url: String,
}
