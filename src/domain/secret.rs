//! A wrapper that keeps secrets out of logs and debug output, and wipes
//! them from memory when dropped.

use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretBox};

/// A secret value: `Debug` and `Display` print `***`; the value is reached
/// only through [`Secret::expose`], which is easy to grep for. The value
/// lives in a `secrecy::SecretBox`, so its memory is zeroed on drop.
pub struct Secret<T: Zeroize>(SecretBox<T>);

impl<T: Zeroize> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(SecretBox::new(Box::new(value)))
    }
    pub fn expose(&self) -> &T {
        self.0.expose_secret()
    }
}

impl<T: Zeroize + Clone> Secret<T> {
    /// The value itself, for code that must own it. It is a copy: the
    /// wrapped value is still wiped, the returned one is the caller's care.
    pub fn into_inner(self) -> T {
        self.expose().clone()
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Secret::new(self.expose().clone())
    }
}

impl<T: Zeroize + PartialEq> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl<T: Zeroize + Eq> Eq for Secret<T> {}

impl<T: Zeroize + Default> Default for Secret<T> {
    fn default() -> Self {
        Secret::new(T::default())
    }
}

impl<T: Zeroize> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl<T: Zeroize> std::fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A secret arrives as its plain value (a JSON string, a form field).
impl<'de, T: Zeroize + serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn never_prints() {
        let s = Secret::new("hunter2hunter2".to_string());
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2hunter2");
    }

    #[test]
    fn keeps_its_value_through_clone_and_into_inner() {
        let s = Secret::new("hunter2hunter2".to_string());
        let c = s.clone();
        assert!(s == c);
        assert_eq!(s.into_inner(), "hunter2hunter2");
        assert_eq!(c.expose(), "hunter2hunter2");
        let k = Secret::new([7u8; 32]);
        assert_eq!(k.clone().expose(), &[7u8; 32]);
        assert_eq!(Secret::<String>::default().expose(), "");
    }

    #[test]
    fn deserializes_from_the_plain_value() {
        #[derive(serde::Deserialize)]
        struct Login {
            password: Secret<String>,
        }
        let l: Login = serde_json::from_str(r#"{"password": "hunter2hunter2"}"#).unwrap();
        assert_eq!(l.password.expose(), "hunter2hunter2");
        assert_eq!(format!("{:?}", l.password), "***");
    }
}
