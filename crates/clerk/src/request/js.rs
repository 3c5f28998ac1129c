//! JavaScript semantics the SDK's request path relies on (`Number()`, `parseInt`, `<` on claims,
//! `decodeURIComponent`, `String.replace`, `URLSearchParams.set`): hand-written so that every
//! input is read exactly as `@clerk/backend` reads it (SDK parity), not as Rust would.

use std::borrow::Cow;

use crate::verify::Field;

/// JavaScript's `Number.parseInt(v) || 0`: leading whitespace, a sign, digits up to the first
/// other character; nothing parsable is 0.
#[inline]
pub(super) fn js_parse_int(v: &str) -> i64 {
    let v = v.trim_start();
    let (sign, rest) = match v.as_bytes().first() {
        Some(b'-') => (-1, &v[1..]),
        Some(b'+') => (1, &v[1..]),
        _ => (1, v),
    };
    let digits = rest
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    sign * digits
}

/// A claim as JavaScript's `<` sees it: numbers, `null` as 0, numeric strings; else none (NaN).
#[inline]
pub(super) fn js_number_of(f: Field<'_>) -> Option<f64> {
    match f.json()? {
        "null" | "false" => Some(0.0),
        "true" => Some(1.0),
        _ if f.is_string() => {
            let s = f.str()?;
            let t = s.trim();
            if t.is_empty() {
                Some(0.0)
            } else {
                t.parse::<f64>().ok().filter(|n| n.is_finite())
            }
        }
        _ => f.f64(),
    }
}

/// JavaScript's `Number(v) || 0` for the redirect counter: the whole (trimmed) string must be a
/// number (decimal, exponent, `0x`/`0o`/`0b`); anything else is 0.
pub(super) fn js_number(v: &str) -> f64 {
    let v = v.trim();
    let radix = |p: &str, r: u32| v.strip_prefix(p).and_then(|d| u64::from_str_radix(d, r).ok()).map(|n| n as f64);
    let n = radix("0x", 16)
        .or_else(|| radix("0X", 16))
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0O", 8))
        .or_else(|| radix("0b", 2))
        .or_else(|| radix("0B", 2))
        .or_else(|| {
            let plain = v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            (plain && !v.is_empty()).then(|| v.parse::<f64>().ok()).flatten()
        })
        .unwrap_or(0.0);
    if n.is_nan() {
        0.0
    } else {
        n
    }
}

/// JavaScript prints whole numbers without a fraction (`String(2)` is `"2"`, not `"2.0"`).
pub(super) fn js_number_to_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// `decodeURIComponent`, or the value unchanged when it would throw (a malformed escape or
/// bytes that are not UTF-8).
pub(super) fn decode_uri_component(value: &str) -> Cow<'_, str> {
    let b = value.as_bytes();
    let well_formed = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return Cow::Borrowed(value);
    }
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|c| Cow::Owned(c.into_owned()))
        .unwrap_or(Cow::Borrowed(value))
}

/// `iss.replace(/https?:\/\//gi, "")`, without allocating per character: it runs on every
/// cookie-authenticated request.
#[inline]
pub(super) fn strip_http_schemes(iss: &str) -> Cow<'_, str> {
    let at =
        |i: usize, p: &str| iss.as_bytes().get(i..i + p.len()).is_some_and(|b| b.eq_ignore_ascii_case(p.as_bytes()));
    if !(0..iss.len()).any(|i| at(i, "http://") || at(i, "https://")) {
        return Cow::Borrowed(iss);
    }
    let (mut out, mut i) = (String::with_capacity(iss.len()), 0);
    while i < iss.len() {
        if at(i, "https://") {
            i += 8;
        } else if at(i, "http://") {
            i += 7;
        } else {
            let c = iss[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    Cow::Owned(out)
}

/// `URLSearchParams.set`: the first `name` takes `value`, later ones go, else it is appended.
pub(super) fn set_query_param(url: &mut url::Url, name: &str, value: &str) {
    let mut seen = false;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter_map(|(k, v)| match (k == name, seen) {
            (true, true) => None,
            (true, false) => {
                seen = true;
                Some((k.into_owned(), value.to_string()))
            }
            (false, _) => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    let mut q = url.query_pairs_mut();
    q.clear();
    for (k, v) in &pairs {
        q.append_pair(k, v);
    }
    if !seen {
        q.append_pair(name, value);
    }
}

/// `URLSearchParams.delete` of each of `names`; an emptied query goes entirely, as `URL.href`
/// prints no `?` for an empty search.
pub(super) fn delete_query_params(url: &url::Url, names: &[&str]) -> url::Url {
    let mut out = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !names.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        out.set_query(None);
    } else {
        out.query_pairs_mut().clear().extend_pairs(kept);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_schemes_are_stripped_like_the_sdks_regex() {
        for (iss, want) in [
            ("https://clerk.example.com", "clerk.example.com"),
            ("HTTP://clerk.example.com/", "clerk.example.com/"),
            ("https://http://x", "x"),
            ("é https://y", "é y"),
            ("clerk.example.com", "clerk.example.com"),
            ("ftp://x", "ftp://x"),
        ] {
            assert_eq!(strip_http_schemes(iss), want, "{iss}");
        }
        assert!(matches!(strip_http_schemes("clerk.example.com"), Cow::Borrowed(_)));
    }

    /// `Number.parseInt(v) || 0` (ECMAScript: leading whitespace, an optional sign, digits).
    #[test]
    fn parse_int_reads_a_sign_and_leading_digits() {
        for (v, want) in [("-12", -12), ("+7", 7), ("  42abc", 42), ("abc", 0), ("-", 0), ("", 0), ("1.9", 1)] {
            assert_eq!(js_parse_int(v), want, "{v:?}");
        }
    }

    /// A claim as JavaScript's `<` coerces it (`ToNumber`): booleans, `null`, numeric strings
    /// (blank is 0), numbers; anything else is NaN (`None`).
    #[test]
    fn claims_coerce_to_numbers_as_javascript_does() {
        for (json, want) in [
            ("true", Some(1.0)),
            ("false", Some(0.0)),
            ("null", Some(0.0)),
            ("\"12\"", Some(12.0)),
            ("\" 1e3 \"", Some(1000.0)),
            ("\" \"", Some(0.0)),
            ("\"abc\"", None),
            ("3.5", Some(3.5)),
        ] {
            let f: Field<'_> = serde_json::from_str(json).unwrap();
            assert_eq!(js_number_of(f), want, "{json}");
        }
    }

    /// `Number(v) || 0`: the whole string must be a JavaScript numeric literal; Rust's own
    /// spellings of infinity and NaN are not.
    #[test]
    fn numbers_are_javascript_literals_only() {
        for (v, want) in [
            ("3", 3.0),
            (" 2.5 ", 2.5),
            ("0x1f", 31.0),
            ("0b11", 3.0),
            ("inf", 0.0),
            ("infinity", 0.0),
            ("NaN", 0.0),
            ("", 0.0),
            ("1e2", 100.0),
        ] {
            assert_eq!(js_number(v), want, "{v:?}");
        }
    }

    /// `decodeURIComponent` throws on any malformed escape, and the `cookie` package then keeps
    /// the value as it came: one bad escape leaves the good ones undecoded too.
    #[test]
    fn one_malformed_escape_leaves_the_whole_value_undecoded() {
        for (v, want) in
            [("%41%4z", "%41%4z"), ("%4", "%4"), ("%z1", "%z1"), ("%41%42", "AB"), ("%C3%A9", "é"), ("%C3", "%C3")]
        {
            assert_eq!(decode_uri_component(v), want, "{v:?}");
        }
    }

    /// `String(n)`: whole numbers without a fraction, and `-0` printed as `0`.
    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (n, want) in [(2.0, "2"), (-3.0, "-3"), (2.5, "2.5"), (-0.0, "0")] {
            assert_eq!(js_number_to_string(n), want, "{n}");
        }
    }
}
