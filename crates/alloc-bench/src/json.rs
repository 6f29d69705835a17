//! Just enough JSON for one-line records: writing strings and numbers, and
//! reading the scalar fields of a flat object. The records are produced by
//! this crate only (`process.rs`), so the reader handles exactly what the
//! writer emits: a flat object of strings without escapes, and numbers.

/// `s` as a JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A finite `f64` as a JSON number (JSON has no NaN or infinity: null).
pub fn number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".to_string()
    }
}

/// The raw text of field `key` in the flat object `line`: a string's
/// contents (without quotes) or a number's digits.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let rest = line[line.find(&pat)? + pat.len()..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        Some(&s[..s.find('"')?])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let line = format!(
            "{{\"workload\":{},\"seconds\":{},\"n\":12}}",
            string("larson"),
            number(1.5)
        );
        assert_eq!(field(&line, "workload"), Some("larson"));
        assert_eq!(field(&line, "seconds"), Some("1.5"));
        assert_eq!(field(&line, "n"), Some("12"));
        assert_eq!(field(&line, "missing"), None);
        assert_eq!(string("a\"b\n"), "\"a\\\"b\\u000a\"");
        assert_eq!(number(f64::NAN), "null");
    }
}
