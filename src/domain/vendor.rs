//! Vendors (resellers): what their form carries.

use super::{Email, FieldError, line};

/// The default vendor's name until the service is named (first-run setup,
/// `CC_SERVICE_NAME` or Settings). Never shown to a customer: mail uses
/// the service's address instead (see `mail::customer_facing_name`).
pub const PLACEHOLDER_NAME: &str = "Default vendor";

/// The service's name as typed: what customers see as the sender of
/// their invitations and alerts (the provider, e.g. "Nexetic Oy").
pub fn parse_service_name(field: &'static str, raw: &str) -> Result<String, FieldError> {
    let name = line(field, raw, 200, true)?;
    if name.eq_ignore_ascii_case(PLACEHOLDER_NAME) {
        return Err(FieldError::new(field, "error.service_name_placeholder"));
    }
    Ok(name)
}

/// A vendor as typed (API body or form), checked by [`NewVendor::parse`].
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[schema(description = "A vendor to create or save; every field error is answered at once (422).")]
pub struct VendorInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Where the vendor's alerts are e-mailed. Unlike the settings below,
    /// left out or empty means none: a save without it clears it.
    #[serde(default)]
    pub alert_email: Option<String>,
    /// en or fi; unchanged when left out (en for a new vendor).
    #[serde(default)]
    pub alert_language: Option<String>,
    /// Unchanged when left out (false for a new vendor).
    #[serde(default)]
    pub alert_digest: Option<bool>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Where the previous month's usage CSV is e-mailed on the 1st; an
    /// empty string clears it, left out keeps what is saved (none for a
    /// new vendor).
    #[serde(default)]
    pub billing_email: Option<String>,
}

/// A vendor to create or save, every field parsed. `None` on the optional
/// settings: keep what is saved (or the default of a new vendor).
#[derive(Debug, Clone)]
pub struct NewVendor {
    pub name: String,
    pub alert_email: Option<Email>,
    pub alert_language: Option<String>,
    pub alert_digest: Option<bool>,
    pub disabled: Option<bool>,
    /// `None`: keep what is saved; `Some(None)`: no billing address.
    pub billing_email: Option<Option<Email>>,
}

impl NewVendor {
    /// Parses a vendor as typed; every field error at once.
    pub fn parse(raw: &VendorInput) -> Result<NewVendor, Vec<FieldError>> {
        parse_fields! {
            name = line("name", &raw.name, 200, true),
            alert_email = match raw.alert_email.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(e) => Email::parse("alert_email", e).map(Some),
            },
            alert_language = match raw.alert_language.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(l @ ("en" | "fi")) => Ok(Some(l.to_string())),
                Some(_) => Err(FieldError::new("alert_language", "error.language")),
            },
            billing_email = match raw.billing_email.as_deref().map(str::trim) {
                None => Ok(None),
                Some("") => Ok(Some(None)),
                Some(e) => Email::parse("billing_email", e).map(|e| Some(Some(e))),
            },
        }
        Ok(NewVendor {
            name,
            alert_email,
            alert_language,
            alert_digest: raw.alert_digest,
            disabled: raw.disabled,
            billing_email,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vendor_reports_every_field_error_at_once() {
        let raw = VendorInput {
            name: "".into(),
            alert_email: Some("nope".into()),
            alert_language: Some("sv".into()),
            ..VendorInput::default()
        };
        let fields: Vec<&str> = NewVendor::parse(&raw)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["name", "alert_email", "alert_language"]);
        let ok = NewVendor::parse(&VendorInput {
            name: " Nexetic ".into(),
            alert_email: Some(" ".into()),
            ..VendorInput::default()
        });
        assert!(
            ok.as_ref()
                .is_ok_and(|v| v.name == "Nexetic" && v.alert_email.is_none()),
            "{ok:?}"
        );
    }
}
