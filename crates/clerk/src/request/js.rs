//! JavaScript semantics the SDK's request path relies on (`Number()`, `parseInt`, `<` on claims,
//! `decodeURIComponent`, `String.replace`, `URLSearchParams.set`): hand-written so that every
//! input is read exactly as `@clerk/backend` reads it (SDK parity), not as Rust would.

use std::borrow::Cow;

use crate::verify::Field;

/// JavaScript's `Number.parseInt(v) || 0` (ECMA-262 `parseInt` without a radix): leading
/// JavaScript whitespace, a sign, a `0x`/`0X` prefix for hexadecimal, then digits up to the
/// first other character, read as a double (rounded once, as JavaScript reads them); nothing
/// parsable is 0.
#[inline]
pub(super) fn js_parse_int(v: &str) -> f64 {
    let (sign, rest) = split_sign(v.trim_start_matches(is_js_whitespace));
    let (radix, rest) = match rest.get(..2) {
        Some("0x" | "0X") => (16, &rest[2..]),
        _ => (10, rest),
    };
    let digits = &rest[..rest.find(|c: char| !c.is_digit(radix)).unwrap_or(rest.len())];
    let n = match radix {
        16 => power_of_two_radix(digits, 16).unwrap_or(0.0),
        _ => digits.parse::<f64>().unwrap_or(0.0),
    };
    or_zero(sign * n)
}

/// A leading `-` or `+` as JavaScript's number grammar reads it: the sign, and the rest.
fn split_sign(s: &str) -> (f64, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    }
}

/// JavaScript's `n || 0`: NaN and -0 are 0.
fn or_zero(n: f64) -> f64 {
    if n.is_nan() || n == 0.0 {
        0.0
    } else {
        n
    }
}

/// The value of `digits` in `radix` 2, 8 or 16 (a whole number of bits per digit), rounded once
/// to the nearest double, ties to even, as JavaScript reads `0x…` (a digit at a time in `f64`
/// would round at every step); `None` if a character is not such a digit. Empty is 0.
fn power_of_two_radix(digits: &str, radix: u32) -> Option<f64> {
    let bits_per_digit = radix.trailing_zeros();
    // The value's first 64 bits from its leading 1, and past them only whether any is set (a
    // "sticky" bit: enough to round 64 bits to a double's 53 correctly).
    let (mut top, mut kept, mut dropped, mut sticky) = (0u64, 0u32, 0i32, false);
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        for i in (0..bits_per_digit).rev() {
            let bit = (d >> i) & 1;
            if kept == 0 && bit == 0 {
                continue;
            }
            if kept < 64 {
                top = (top << 1) | u64::from(bit);
                kept += 1;
            } else {
                dropped = dropped.saturating_add(1);
                sticky |= bit == 1;
            }
        }
    }
    // `as f64` rounds to nearest, ties to even; scaling by a power of two is exact (or infinite).
    let scale = match dropped {
        0..=1023 => f64::from_bits((dropped as u64 + 1023) << 52),
        _ => f64::INFINITY,
    };
    Some((top | u64::from(sticky)) as f64 * scale)
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
            return match power_of_two_radix(digits, radix) {
                Some(n) if !digits.is_empty() => n,
                _ => f64::NAN,
            };
        }
    }
    let (sign, unsigned) = split_sign(t);
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
/// and -0 read as 0).
pub(super) fn js_number(v: &str) -> f64 {
    or_zero(js_string_to_number(v))
}

/// JavaScript's `Number::toString` (ECMA-262 §6.1.6.1.20): the shortest digits that read back
/// as `n` (what Rust's `{:e}` prints too), as a plain decimal from 1e-6 up to (not including)
/// 1e21 (`2`, not `2.0`) and in exponent form outside it (`1e+21`, `1.5e-7`); `-0` is `0`.
pub(super) fn js_number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n == 0.0 {
        return "0".into();
    }
    if n.is_infinite() {
        return (if n > 0.0 { "Infinity" } else { "-Infinity" }).into();
    }
    if n < 0.0 {
        return format!("-{}", js_number_to_string(-n));
    }
    let sci = format!("{n:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` writes an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // The spec's k (how many digits) and n (where the decimal point goes).
    let k = digits.len() as i32;
    let point = exponent.parse::<i32>().expect("`{:e}` writes a whole exponent") + 1;
    if k <= point && point <= 21 {
        format!("{digits}{}", "0".repeat((point - k) as usize))
    } else if 0 < point && point <= 21 {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    } else if -6 < point && point <= 0 {
        format!("0.{}{digits}", "0".repeat(-point as usize))
    } else {
        let e = point - 1;
        let sign = if e >= 0 { '+' } else { '-' };
        match digits.split_at(1) {
            (first, "") => format!("{first}e{sign}{}", e.abs()),
            (first, rest) => format!("{first}.{rest}e{sign}{}", e.abs()),
        }
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
            .chain([("0x1f", 31), ("-0X10", -16), ("0x", 0), ("0b11", 0), ("\u{FEFF} 7", 7), ("\u{85}7", 0), ("-0", 0)])
        {
            assert_eq!(js_parse_int(v), want as f64, "{v:?}");
        }
        // Past i64 and past 2^53: read as JavaScript reads them (node's values).
        for (v, want) in [
            ("99999999999999999999", 1e20),
            ("0x200000000000018", 144_115_188_075_855_904.0),
            ("-0x10000000000000001", -18_446_744_073_709_551_616.0),
            ("9007199254740993", 9_007_199_254_740_992.0),
        ] {
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
            ("\"0x\"", None),
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
            // Rounded once (2^57 + 32), not a digit at a time (2^57).
            ("0x200000000000018", 144_115_188_075_855_904.0),
            ("0b100000000000000000000000000000000000000000000000000001", 9_007_199_254_740_992.0),
            ("0b100000000000000000000000000000000000000000000000000011", 9_007_199_254_740_996.0),
            ("0o7", 7.0),
            ("0o8", 0.0),
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
        // Past 64 bits the bits beyond decide a tie (a sticky bit): up when any of them is set,
        // else to even (node's values).
        let bits = |tail: &str| format!("0b1{}1{tail}", "0".repeat(52));
        for (v, want) in [
            (bits(&format!("{}1", "0".repeat(10))), 18_446_744_073_709_555_712.0),
            (bits(&"0".repeat(11)), 18_446_744_073_709_551_616.0),
            (bits(&format!("{}11", "0".repeat(9))), 18_446_744_073_709_555_712.0),
            // Octal's 3 bits a digit, at a tie, past it, and at a tie rounding up to even.
            ("0o2000000000000000004000000".into(), 9_444_732_965_739_290_427_392.0),
            ("0o2000000000000000004000001".into(), 9_444_732_965_739_292_524_544.0),
            ("0o2000000000000000014000000".into(), 9_444_732_965_739_294_621_696.0),
            // The largest double, and past it infinity (a tie there rounds up, to even).
            (format!("0x{}{}", "fffffffffffffbf", "f".repeat(241)), f64::MAX),
            (format!("0x{}{}", "fffffffffffffc", "0".repeat(242)), f64::INFINITY),
            (format!("0x{}", "f".repeat(256)), f64::INFINITY),
        ] {
            assert_eq!(js_number(&v), want, "{v}");
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

    /// `String(n)`: whole numbers without a fraction, `-0` printed as `0`, exponent form
    /// outside 1e-6..1e21 (node's output for each).
    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (n, want) in [
            (2.0, "2"),
            (-3.0, "-3"),
            (2.5, "2.5"),
            (-0.0, "0"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (1.5e21, "1.5e+21"),
            (123_456_789_012_345_680_000.0, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.9999999999 + 1.0, "1.000000082740371e-10"),
            (1e15 + 0.5, "1000000000000000.5"),
        ] {
            assert_eq!(js_number_to_string(n), want, "{n}");
        }
    }
}

/// The functions above against JavaScript itself: node reads thousands of generated strings
/// (`Number(s) || 0`, `Number.parseInt(s) || 0`, and `String` of each plus one, as the SDK
/// prints the next redirect counter) and every answer must be the same.
#[cfg(test)]
mod against_node {
    use super::*;
    use crate::request::differential::{generated, node};

    /// Pieces JavaScript's number grammar treats specially.
    const PIECES: &[&str] = &[
        "0",
        "1",
        "7",
        "9",
        "00",
        "12345678901234567890",
        ".",
        "e",
        "E",
        "+",
        "-",
        "x",
        "X",
        "o",
        "b",
        "f",
        "A",
        " ",
        "\t",
        "\u{FEFF}",
        "\u{85}",
        "\u{A0}",
        "\u{2028}",
        "Infinity",
        "inf",
        "NaN",
        "_",
        "0x",
        "0b",
        "0o",
        "1e21",
        "1e-7",
        "9007199254740993",
    ];

    #[test]
    fn every_generated_string_reads_and_prints_as_in_node() {
        let inputs = generated(PIECES, 6000, 5, 0x2545_F491_4F6C_DD1D);
        let script = r#"
            const chunks = [];
            for await (const c of process.stdin) chunks.push(c);
            const out = JSON.parse(Buffer.concat(chunks)).map((s) => {
                const n = Number(s) || 0, p = Number.parseInt(s) || 0;
                return [String(n), String(p), String(n + 1), String(p + 1)];
            });
            process.stdout.write(JSON.stringify(out));
        "#;
        let want: Vec<[String; 4]> = node(None, script, &inputs);
        assert_eq!(want.len(), inputs.len());
        let mut differ = Vec::new();
        for (s, want) in inputs.iter().zip(&want) {
            let (n, p) = (js_number(s), js_parse_int(s));
            let ours = [
                js_number_to_string(n),
                js_number_to_string(p),
                js_number_to_string(n + 1.0),
                js_number_to_string(p + 1.0),
            ];
            if &ours != want {
                differ.push(format!("{s:?}: node {want:?}, ours {ours:?}"));
            }
        }
        assert!(differ.is_empty(), "{} of {} differ:\n{}", differ.len(), inputs.len(), differ.join("\n"));
    }
}
