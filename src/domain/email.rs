//! E-mail addresses, parsed at the edge.

use super::FieldError;

/// A syntactically plausible e-mail address, trimmed. Domains are
/// lower-cased; the local part is kept as typed (it may be case-sensitive on
/// the receiving server), but comparisons for sign-in use [`Email::key`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &'static str, raw: &str) -> Result<Email, FieldError> {
        let s = raw.trim();
        let invalid = || FieldError::new(field, "error.email_invalid");
        if s.is_empty() {
            return Err(FieldError::new(field, "error.required"));
        }
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || local.contains(['<', '>', '"', ',', ';'])
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with(['.', '-'])
            || domain.ends_with(['.', '-'])
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        {
            return Err(invalid());
        }
        Ok(Email(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key used for uniqueness and sign-in.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "timo.virtanen@testiasiakas.fi",
            "a+b@x.io",
            " T@Example.COM ",
        ] {
            assert!(Email::parse("email", ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Email::parse("e", "T@Example.COM").unwrap().as_str(),
            "T@example.com"
        );
        assert_eq!(
            Email::parse("e", "T@Example.COM").unwrap().key(),
            "t@example.com"
        );
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "", "x", "a@b", "a@@b.fi", "a b@c.fi", "@c.fi", "a@.fi", "a@c..fi", "<a@b.fi>",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }
}
