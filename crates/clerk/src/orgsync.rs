//! Organization sync (protocol §3.5): URL patterns that name the organization a page wants
//! active. Patterns are path-to-regexp 6 patterns, matched as the SDK matches them: every list
//! compiled into one case-insensitive alternation (first matching pattern wins), an optional
//! trailing delimiter, parameters taken verbatim (not percent-decoded), against the URL's
//! normalised path.

use regex::Regex;

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
    /// Compile both lists; an invalid pattern is an error (the SDK throws on it too).
    pub fn compile(&self) -> Result<OrgSyncMatcher, String> {
        Ok(OrgSyncMatcher {
            organization: Matcher::new(&self.organization_patterns)?,
            personal_account: Matcher::new(&self.personal_account_patterns)?,
        })
    }
}

/// Compiled organization-sync patterns.
#[derive(Debug, Clone)]
pub struct OrgSyncMatcher {
    organization: Option<Matcher>,
    personal_account: Option<Matcher>,
}

impl OrgSyncMatcher {
    /// `findTarget`: an organization pattern with a truthy `id`, else `slug`; otherwise (also
    /// when the matching organization pattern has neither) the personal-account patterns.
    pub fn target(&self, path: &str) -> Option<OrgSyncTarget> {
        if let Some(params) = self.organization.as_ref().and_then(|m| m.matches(path)) {
            let get = |name: &str| params.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone());
            if let Some(id) = get("id") {
                return Some(OrgSyncTarget::OrganizationId(id));
            }
            if let Some(slug) = get("slug") {
                return Some(OrgSyncTarget::OrganizationSlug(slug));
            }
        }
        self.personal_account.as_ref()?.matches(path).map(|_| OrgSyncTarget::PersonalAccount)
    }
}

/// One list of patterns as one regular expression, with the names of its capture groups.
#[derive(Debug, Clone)]
struct Matcher {
    regex: Regex,
    names: Vec<String>,
}

impl Matcher {
    fn new(patterns: &[String]) -> Result<Option<Self>, String> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut names = Vec::new();
        let mut sources = Vec::new();
        for p in patterns {
            let tokens = parse(p).map_err(|e| format!("Invalid pattern {p:?}: {e}"))?;
            sources.push(to_regex_source(&tokens, &mut names).map_err(|e| format!("Invalid pattern {p:?}: {e}"))?);
        }
        let regex =
            Regex::new(&format!("(?i)(?:{})", sources.join("|"))).map_err(|e| format!("Invalid pattern: {e}"))?;
        Ok(Some(Self { regex, names }))
    }

    /// The named (or numbered) parameters of the first matching pattern.
    fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let caps = self.regex.captures(path)?;
        Some(
            self.names
                .iter()
                .enumerate()
                .filter_map(|(i, name)| caps.get(i + 1).map(|m| (name.clone(), m.as_str().to_string())))
                .collect(),
        )
    }
}

const DELIMITER: &str = "/#?";
const PREFIXES: &str = "./";

#[derive(Debug, PartialEq)]
enum Lexeme {
    Modifier(char),
    Escaped(char),
    Open,
    Close,
    Name(String),
    Pattern(String),
    Char(char),
    End,
}

/// path-to-regexp 6's lexer.
fn lex(s: &str) -> Result<Vec<Lexeme>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' | '+' | '?' => {
                out.push(Lexeme::Modifier(c));
                i += 1;
            }
            '\\' => {
                let next = *chars.get(i + 1).ok_or("trailing backslash")?;
                out.push(Lexeme::Escaped(next));
                i += 2;
            }
            '{' => {
                out.push(Lexeme::Open);
                i += 1;
            }
            '}' => {
                out.push(Lexeme::Close);
                i += 1;
            }
            ':' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if j == i + 1 {
                    return Err(format!("Missing parameter name at {i}"));
                }
                out.push(Lexeme::Name(chars[i + 1..j].iter().collect()));
                i = j;
            }
            '(' => {
                let (mut depth, mut pattern, mut j) = (1, String::new(), i + 1);
                if chars.get(j) == Some(&'?') {
                    return Err(format!("Pattern cannot start with \"?\" at {j}"));
                }
                while j < chars.len() {
                    if chars[j] == '\\' {
                        pattern.push(chars[j]);
                        if let Some(n) = chars.get(j + 1) {
                            pattern.push(*n);
                        }
                        j += 2;
                        continue;
                    }
                    if chars[j] == ')' {
                        depth -= 1;
                        if depth == 0 {
                            j += 1;
                            break;
                        }
                    } else if chars[j] == '(' {
                        depth += 1;
                        if chars.get(j + 1) != Some(&'?') {
                            return Err(format!("Capturing groups are not allowed at {j}"));
                        }
                    }
                    pattern.push(chars[j]);
                    j += 1;
                }
                if depth != 0 {
                    return Err(format!("Unbalanced pattern at {i}"));
                }
                if pattern.is_empty() {
                    return Err(format!("Missing pattern at {i}"));
                }
                out.push(Lexeme::Pattern(pattern));
                i = j;
            }
            _ => {
                out.push(Lexeme::Char(c));
                i += 1;
            }
        }
    }
    out.push(Lexeme::End);
    Ok(out)
}

#[derive(Debug)]
enum Token {
    Text(String),
    Key { name: String, prefix: String, suffix: String, pattern: String, modifier: String },
}

/// path-to-regexp 6's `parse`.
fn parse(s: &str) -> Result<Vec<Token>, String> {
    let lexemes = lex(s)?;
    let mut out: Vec<Token> = Vec::new();
    let (mut pos, mut key_index, mut path) = (0, 0usize, String::new());
    let escape_delims = escape(DELIMITER);
    // path-to-regexp's `tryConsume`: the lexeme at `pos` if `pick` accepts it, and step past it.
    let take = |pos: &mut usize, pick: &dyn Fn(&Lexeme) -> Option<String>| {
        let v = lexemes.get(*pos).and_then(pick)?;
        *pos += 1;
        Some(v)
    };
    let take_char = |pos: &mut usize| {
        take(pos, &|l| if let Lexeme::Char(c) = l { Some(c.to_string()) } else { None })?.chars().next()
    };
    let take_escaped = |pos: &mut usize| {
        take(pos, &|l| if let Lexeme::Escaped(c) = l { Some(c.to_string()) } else { None })?.chars().next()
    };
    let take_name = |pos: &mut usize| take(pos, &|l| if let Lexeme::Name(n) = l { Some(n.clone()) } else { None });
    let take_pattern =
        |pos: &mut usize| take(pos, &|l| if let Lexeme::Pattern(p) = l { Some(p.clone()) } else { None });
    let take_modifier = |pos: &mut usize| {
        take(pos, &|l| if let Lexeme::Modifier(m) = l { Some(m.to_string()) } else { None }).unwrap_or_default()
    };
    // The default pattern of a parameter: one segment (a lookahead variant is not supported).
    let default_pattern = |out: &[Token], prefix: &str| -> Result<String, String> {
        let prev = if prefix.is_empty() {
            match out.last() {
                Some(Token::Text(t)) => t.clone(),
                Some(Token::Key { name, .. }) => {
                    return Err(format!("Must have text between two parameters, missing text after \"{name}\""))
                }
                None => String::new(),
            }
        } else {
            prefix.to_string()
        };
        if prev.is_empty() || prev.chars().any(|c| DELIMITER.contains(c)) {
            Ok(format!("[^{escape_delims}]+?"))
        } else {
            Err("a parameter after text without a delimiter needs a lookahead, which is not supported".into())
        }
    };
    while pos < lexemes.len() {
        let ch = take_char(&mut pos);
        let name = take_name(&mut pos);
        let pattern = take_pattern(&mut pos);
        if name.is_some() || pattern.is_some() {
            let mut prefix = ch.map(String::from).unwrap_or_default();
            if !prefix.is_empty() && !PREFIXES.contains(prefix.as_str()) {
                path.push_str(&prefix);
                prefix.clear();
            }
            if !path.is_empty() {
                out.push(Token::Text(std::mem::take(&mut path)));
            }
            let pattern = match pattern {
                Some(p) => p,
                None => default_pattern(&out, &prefix)?,
            };
            let name = name.unwrap_or_else(|| {
                key_index += 1;
                (key_index - 1).to_string()
            });
            out.push(Token::Key { name, prefix, suffix: String::new(), pattern, modifier: take_modifier(&mut pos) });
            continue;
        }
        if let Some(c) = ch.or_else(|| take_escaped(&mut pos)) {
            path.push(c);
            continue;
        }
        if !path.is_empty() {
            out.push(Token::Text(std::mem::take(&mut path)));
        }
        if matches!(lexemes.get(pos), Some(Lexeme::Open)) {
            pos += 1;
            let text = |pos: &mut usize| {
                let mut t = String::new();
                while let Some(c) = take_char(pos).or_else(|| take_escaped(pos)) {
                    t.push(c);
                }
                t
            };
            let prefix = text(&mut pos);
            let name = take_name(&mut pos).unwrap_or_default();
            let pattern = take_pattern(&mut pos).unwrap_or_default();
            let suffix = text(&mut pos);
            if !matches!(lexemes.get(pos), Some(Lexeme::Close)) {
                return Err(format!("Unexpected token at {pos}, expected CLOSE"));
            }
            pos += 1;
            let (name, pattern) = if !name.is_empty() && pattern.is_empty() {
                let p = default_pattern(&out, &prefix)?;
                (name, p)
            } else if name.is_empty() && !pattern.is_empty() {
                key_index += 1;
                ((key_index - 1).to_string(), pattern)
            } else {
                (name, pattern)
            };
            out.push(Token::Key { name, prefix, suffix, pattern, modifier: take_modifier(&mut pos) });
            continue;
        }
        if !matches!(lexemes.get(pos), Some(Lexeme::End)) {
            return Err(format!("Unexpected token at {pos}, expected END"));
        }
        pos += 1;
    }
    Ok(out)
}

fn escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if ".+*?=^!:${}()[]|/\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// path-to-regexp 6's `tokensToRegexp` with its defaults (start, end, not strict).
fn to_regex_source(tokens: &[Token], names: &mut Vec<String>) -> Result<String, String> {
    let delims = format!("[{}]", escape(DELIMITER));
    let mut re = String::from("^");
    for t in tokens {
        match t {
            Token::Text(s) => re.push_str(&escape(s)),
            Token::Key { name, prefix, suffix, pattern, modifier } => {
                let (pre, suf) = (escape(prefix), escape(suffix));
                if pattern.is_empty() {
                    re.push_str(&format!("(?:{pre}{suf}){modifier}"));
                    continue;
                }
                names.push(name.clone());
                if !pre.is_empty() || !suf.is_empty() {
                    if modifier == "+" || modifier == "*" {
                        let opt = if modifier == "*" { "?" } else { "" };
                        re.push_str(&format!("(?:{pre}((?:{pattern})(?:{suf}{pre}(?:{pattern}))*){suf}){opt}"));
                    } else {
                        re.push_str(&format!("(?:{pre}({pattern}){suf}){modifier}"));
                    }
                } else {
                    if modifier == "+" || modifier == "*" {
                        return Err(format!("Can not repeat \"{name}\" without a prefix and suffix"));
                    }
                    re.push_str(&format!("({pattern}){modifier}"));
                }
            }
        }
    }
    re.push_str(&format!("{delims}?$"));
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(orgs: &[&str], personal: &[&str]) -> OrgSyncMatcher {
        OrganizationSync {
            organization_patterns: orgs.iter().map(|s| s.to_string()).collect(),
            personal_account_patterns: personal.iter().map(|s| s.to_string()).collect(),
        }
        .compile()
        .unwrap()
    }

    #[test]
    fn patterns() {
        let s = sync(&["/orgs/:slug", "/orgs/:slug/(.*)"], &["/me", "/me/(.*)"]);
        assert_eq!(s.target("/orgs/acme"), Some(OrgSyncTarget::OrganizationSlug("acme".into())));
        assert_eq!(s.target("/orgs/other-org/settings"), Some(OrgSyncTarget::OrganizationSlug("other-org".into())));
        assert_eq!(s.target("/orgs/acme/a/b"), Some(OrgSyncTarget::OrganizationSlug("acme".into())));
        assert_eq!(s.target("/me"), Some(OrgSyncTarget::PersonalAccount));
        assert_eq!(s.target("/me/x"), Some(OrgSyncTarget::PersonalAccount));
        assert_eq!(s.target("/orgs"), None);
        assert_eq!(s.target("/dashboard"), None);
        let by_id = sync(&["/o/:id/activate"], &[]);
        assert_eq!(by_id.target("/o/org_1/activate"), Some(OrgSyncTarget::OrganizationId("org_1".into())));
        assert_eq!(by_id.target("/o/org_1"), None);
    }

    #[test]
    fn path_to_regexp_semantics() {
        let s = sync(&["/orgs/:slug"], &[]);
        // case-insensitive, one optional trailing delimiter, parameters verbatim
        assert_eq!(s.target("/ORGS/Acme"), Some(OrgSyncTarget::OrganizationSlug("Acme".into())));
        assert_eq!(s.target("/orgs/acme/"), Some(OrgSyncTarget::OrganizationSlug("acme".into())));
        assert_eq!(s.target("/orgs/acme//"), None);
        assert_eq!(s.target("/orgs/a%20b"), Some(OrgSyncTarget::OrganizationSlug("a%20b".into())));
        // custom parameter patterns, optional groups, inline text before a parameter
        let s = sync(&["/o/:id(org_[a-z0-9]+)", "/t{/:slug}?", "/teams/team-:slug"], &[]);
        assert_eq!(s.target("/o/org_1"), Some(OrgSyncTarget::OrganizationId("org_1".into())));
        assert_eq!(s.target("/o/other"), None);
        assert_eq!(s.target("/t"), None, "matched, but with no id or slug");
        assert_eq!(s.target("/t/acme"), Some(OrgSyncTarget::OrganizationSlug("acme".into())));
        assert_eq!(s.target("/teams/team-acme"), Some(OrgSyncTarget::OrganizationSlug("acme".into())));
        // the first matching pattern decides, even without an id or slug
        let s = sync(&["/orgs/new", "/orgs/:slug"], &["/orgs/(.*)"]);
        assert_eq!(s.target("/orgs/new"), Some(OrgSyncTarget::PersonalAccount));
        // invalid patterns are errors
        for bad in ["/o/:", "/o/(", "/o/((a))", "/o/:a:b"] {
            let r = OrganizationSync { organization_patterns: vec![bad.into()], ..Default::default() }.compile();
            assert!(r.is_err(), "{bad}");
        }
    }
}
