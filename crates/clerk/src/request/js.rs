//! JavaScript semantics the SDK's request path relies on (`Number()`, `parseInt`, `<` on claims,
//! `decodeURIComponent`, `String.replace`, `URLSearchParams.set`): hand-written so that every
//! input is read exactly as `@clerk/backend` reads it (SDK parity), not as Rust would.

use std::borrow::Cow;

use crate::verify::Field;

/// JavaScript's `Number.parseInt(v) || 0` (ECMA-262 `parseInt` without a radix): leading
/// JavaScript whitespace, a sign, a `0x`/`0X` prefix for hexadecimal, then digits up to the first
/// other character; nothing parsable is 0. Saturates at the `i64` range (JavaScript would go on
/// to a float; either way it is later than any `iat`).
#[inline]
pub(super) fn js_parse_int(v: &str) -> i64 {
    let v = v.trim_start_matches(is_js_whitespace);
    let (sign, rest) = match v.as_bytes().first() {
        Some(b'-') => (-1, &v[1..]),
        Some(b'+') => (1, &v[1..]),
        _ => (1, v),
    };
    let (radix, rest) = match rest.get(..2) {
        Some("0x" | "0X") => (16, &rest[2..]),
        _ => (10, rest),
    };
    let digits = rest
        .chars()
        .map_while(|c| c.to_digit(radix))
        .fold(0i64, |n, d| n.saturating_mul(i64::from(radix)).saturating_add(i64::from(d)));
    sign * digits
}

/// JavaScript's `StringToNumber` (ECMA-262 §7.1.4.1.1), what `Number(s)` and `<` do to a string:
/// the whole string, less JavaScript whitespace, must be a decimal literal (sign, digits, one
/// `.`, an exponent), `Infinity` with an optional sign, or an unsigned `0x`/`0o`/`0b` integer;
/// blank is 0 and anything else is NaN. Rust's own float parser reads the decimal form; its
/// other spellings (`inf`, `nan`) are kept out first.
pub(super) fn js_string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_whitespace);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(digits) = t.strip_prefix(prefix) {
            let mut n = 0.0;
            for c in digits.chars() {
                let Some(d) = c.to_digit(radix) else { return f64::NAN };
                n = n * f64::from(radix) + f64::from(d);
            }
            return if digits.is_empty() { f64::NAN } else { n };
        }
    }
    let (sign, unsigned) = match t.as_bytes()[0] {
        b'-' => (-1.0, &t[1..]),
        b'+' => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    if unsigned == "Infinity" {
        return sign * f64::INFINITY;
    }
    let decimal = unsigned.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && unsigned.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    match unsigned.parse::<f64>() {
        Ok(n) if decimal => sign * n,
        _ => f64::NAN,
    }
}

/// JavaScript's `StrWhiteSpaceChar`: its white space (space separators, tab, VT, FF, BOM) and
/// line terminators. Unlike Rust's `char::is_whitespace` it holds U+FEFF and not U+0085.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{B}' | '\u{C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
    )
}

/// A claim as JavaScript's `<` sees it: numbers, `null` as 0, numeric strings; else none (NaN).
#[inline]
pub(super) fn js_number_of(f: Field<'_>) -> Option<f64> {
    match f.json()? {
        "null" | "false" => Some(0.0),
        "true" => Some(1.0),
        _ if f.is_string() => Some(js_string_to_number(&f.str()?)).filter(|n| !n.is_nan()),
        _ => f.f64(),
    }
}

/// JavaScript's `Number(v) || 0` for the redirect counter ([`js_string_to_number`], with NaN
/// read as 0).
pub(super) fn js_number(v: &str) -> f64 {
    let n = js_string_to_number(v);
    if n.is_nan() {
        0.0
    } else {
        n
    }
}

/// JavaScript prints whole numbers without a fraction (`String(2)` is `"2"`, not `"2.0"`), and
/// infinities as `Infinity`.
pub(super) fn js_number_to_string(n: f64) -> String {
    if n.is_infinite() {
        (if n > 0.0 { "Infinity" } else { "-Infinity" }).to_string()
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
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

    /// `Number.parseInt(v) || 0` (ECMAScript: leading whitespace, an optional sign, `0x` for
    /// hexadecimal, digits up to the first other character).
    #[test]
    fn parse_int_reads_a_sign_and_leading_digits() {
        for (v, want) in [("-12", -12), ("+7", 7), ("  42abc", 42), ("abc", 0), ("-", 0), ("", 0), ("1.9", 1)]
            .into_iter()
            .chain([("0x1f", 31), ("-0X10", -16), ("0x", 0), ("0b11", 0), ("\u{FEFF} 7", 7), ("\u{85}7", 0)])
        {
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
            ("\"-Infinity\"", Some(f64::NEG_INFINITY)),
            ("\"0x10\"", Some(16.0)),
            ("\"inf\"", None),
        ] {
            let f: Field<'_> = serde_json::from_str(json).unwrap();
            assert_eq!(js_number_of(f), want, "{json}");
        }
    }

    /// `Number(v) || 0`: the whole string must be a JavaScript numeric literal; Rust's own
    /// spellings of infinity and NaN are not, nor a sign before `0x` or inside its digits.
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
            ("Infinity", f64::INFINITY),
            (" -Infinity\n", f64::NEG_INFINITY),
            ("+Infinity", f64::INFINITY),
            ("0x+1f", 0.0),
            ("+0x10", 0.0),
            ("0x", 0.0),
            ("0x10000000000000000", 18_446_744_073_709_551_616.0),
            ("\u{FEFF}2\u{3000}", 2.0),
            ("\u{85}2", 0.0),
            (".5", 0.5),
            ("5.e1", 50.0),
            ("1_0", 0.0),
            ("--1", 0.0),
            ("-", 0.0),
            (".", 0.0),
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
        for (n, want) in [
            (2.0, "2"),
            (-3.0, "-3"),
            (2.5, "2.5"),
            (-0.0, "0"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(js_number_to_string(n), want, "{n}");
        }
    }
}
