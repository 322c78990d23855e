//! The password policy: at least 12 characters, at most 128.

use super::{FieldError, Secret};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;

/// A new password that meets the policy.
#[derive(Debug, Clone)]
pub struct Password(Secret<String>);

impl Password {
    pub fn parse(field: &'static str, raw: &str) -> Result<Password, FieldError> {
        let n = raw.chars().count();
        if n < MIN_LEN {
            return Err(FieldError::new(field, "error.password_short"));
        }
        if n > MAX_LEN {
            return Err(FieldError::new(field, "error.password_long"));
        }
        Ok(Password(Secret::new(raw.to_string())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn length_bounds() {
        assert!(Password::parse("p", "short").is_err());
        assert!(Password::parse("p", "elevenchars").is_err());
        assert!(Password::parse("p", "twelve chars").is_ok());
        assert!(Password::parse("p", &"x".repeat(128)).is_ok());
        assert!(Password::parse("p", &"x".repeat(129)).is_err());
        // characters, not bytes
        assert!(Password::parse("p", &"ä".repeat(12)).is_ok());
    }
}
