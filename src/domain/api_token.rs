//! API tokens: their scopes and their recognisable shape.
//!
//! A token reads `cc_` + 36 random base62 characters + a 6-character
//! base62 checksum of those 36 (the first 32 bits of their SHA-256). A
//! secret scanner finds one by the prefix and confirms it by the checksum
//! without asking the server; the server stores only a keyed hash.

use sha2::{Digest, Sha256};

use super::FieldError;

pub const PREFIX: &str = "cc_";
const BODY_LEN: usize = 36;
const CHECK_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Longest and default lifetime of a token, in days.
pub const MAX_DAYS: i64 = 365;
pub const DEFAULT_DAYS: i64 = 90;

fn checksum(body: &str) -> String {
    let h = Sha256::digest(body.as_bytes());
    let mut n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

/// Builds a token from random bytes (at least 36 usable ones: bytes of
/// 248 and above are skipped so every character is equally likely).
/// `None` if the bytes ran out before 36 characters.
pub fn format_token(random: &[u8]) -> Option<String> {
    let body: String = random
        .iter()
        .filter(|&&b| b < 248)
        .take(BODY_LEN)
        .map(|&b| BASE62[(b % 62) as usize] as char)
        .collect();
    if body.len() < BODY_LEN {
        return None;
    }
    let check = checksum(&body);
    Some(format!("{PREFIX}{body}{check}"))
}

/// True if `s` has the shape of a token and its checksum is right.
pub fn looks_like_token(s: &str) -> bool {
    let Some(rest) = s.strip_prefix(PREFIX) else {
        return false;
    };
    if rest.len() != BODY_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (body, check) = rest.split_at(BODY_LEN);
    checksum(body) == check
}

/// One scope a token may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    Read,
    Write,
    Admin,
}

impl TokenScope {
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }
}

/// The scopes of a token. `read` is always held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes {
    pub write: bool,
    pub admin: bool,
}

impl Scopes {
    pub const FULL: Scopes = Scopes {
        write: true,
        admin: true,
    };
    pub const READ: Scopes = Scopes {
        write: false,
        admin: false,
    };

    pub fn has(&self, s: TokenScope) -> bool {
        match s {
            TokenScope::Read => true,
            TokenScope::Write => self.write,
            TokenScope::Admin => self.admin,
        }
    }

    /// Parses a list of scope names (`read`, `write`, `admin`). Empty
    /// or unknown names are refused.
    pub fn parse<S: AsRef<str>>(field: &'static str, names: &[S]) -> Result<Scopes, FieldError> {
        if names.is_empty() {
            return Err(FieldError::new(field, "error.token_scopes_invalid"));
        }
        let mut s = Scopes::READ;
        for n in names {
            match n.as_ref().trim().to_lowercase().as_str() {
                "read" => {}
                "write" => s.write = true,
                "admin" => s.admin = true,
                _ => return Err(FieldError::new(field, "error.token_scopes_invalid")),
            }
        }
        Ok(s)
    }

    /// As stored: names separated by spaces.
    pub fn to_db(&self) -> String {
        self.names().join(" ")
    }

    /// From the stored form; an unknown word is ignored (grants nothing).
    pub fn from_db(s: &str) -> Scopes {
        let mut out = Scopes::READ;
        for w in s.split_whitespace() {
            match w {
                "write" => out.write = true,
                "admin" => out.admin = true,
                _ => {}
            }
        }
        out
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut v = vec!["read"];
        if self.write {
            v.push("write");
        }
        if self.admin {
            v.push("admin");
        }
        v
    }

    /// True if every scope of `self` is also in `other`.
    pub fn within(&self, other: &Scopes) -> bool {
        (!self.write || other.write) && (!self.admin || other.admin)
    }
}

/// The scope a request needs, by its HTTP method alone: reading methods
/// need `read`, every other method `write`. The API applies this to
/// every route in one place.
pub fn scope_for_method(method: &str) -> TokenScope {
    match method {
        "GET" | "HEAD" | "OPTIONS" => TokenScope::Read,
        _ => TokenScope::Write,
    }
}

/// Days until expiry: default 90, 1 to 365.
pub fn parse_days(field: &'static str, days: Option<i64>) -> Result<i64, FieldError> {
    match days {
        None => Ok(DEFAULT_DAYS),
        Some(d) if (1..=MAX_DAYS).contains(&d) => Ok(d),
        Some(_) => Err(FieldError::new(field, "error.token_expiry_invalid")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaked_token_is_recognised_by_its_checksum() {
        let t = format_token(&[7u8; 64]).unwrap();
        assert!(t.starts_with("cc_"));
        assert_eq!(t.len(), 3 + 36 + 6);
        assert!(looks_like_token(&t));
        // One character changed: the checksum no longer matches.
        let mut b = t.clone().into_bytes();
        b[10] = if b[10] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(b).unwrap();
        assert!(!looks_like_token(&changed));
        // A string of the right shape but a made-up checksum.
        let fake = format!("cc_{}{}", "a".repeat(36), "zzzzzz");
        assert!(!looks_like_token(&fake) || checksum(&"a".repeat(36)) == "zzzzzz");
        assert!(!looks_like_token("cc_short"));
        assert!(!looks_like_token(&t.replacen("cc_", "xx_", 1)));
        // A known value, so another implementation can check itself.
        let body = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let known = format!("cc_{body}{}", checksum(body));
        assert!(looks_like_token(&known));
    }

    #[test]
    fn too_few_usable_bytes() {
        assert!(format_token(&[255u8; 64]).is_none());
        assert!(format_token(&[1u8; 10]).is_none());
    }

    #[test]
    fn scopes_parse_and_round_trip() {
        let s = Scopes::parse("scopes", &["read", "write"]).unwrap();
        assert_eq!(
            s,
            Scopes {
                write: true,
                admin: false
            }
        );
        assert_eq!(Scopes::from_db(&s.to_db()), s);
        assert!(Scopes::parse("scopes", &["root"]).is_err());
        assert!(Scopes::parse::<&str>("scopes", &[]).is_err());
        assert!(Scopes::READ.within(&s));
        assert!(!Scopes::FULL.within(&s));
        assert_eq!(scope_for_method("GET"), TokenScope::Read);
        assert_eq!(scope_for_method("DELETE"), TokenScope::Write);
        assert_eq!(parse_days("d", None).unwrap(), 90);
        assert!(parse_days("d", Some(366)).is_err());
        assert!(parse_days("d", Some(0)).is_err());
    }
}
