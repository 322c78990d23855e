//! Customer fields: VAT id / business id, postal code, username prefix,
//! country and e-mail language.

use super::FieldError;

/// Checks the check digit of a Finnish business id's first seven digits.
fn fi_check_digit(seven: &[u32]) -> Option<u32> {
    const W: [u32; 7] = [7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = seven.iter().zip(W).map(|(d, w)| d * w).sum();
    match sum % 11 {
        0 => Some(0),
        1 => None,
        r => Some(11 - r),
    }
}

fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars().map(|c| c.to_digit(10)).collect()
}

fn fi_valid(eight: &[u32]) -> bool {
    eight.len() == 8 && fi_check_digit(&eight[..7]) == Some(eight[7])
}

/// A VAT id or business id, normalised: upper case, no spaces. A Finnish
/// business id (`1234567-8`) and a Finnish VAT number (`FI12345678`) must
/// carry a correct check digit; other formats are kept as typed.
pub fn parse_vat_id(raw: &str) -> Result<String, FieldError> {
    let s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if s.is_empty() {
        return Ok(s);
    }
    if s.len() > 32
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '/')
    {
        return Err(FieldError::new("vat_id", "error.vat_format"));
    }
    // 1234567-8
    if let Some((a, b)) = s.split_once('-')
        && a.len() == 7
        && b.len() == 1
        && let (Some(mut d), Some(c)) = (digits(a), digits(b))
    {
        d.extend(c);
        return if fi_valid(&d) {
            Ok(s)
        } else {
            Err(FieldError::new("vat_id", "error.vat_check_digit"))
        };
    }
    // FI12345678
    if let Some(rest) = s.strip_prefix("FI") {
        return match digits(rest) {
            Some(d) if d.len() == 8 && fi_valid(&d) => Ok(s),
            _ => Err(FieldError::new("vat_id", "error.vat_check_digit")),
        };
    }
    Ok(s)
}

/// A postal code: for Finland five digits; elsewhere letters, digits,
/// spaces and dashes, up to 12.
pub fn parse_postal_code(raw: &str, country: &str) -> Result<String, FieldError> {
    let s = raw.trim().to_uppercase();
    if s.is_empty() {
        return Ok(s);
    }
    if country == "FI" {
        if s.len() == 5 && s.chars().all(|c| c.is_ascii_digit()) {
            return Ok(s);
        }
        return Err(FieldError::new("postal_code", "error.postal_code_fi"));
    }
    if s.len() <= 12
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
    {
        Ok(s)
    } else {
        Err(FieldError::new("postal_code", "error.postal_code"))
    }
}

/// The characters a username (and so its prefix) may contain.
pub fn username_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_' | '@' | '+')
}

/// A username prefix: lower-cased, 1–32 characters of the username
/// alphabet (a–z, 0–9, `. - _ @ +`), starting with a letter or digit.
/// Empty means no prefix.
pub fn parse_username_prefix(raw: &str) -> Result<Option<String>, FieldError> {
    let s = raw.trim().to_lowercase();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > 32 {
        return Err(FieldError::new("username_prefix", "error.too_long"));
    }
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !s.chars().all(username_char) {
        return Err(FieldError::new("username_prefix", "error.prefix_alphabet"));
    }
    Ok(Some(s))
}

/// A two-letter country code (ISO 3166-1 alpha-2), upper case; default FI.
pub fn parse_country(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim().to_uppercase();
    if s.is_empty() {
        return Ok("FI".into());
    }
    if s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(s)
    } else {
        Err(FieldError::new("country", "error.country"))
    }
}

/// The language of e-mail to the customer: `fi` or `en`; default `fi`.
pub fn parse_language(raw: &str) -> Result<String, FieldError> {
    match raw.trim().to_lowercase().as_str() {
        "" | "fi" => Ok("fi".into()),
        "en" => Ok("en".into()),
        _ => Err(FieldError::new("language", "error.language")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finnish_business_ids() {
        // Real-world style ids with valid check digits.
        assert_eq!(parse_vat_id("0112038-9").unwrap(), "0112038-9");
        assert_eq!(parse_vat_id("fi 0112 0389").unwrap(), "FI01120389");
        assert!(parse_vat_id("0112038-8").is_err());
        assert!(parse_vat_id("FI01120388").is_err());
        assert!(parse_vat_id("FI0112038").is_err());
        // 2 × 6 = 12 leaves remainder 1: no check digit is valid at all.
        for c in 0..10 {
            assert!(parse_vat_id(&format!("0000006-{c}")).is_err());
        }
    }

    #[test]
    fn other_formats_are_kept_normalised() {
        assert_eq!(parse_vat_id("se 5560360793 01").unwrap(), "SE556036079301");
        assert_eq!(
            parse_vat_id("1231231231123123").unwrap(),
            "1231231231123123"
        );
        assert_eq!(parse_vat_id("  ").unwrap(), "");
        assert!(parse_vat_id("<script>").is_err());
    }

    #[test]
    fn check_digit_arithmetic() {
        // 7*0+9*1+10*1+5*2+8*0+4*3+2*8 = 57; 57 % 11 = 2; 11-2 = 9
        assert_eq!(fi_check_digit(&[0, 1, 1, 2, 0, 3, 8]), Some(9));
    }

    #[test]
    fn postal_codes() {
        assert_eq!(parse_postal_code("02190", "FI").unwrap(), "02190");
        assert!(parse_postal_code("2190", "FI").is_err());
        assert!(parse_postal_code("0219A", "FI").is_err());
        assert_eq!(parse_postal_code("sw1a 1aa", "GB").unwrap(), "SW1A 1AA");
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_username_prefix(" Testi. ").unwrap(),
            Some("testi.".into())
        );
        assert_eq!(parse_username_prefix("").unwrap(), None);
        assert!(parse_username_prefix(".x").is_err());
        assert!(parse_username_prefix("a b").is_err());
        assert!(parse_username_prefix("ä").is_err());
        assert!(parse_username_prefix(&"a".repeat(33)).is_err());
    }
}
