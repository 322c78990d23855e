//! Who may do what.

use super::FieldError;

/// An operator's role. `admin` sees every vendor; `operator` manages its own
/// vendor; `viewer` reads its own vendor and changes nothing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Viewer,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(field: &'static str, s: &str) -> Result<Role, FieldError> {
        match s.trim().to_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            _ => Err(FieldError::new(field, "error.role_invalid")),
        }
    }

    pub fn can_write(&self) -> bool {
        !matches!(self, Role::Viewer)
    }
}
