//! Organization sync (protocol §3.5): URL patterns that name the organization a page wants
//! active. Patterns use path-to-regexp's common subset: literal segments, `:id` / `:slug`
//! (or any `:name`) for one segment, and `(.*)` for the rest of the path.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgSyncTarget {
    OrganizationId(String),
    OrganizationSlug(String),
    PersonalAccount,
}

impl OrgSyncTarget {
    /// Value of the handshake's `organization_id` parameter (empty = personal account).
    pub fn activation_value(&self) -> String {
        match self {
            OrgSyncTarget::OrganizationId(v) | OrgSyncTarget::OrganizationSlug(v) => v.clone(),
            OrgSyncTarget::PersonalAccount => String::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct OrganizationSync {
    pub organization_patterns: Vec<String>,
    pub personal_account_patterns: Vec<String>,
}

impl OrganizationSync {
    /// Organization patterns take precedence over personal-account patterns.
    pub fn target(&self, path: &str) -> Option<OrgSyncTarget> {
        for p in &self.organization_patterns {
            if let Some(params) = match_path(p, path) {
                if let Some((_, id)) = params.iter().find(|(k, _)| k == "id") {
                    return Some(OrgSyncTarget::OrganizationId(id.clone()));
                }
                if let Some((_, slug)) = params.iter().find(|(k, _)| k == "slug") {
                    return Some(OrgSyncTarget::OrganizationSlug(slug.clone()));
                }
                tracing::warn!("Clerk: Detected an organization pattern match, but no organization ID or slug was found in the URL. Does the pattern include `:id` or `:slug`?");
            }
        }
        self.personal_account_patterns
            .iter()
            .any(|p| match_path(p, path).is_some())
            .then_some(OrgSyncTarget::PersonalAccount)
    }
}

/// Whole-path match; returns the named parameters (percent-decoded).
pub fn match_path(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
    let pat: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut params = Vec::new();
    for (i, p) in pat.iter().enumerate() {
        if *p == "(.*)" {
            // Matches the rest, including nothing after the slash.
            return (segs.len() > i || segs.len() == i).then_some(params);
        }
        let s = segs.get(i)?;
        if let Some(name) = p.strip_prefix(':') {
            if s.is_empty() {
                return None;
            }
            let decoded = percent_decode(s);
            params.push((name.to_string(), decoded));
        } else if p != s {
            return None;
        }
    }
    (segs.len() == pat.len()).then_some(params)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let s = OrganizationSync {
            organization_patterns: vec!["/orgs/:slug".into(), "/orgs/:slug/(.*)".into()],
            personal_account_patterns: vec!["/me".into(), "/me/(.*)".into()],
        };
        assert_eq!(s.target("/orgs/acme"), Some(OrgSyncTarget::OrganizationSlug("acme".into())));
        assert_eq!(s.target("/orgs/other-org/settings"), Some(OrgSyncTarget::OrganizationSlug("other-org".into())));
        assert_eq!(s.target("/orgs/acme/a/b"), Some(OrgSyncTarget::OrganizationSlug("acme".into())));
        assert_eq!(s.target("/me"), Some(OrgSyncTarget::PersonalAccount));
        assert_eq!(s.target("/me/x"), Some(OrgSyncTarget::PersonalAccount));
        assert_eq!(s.target("/orgs"), None);
        assert_eq!(s.target("/dashboard"), None);
        let by_id = OrganizationSync { organization_patterns: vec!["/o/:id/activate".into()], ..Default::default() };
        assert_eq!(by_id.target("/o/org_1/activate"), Some(OrgSyncTarget::OrganizationId("org_1".into())));
        assert_eq!(by_id.target("/o/org_1"), None);
    }
}
