//! Invites: usernames, software types, store-deleted days and the
//! activation code format.

use super::customer::username_char;
use super::{Email, FieldError};

/// Standard (workstation) or Server.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SoftwareType {
    Standard,
    Server,
}

impl SoftwareType {
    pub fn as_str(&self) -> &'static str {
        match self {
            SoftwareType::Standard => "standard",
            SoftwareType::Server => "server",
        }
    }
    pub fn parse(s: &str) -> Result<SoftwareType, FieldError> {
        match s.trim().to_lowercase().as_str() {
            "" | "standard" => Ok(SoftwareType::Standard),
            "server" => Ok(SoftwareType::Server),
            _ => Err(FieldError::new("software_type", "error.software_type")),
        }
    }
}

/// Where an invite's e-mail is: never queued, waiting in the outbox, sent,
/// waiting for a retry after a temporary failure, or given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    NotSent,
    Queued,
    Sent,
    Retrying,
    Failed,
}

impl DeliveryState {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::NotSent => "not_sent",
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "not_sent" => Some(DeliveryState::NotSent),
            "queued" => Some(DeliveryState::Queued),
            "sent" => Some(DeliveryState::Sent),
            "retrying" => Some(DeliveryState::Retrying),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
    /// Whether a message is on its way (the page keeps polling).
    pub fn in_flight(&self) -> bool {
        matches!(self, DeliveryState::Queued | DeliveryState::Retrying)
    }
}

/// A username: lower-cased; a–z, 0–9 and `. - _ @ +`; 1–100 characters;
/// the customer's prefix put in front when it is not there yet.
pub fn parse_username(raw: &str, prefix: Option<&str>) -> Result<String, FieldError> {
    let s = raw.trim().to_lowercase();
    if s.is_empty() {
        return Err(FieldError::new("username", "error.required"));
    }
    let s = match prefix {
        Some(p) if !s.starts_with(p) => format!("{p}{s}"),
        _ => s,
    };
    if s.chars().count() > 100 {
        return Err(FieldError::new("username", "error.too_long"));
    }
    if !s.chars().all(username_char) || !s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(FieldError::new("username", "error.username_alphabet"));
    }
    Ok(s)
}

/// Days deleted files are kept: 1–3650, default 30.
pub fn parse_store_deleted(raw: &str) -> Result<i64, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(30);
    }
    match s.parse::<i64>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(n),
        _ => Err(FieldError::new("store_deleted_days", "error.store_deleted")),
    }
}

/// The installation an invite replaces: empty for none, else an id.
pub fn parse_replaces(raw: &str) -> Result<Option<super::InstallationId>, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| FieldError::new("replaces_installation_id", "error.replaces"))
}

/// The activation code alphabet: digits and capitals without the ones
/// people confuse (0/O, 1/I/L).
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a code: 16 × log2(31) ≈ 79 bits.
pub const CODE_LEN: usize = 16;

/// Builds a code from random bytes by rejection sampling (no modulo bias):
/// `XXXX-XXXX-XXXX-XXXX`. Returns None if the bytes ran out (the caller
/// draws more).
pub fn code_from_random(bytes: &[u8]) -> Option<String> {
    let n = CODE_ALPHABET.len() as u16;
    // The largest multiple of n that fits a byte (248 for 31): bytes at or
    // above it are skipped so that every symbol is equally likely.
    let limit = 256 - (256 % n);
    let mut chars = Vec::with_capacity(CODE_LEN);
    for &b in bytes {
        if u16::from(b) >= limit {
            continue;
        }
        chars.push(CODE_ALPHABET[usize::from(u16::from(b) % n)] as char);
        if chars.len() == CODE_LEN {
            break;
        }
    }
    if chars.len() < CODE_LEN {
        return None;
    }
    let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    Some(groups.join("-"))
}

/// How a typed code is compared: upper case, without spaces and dashes.
pub fn normalize_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(|c| c.to_uppercase())
        .collect()
}

/// An invite as typed (API body or form), checked by [`NewInvite::parse`].
/// The API document keeps calling it `NewInvite`, its name before the
/// parsed type took that name.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[schema(
    as = NewInvite,
    description = "An invite to add; every field error is answered at once (422)."
)]
pub struct InviteInput {
    /// The customer's username prefix is put in front when it is not
    /// there; letters, digits and `.-_@`, starting with a letter or digit.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, examples("anna"))]
    pub username: String,
    #[serde(default)]
    #[schema(required = true, format = Email, examples("anna@example.com"))]
    pub email: String,
    /// Standard when left out.
    #[serde(default)]
    #[schema(value_type = SoftwareType)]
    pub software_type: String,
    /// Days deleted files are kept; 30 when left out.
    #[serde(default, deserialize_with = "super::license::num_or_str")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 3650)]
    pub store_deleted_days: Option<String>,
    /// Replacing a computer: the id of an installation on the same license
    /// (same software type) whose backups the new computer takes over;
    /// activating deactivates it. Empty or absent: a new computer.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub replaces_installation_id: Option<String>,
}

/// An invite to create, every field parsed.
#[derive(Debug, Clone)]
pub struct NewInvite {
    /// With the customer's prefix in front.
    pub username: String,
    pub email: Email,
    pub software_type: SoftwareType,
    pub store_deleted_days: i64,
    pub replaces: Option<super::InstallationId>,
}

impl NewInvite {
    /// Parses an invite for a customer with this username prefix; every
    /// field error at once.
    pub fn parse(raw: &InviteInput, prefix: Option<&str>) -> Result<NewInvite, Vec<FieldError>> {
        parse_fields! {
            username = parse_username(&raw.username, prefix),
            email = Email::parse("email", &raw.email),
            software_type = SoftwareType::parse(&raw.software_type),
            store_deleted_days = parse_store_deleted(raw.store_deleted_days.as_deref().unwrap_or("")),
            replaces = parse_replaces(raw.replaces_installation_id.as_deref().unwrap_or("")),
        }
        Ok(NewInvite {
            username,
            email,
            software_type,
            store_deleted_days,
            replaces,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_applied_once() {
        assert_eq!(
            parse_username("Timo", Some("testi.")).unwrap(),
            "testi.timo"
        );
        assert_eq!(
            parse_username("testi.timo", Some("testi.")).unwrap(),
            "testi.timo"
        );
        assert_eq!(
            parse_username("timo.virtanen@testiasiakas.fi", None).unwrap(),
            "timo.virtanen@testiasiakas.fi"
        );
        assert!(parse_username("", None).is_err());
        assert!(parse_username("a b", None).is_err());
        assert!(parse_username(".x", None).is_err());
    }

    #[test]
    fn store_deleted_bounds() {
        assert_eq!(parse_store_deleted("").unwrap(), 30);
        assert_eq!(parse_store_deleted("1").unwrap(), 1);
        assert_eq!(parse_store_deleted("3650").unwrap(), 3650);
        assert!(parse_store_deleted("0").is_err());
        assert!(parse_store_deleted("3651").is_err());
        assert!(parse_store_deleted("x").is_err());
    }

    #[test]
    fn codes_are_grouped_unambiguous_and_case_insensitive() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let code = code_from_random(&bytes).unwrap();
        assert_eq!(code.len(), 19);
        assert_eq!(code.matches('-').count(), 3);
        for c in code.chars().filter(|c| *c != '-') {
            assert!(CODE_ALPHABET.contains(&(c as u8)));
            assert!(!"01OIL".contains(c));
        }
        assert_eq!(normalize_code(" abcd-efgh ijkl-mnpq "), "ABCDEFGHIJKLMNPQ");
        // Bytes at or above 248 are skipped, so every symbol is equally likely.
        assert!(code_from_random(&[250u8; 64]).is_none());
        assert!((CODE_LEN as f64) * (CODE_ALPHABET.len() as f64).log2() >= 64.0);
    }
}
