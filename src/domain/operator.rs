//! Operators (the people who sign in): what their form carries.

use super::{Email, FieldError, Password, Role, Secret, VendorId, line};

/// An operator as typed (API body or form). On edit, `email` is ignored
/// (an operator's e-mail is its identity) and an empty `password` keeps
/// the current one.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct OperatorInput {
    /// Required to create; ignored on edit.
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// Required to create; on edit, left out or empty keeps the password.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret<String>>,
    #[schema(value_type = crate::domain::Role)]
    pub role: String,
    /// The operator's vendor; none for admins.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub vendor_id: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

impl OperatorInput {
    /// The vendor the input names, if its text is an id at all (whether
    /// it exists is the store's to say, before parsing).
    pub fn named_vendor(&self) -> Option<VendorId> {
        self.vendor_id.as_deref()?.trim().parse().ok()
    }
}

/// A new operator, every field parsed.
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub email: Email,
    pub name: String,
    pub password: Password,
    pub role: Role,
    /// None exactly for admins.
    pub vendor_id: Option<VendorId>,
}

/// An edit of an operator, every field parsed. `None`: keep.
#[derive(Debug, Clone)]
pub struct OperatorChange {
    pub name: String,
    pub password: Option<Password>,
    pub role: Role,
    /// None exactly for admins.
    pub vendor_id: Option<VendorId>,
    pub disabled: Option<bool>,
}

/// The vendor of an operator with this role: admins have none (a named
/// one is ignored), everyone else must name an existing one.
fn vendor_for(
    raw: Option<&str>,
    role: Option<Role>,
    exists: &dyn Fn(VendorId) -> bool,
) -> Result<Option<VendorId>, FieldError> {
    let named = match raw.map(str::trim) {
        None | Some("") => None,
        Some(v) => match v.parse::<VendorId>() {
            Ok(id) if exists(id) => Some(id),
            _ => return Err(FieldError::new("vendor_id", "error.vendor_unknown")),
        },
    };
    match (role, named) {
        (Some(Role::Admin), _) => Ok(None),
        (Some(_), None) => Err(FieldError::new("vendor_id", "error.vendor_required")),
        (_, named) => Ok(named),
    }
}

impl NewOperator {
    /// Parses a new operator; `exists` says whether a vendor id is known.
    /// Every field error at once.
    pub fn parse(
        raw: &OperatorInput,
        exists: &dyn Fn(VendorId) -> bool,
    ) -> Result<NewOperator, Vec<FieldError>> {
        parse_fields! {
            email = Email::parse("email", &raw.email),
            name = line("name", &raw.name, 200, false),
            password = Password::parse(
                "password",
                raw.password.as_ref().map(|p| p.expose().as_str()).unwrap_or(""),
            ),
            role = Role::parse("role", &raw.role),
            vendor_id = vendor_for(raw.vendor_id.as_deref(), role.as_ref().ok().copied(), exists),
        }
        Ok(NewOperator {
            email,
            name,
            password,
            role,
            vendor_id,
        })
    }
}

impl OperatorChange {
    /// Parses an edit (the e-mail is not editable and not read); every
    /// field error at once.
    pub fn parse(
        raw: &OperatorInput,
        exists: &dyn Fn(VendorId) -> bool,
    ) -> Result<OperatorChange, Vec<FieldError>> {
        parse_fields! {
            name = line("name", &raw.name, 200, false),
            password = match raw.password.as_ref().map(|p| p.expose().as_str()) {
                None | Some("") => Ok(None),
                Some(p) => Password::parse("password", p).map(Some),
            },
            role = Role::parse("role", &raw.role),
            vendor_id = vendor_for(raw.vendor_id.as_deref(), role.as_ref().ok().copied(), exists),
        }
        Ok(OperatorChange {
            name,
            password,
            role,
            vendor_id,
            disabled: raw.disabled,
        })
    }
}

/// The first administrator, from the setup page.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub email: Email,
    pub name: String,
    pub password: Password,
}

impl FirstAdmin {
    /// Parses the setup form's fields; every field error at once.
    pub fn parse(email: &str, name: &str, password: &str) -> Result<FirstAdmin, Vec<FieldError>> {
        parse_fields! {
            email = Email::parse("email", email),
            password = Password::parse("password", password),
            name = line("name", name, 200, false),
        }
        Ok(FirstAdmin {
            email,
            name,
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(role: &str, vendor: Option<&str>) -> OperatorInput {
        OperatorInput {
            email: "a@example.com".into(),
            password: Some(Secret::new("correct horse battery".into())),
            role: role.into(),
            vendor_id: vendor.map(str::to_string),
            ..OperatorInput::default()
        }
    }

    #[test]
    fn role_and_vendor_go_together() {
        let v = VendorId::new();
        let known = |id: VendorId| id == v;
        let vs = v.to_string();
        let admin = NewOperator::parse(&input("admin", Some(&vs)), &known);
        assert!(admin.is_ok_and(|o| o.vendor_id.is_none()));
        let op = NewOperator::parse(&input("operator", Some(&vs)), &known);
        assert!(op.is_ok_and(|o| o.vendor_id == Some(v)));
        let field_errors = |r: Result<NewOperator, Vec<FieldError>>| {
            r.err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            field_errors(NewOperator::parse(&input("viewer", None), &known)),
            ["error.vendor_required"]
        );
        let other = VendorId::new().to_string();
        assert_eq!(
            field_errors(NewOperator::parse(&input("admin", Some(&other)), &known)),
            ["error.vendor_unknown"]
        );
        assert_eq!(
            field_errors(NewOperator::parse(&input("boss", None), &known)),
            ["error.role_invalid"]
        );
    }
}
