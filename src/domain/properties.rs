//! Property tests for every parser of the domain: whatever the input, a
//! parser answers (a value or field errors) and never panics, and where a
//! value has a written form, writing and parsing it again gives it back.

use proptest::prelude::*;

use super::client::{NewReport, RawReport};
use super::customer::{self, CustomerInput, NewCustomer};
use super::invite::{self, InviteInput, NewInvite};
use super::license::{self, LicenseBase, LicenseInput, NewLicense};
use super::vendor::{NewVendor, VendorInput};
use super::{Email, InstallationId, Password, line, text, totp};

/// Any text, with a bias to what breaks parsers: controls, NUL, separators,
/// non-ASCII, very long runs.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "[\\x00-\\x1f\\u{7f}\\u{85}\\u{2028}a-z@.\\-_ äÖ€]{0,40}",
        "[0-9\\-]{0,30}",
        ".{0,3}".prop_map(|s| s.repeat(500)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn email_never_panics_and_round_trips(raw in nasty()) {
        if let Ok(e) = Email::parse("email", &raw) {
            let again = Email::parse("email", e.as_str()).expect("a parsed e-mail parses again");
            prop_assert_eq!(again.as_str(), e.as_str());
            prop_assert!(!e.as_str().chars().any(char::is_control));
        }
    }

    #[test]
    fn generated_emails_parse(local in "[a-z0-9][a-z0-9._+-]{0,20}", domain in "[a-z0-9]{1,12}\\.[a-z]{2,6}") {
        let raw = format!("{local}@{domain}");
        prop_assert!(Email::parse("email", &raw).is_ok(), "{}", raw);
    }

    #[test]
    fn text_and_line_fields(raw in nasty(), max in 0usize..300, required: bool) {
        if let Ok(s) = text("f", &raw, max, required) {
            prop_assert!(s.chars().count() <= max);
            prop_assert_eq!(s.trim(), s.as_str());
        }
        if let Ok(s) = line("f", &raw, max, required) {
            prop_assert!(!s.chars().any(char::is_control), "{:?}", s);
        }
    }

    #[test]
    fn customer_fields(name in nasty(), vat in nasty(), postal in nasty(), country in nasty(), lang in nasty(), prefix in nasty()) {
        let _ = customer::parse_vat_id(&vat);
        let _ = customer::parse_postal_code(&postal, &country);
        let _ = customer::parse_country(&country);
        let _ = customer::parse_language(&lang);
        if let Ok(Some(p)) = customer::parse_username_prefix(&prefix) {
            prop_assert_eq!(customer::parse_username_prefix(&p).ok().flatten(), Some(p.clone()));
        }
        let raw = CustomerInput { name, vat_id: vat, postal_code: postal, country, language: lang, username_prefix: Some(prefix), ..Default::default() };
        if let Err(errors) = NewCustomer::parse(&raw) {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn license_fields(a in nasty(), b in nasty(), c in nasty(), d in nasty(), t in nasty(), s in nasty()) {
        let _ = license::parse_count("standard_seats", &a);
        let _ = license::parse_date("valid_to", &d);
        let _ = license::LicenseType::parse(&t);
        let _ = license::LicenseState::parse(&s);
        let raw = LicenseInput {
            standard_seats: Some(a), server_seats: Some(b), extra_space_gb: Some(c), valid_to: Some(d),
            r#type: Some(t), state: Some(s), ..Default::default()
        };
        let _ = NewLicense::parse(&raw, &LicenseBase::new_license(license::today()));
    }

    #[test]
    fn dates_round_trip(days in -50_000i64..50_000) {
        let d = time::Date::from_calendar_date(2000, time::Month::January, 1).unwrap() + time::Duration::days(days);
        let written = license::format_date(d);
        prop_assert_eq!(license::parse_date("valid_to", &written).ok(), Some(d));
    }

    #[test]
    fn invite_fields(user in nasty(), email in nasty(), kind in nasty(), days in nasty(), prefix in proptest::option::of("[a-z]{1,8}\\."), replaces in nasty()) {
        if let Ok(u) = invite::parse_username(&user, prefix.as_deref()) {
            prop_assert!(u.chars().all(customer::username_char), "{:?}", u);
        }
        if let Ok(n) = invite::parse_store_deleted(&days) {
            prop_assert!((1..=3650).contains(&n));
        }
        let _ = invite::parse_replaces(&replaces);
        let raw = InviteInput { username: user, email, software_type: kind, store_deleted_days: Some(days), replaces_installation_id: Some(replaces) };
        let _ = NewInvite::parse(&raw, prefix.as_deref());
    }

    #[test]
    fn activation_codes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 16..64)) {
        if let Some(code) = invite::code_from_random(&bytes) {
            prop_assert_eq!(code.len(), 19);
            prop_assert!(code.bytes().all(|b| b == b'-' || invite::CODE_ALPHABET.contains(&b)));
            // Typed in lower case with spaces instead of dashes: the same code.
            let typed = code.to_lowercase().replace('-', " ");
            prop_assert_eq!(invite::normalize_code(&typed), invite::normalize_code(&code));
        }
    }

    #[test]
    fn installation_ids_round_trip(raw in nasty()) {
        if let Ok(id) = raw.parse::<InstallationId>() {
            prop_assert_eq!(id.to_db().parse::<InstallationId>().ok(), Some(id));
        }
        let id = InstallationId::new();
        prop_assert_eq!(id.to_string().parse::<InstallationId>().ok(), Some(id));
    }

    #[test]
    fn vendor_and_password(name in nasty(), email in nasty(), pw in nasty()) {
        let _ = NewVendor::parse(&VendorInput { name, alert_email: Some(email), ..Default::default() });
        let _ = Password::parse("password", &pw);
    }

    #[test]
    fn reports(started in nasty(), finished in nasty(), status in nasty(), n in any::<i64>(), message in nasty(), snapshot in proptest::option::of(nasty())) {
        let r = RawReport {
            started_at: &started, finished_at: &finished, status: &status,
            bytes_total: n, bytes_uploaded: n, files_total: n, files_changed: n,
            message: &message, snapshot_id: snapshot.as_deref(), files_new: Some(n), simulated: false,
        };
        if let Ok(p) = NewReport::parse(r, 1_781_500_000_000) {
            prop_assert!(p.bytes_total >= 0 && p.files_total >= 0);
            prop_assert!(p.finished_at >= p.started_at);
        }
    }

    #[test]
    fn totp_codes(secret in proptest::collection::vec(any::<u8>(), 10..40), typed in nasty(), step in 0i64..100_000_000) {
        let b32 = totp::base32_encode(&secret);
        prop_assert_eq!(totp::base32_decode(&b32), Some(secret.clone()));
        let code = totp::code_at(&secret, step);
        prop_assert_eq!(code.len(), 6);
        prop_assert_eq!(totp::parse_code(&code), Some(code.clone()));
        let _ = totp::parse_code(&typed);
        let _ = totp::parse_recovery_code(&typed);
        let _ = totp::device_of(&typed);
    }
}
