//! Where the app may send a browser back to: only paths on this site (no open redirect).

/// `candidate` when it is a local path (`/…`, not `//host` or `/\host`, no line breaks),
/// otherwise `default`.
pub fn safe_return_path(candidate: Option<&str>, default: &str) -> String {
    match candidate {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") && !p.contains(['\r', '\n']) => {
            p.to_string()
        }
        _ => default.to_string(),
    }
}

/// A local path inside the workspace (`/app…`); anything else is the dashboard.
pub fn workspace_path(candidate: Option<&str>) -> String {
    let path = safe_return_path(candidate, "/app/dashboard");
    let inside = path == "/app" || path.starts_with("/app/") || path.starts_with("/app?");
    if inside {
        path
    } else {
        "/app/dashboard".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_return_path(Some("/app/dashboard?x=1"), "/d"), "/app/dashboard?x=1");
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "app", "/x\r\nSet-Cookie: a=b"] {
            assert_eq!(safe_return_path(Some(bad), "/d"), "/d", "{bad}");
        }
        assert_eq!(safe_return_path(None, "/d"), "/d");
    }

    #[test]
    fn workspace_paths_stay_in_the_workspace() {
        assert_eq!(workspace_path(Some("/app/projects?q=x")), "/app/projects?q=x");
        assert_eq!(workspace_path(Some("/app")), "/app");
        for outside in ["/select-org", "/application", "//evil.example/app", "https://x/app"] {
            assert_eq!(workspace_path(Some(outside)), "/app/dashboard", "{outside}");
        }
    }
}
