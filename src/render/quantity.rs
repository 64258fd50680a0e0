//! Kubernetes' canonical spelling of a quantity ("0.5" → "500m", "1024Mi" → "1Gi"). The
//! apiserver stores quantities canonicalised; rendering them the same way keeps a cosmetic
//! respelling in a manifest from changing the pod template (and so from restarting pods) and
//! from showing up as a diff.

const BINARY: &[(&str, u32)] = &[
    ("Ki", 1),
    ("Mi", 2),
    ("Gi", 3),
    ("Ti", 4),
    ("Pi", 5),
    ("Ei", 6),
];
const DECIMAL: &[(&str, i32)] = &[
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// The canonical form, or the input unchanged when it is not a quantity we can represent
/// exactly (validation reports malformed quantities; rendering never fails on them).
pub fn canonical(input: &str) -> String {
    parse(input)
        .map(|(nanos, binary)| format(nanos, binary))
        .unwrap_or_else(|| input.to_string())
}

/// The value in billionths of the unit, for comparing quantities.
pub fn nanos(input: &str) -> Option<i128> {
    parse(input).map(|(n, _)| n)
}

/// The value in billionths, and whether it was written with a binary suffix.
fn parse(s: &str) -> Option<(i128, bool)> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if number.is_empty() || number.matches('.').count() > 1 {
        return None;
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.len() > 9 || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: i128 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let base = whole.checked_mul(1_000_000_000)?.checked_add(fraction)?;
    if let Some((_, power)) = BINARY.iter().find(|(name, _)| *name == suffix) {
        return Some((base.checked_mul(1024i128.checked_pow(*power)?)?, true));
    }
    let (_, exponent) = DECIMAL.iter().find(|(name, _)| *name == suffix)?;
    let scaled = if *exponent >= 0 {
        base.checked_mul(10i128.checked_pow(*exponent as u32)?)?
    } else {
        let divisor = 10i128.pow((-*exponent) as u32);
        if base % divisor != 0 {
            return None; // finer than a nano-unit
        }
        base / divisor
    };
    Some((scaled, false))
}

fn format(nanos: i128, binary: bool) -> String {
    if nanos == 0 {
        return "0".into();
    }
    if binary && nanos % 1_000_000_000 == 0 {
        let value = nanos / 1_000_000_000;
        for (name, power) in BINARY.iter().rev() {
            let unit = 1024i128.pow(*power);
            if value % unit == 0 {
                return format!("{}{name}", value / unit);
            }
        }
        return value.to_string();
    }
    for (name, exponent) in DECIMAL.iter().rev() {
        let unit = 10i128.pow((exponent + 9) as u32);
        if nanos % unit == 0 {
            return format!("{}{name}", nanos / unit);
        }
    }
    format!("{nanos}n")
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn spells_quantities_as_the_apiserver_stores_them() {
        for (input, expected) in [
            ("0.5", "500m"),
            ("500m", "500m"),
            ("1000m", "1"),
            ("1", "1"),
            ("0.1", "100m"),
            ("2000", "2k"),
            ("1G", "1G"),
            ("1000M", "1G"),
            ("1024Mi", "1Gi"),
            ("1Gi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("100Mi", "100Mi"),
            ("3000Mi", "3000Mi"),
            ("512", "512"),
            ("0", "0"),
        ] {
            assert_eq!(canonical(input), expected, "{input}");
        }
    }

    #[test]
    fn leaves_what_it_cannot_represent() {
        for input in ["abc", "1.2.3", "10Xi", "", "1e3"] {
            assert_eq!(canonical(input), input);
        }
    }
}
