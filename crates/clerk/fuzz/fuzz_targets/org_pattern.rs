//! The organization-sync pattern parser (path-to-regexp 6): patterns compile or are refused,
//! and a compiled matcher answers for any path. Input: `pattern \n pattern \n … \n\n path`.
#![no_main]

use clerk::OrganizationSync;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (patterns, path) = text.split_once("\n\n").unwrap_or((text, "/orgs/acme/settings"));
    let patterns: Vec<String> = patterns.lines().take(8).map(str::to_string).collect();
    let (organization_patterns, personal_account_patterns) = patterns.split_at(patterns.len() / 2);
    let sync = OrganizationSync {
        organization_patterns: organization_patterns.to_vec(),
        personal_account_patterns: personal_account_patterns.to_vec(),
    };
    if let Ok(matcher) = sync.compile() {
        for p in [path, "/", "/orgs/acme", "/ORGS/Acme/x/"] {
            let _ = matcher.target(p).map(|t| t.activation_value());
        }
    }
});
