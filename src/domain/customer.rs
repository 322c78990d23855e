//! Customer fields: VAT id / business id, postal code, username prefix,
//! country and e-mail language.

use super::{Email, FieldError, Secret, VendorId, line, text};

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

/// A customer as typed (API body or form): strings, checked by
/// [`NewCustomer::parse`]. `encryption_key`: absent keeps the current key,
/// empty clears it, anything else replaces it.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A customer to create or save; every field error is answered at once (422). `encryption_key`: absent keeps the current key, empty clears it, anything else replaces it."
)]
pub struct CustomerInput {
    /// Admins: the owning vendor (the default vendor when left out);
    /// an operator's customers are always their own vendor's.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub vendor_id: Option<String>,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200, examples("Acme Oy"))]
    pub name: String,
    /// Finnish Y-tunnus (`1234567-8`, checked) or another country's id.
    #[serde(default)]
    #[schema(max_length = 32, examples("0112038-9"))]
    pub vat_id: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub street_address: String,
    /// Five digits in Finland.
    #[serde(default)]
    #[schema(max_length = 12)]
    pub postal_code: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub postal_area: String,
    /// ISO 3166 two-letter code; FI when left out.
    #[serde(default)]
    pub country: String,
    /// en or fi.
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub contact_email: Option<String>,
    /// Absent keeps the key, empty clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub encryption_key: Option<Secret<String>>,
    #[serde(default)]
    pub username_prefix: Option<String>,
}

/// What a save does to the customer's encryption key.
#[derive(Debug, Clone)]
pub enum KeyChange {
    Keep,
    Clear,
    Set(Secret<String>),
}

/// A customer to create or save: every field parsed.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    /// The vendor named, if any (who may name which is the service's
    /// decision).
    pub vendor_id: Option<VendorId>,
    pub name: String,
    pub vat_id: String,
    pub street_address: String,
    pub postal_code: String,
    pub postal_area: String,
    pub country: String,
    pub language: String,
    pub contact_email: Option<Email>,
    pub encryption_key: KeyChange,
    pub username_prefix: Option<String>,
}

impl NewCustomer {
    /// Parses a customer as typed; every field error at once.
    pub fn parse(raw: &CustomerInput) -> Result<NewCustomer, Vec<FieldError>> {
        parse_fields! {
            name = line("name", &raw.name, 200, true),
            vat_id = parse_vat_id(&raw.vat_id),
            street_address = text("street_address", &raw.street_address, 200, false),
            country = parse_country(&raw.country),
            postal_code = parse_postal_code(
                &raw.postal_code,
                country.as_deref().unwrap_or("FI"),
            ),
            postal_area = line("postal_area", &raw.postal_area, 100, false),
            language = parse_language(&raw.language),
            contact_email = match raw.contact_email.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(e) => Email::parse("contact_email", e).map(Some),
            },
            encryption_key = match raw.encryption_key.as_ref().map(|k| k.expose().trim()) {
                None => Ok(KeyChange::Keep),
                Some("") => Ok(KeyChange::Clear),
                Some(k) => line("encryption_key", k, 256, true).map(|k| KeyChange::Set(Secret::new(k))),
            },
            username_prefix = parse_username_prefix(raw.username_prefix.as_deref().unwrap_or("")),
            vendor_id = match raw.vendor_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => s
                    .parse::<VendorId>()
                    .map(Some)
                    .map_err(|_| FieldError::new("vendor_id", "error.vendor_unknown")),
            },
        }
        Ok(NewCustomer {
            vendor_id,
            name,
            vat_id,
            street_address,
            postal_code,
            postal_area,
            country,
            language,
            contact_email,
            encryption_key,
            username_prefix,
        })
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
    fn a_customer_reports_every_field_error_at_once() {
        let raw = CustomerInput {
            name: " ".into(),
            postal_code: "2190".into(),
            language: "sv".into(),
            contact_email: Some("not-an-address".into()),
            vendor_id: Some("nope".into()),
            ..CustomerInput::default()
        };
        let fields: Vec<&str> = NewCustomer::parse(&raw)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "postal_code",
                "language",
                "contact_email",
                "vendor_id"
            ]
        );
        let ok = NewCustomer::parse(&CustomerInput {
            name: " Testiasiakas Oy ".into(),
            encryption_key: Some(Secret::new(" ".into())),
            ..CustomerInput::default()
        });
        assert!(
            ok.as_ref().is_ok_and(|c| c.name == "Testiasiakas Oy"
                && c.country == "FI"
                && matches!(c.encryption_key, KeyChange::Clear)),
            "{ok:?}"
        );
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
