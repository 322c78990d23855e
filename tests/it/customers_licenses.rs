//! Customers and licenses through the API: the seed's steps 1 and 2 and
//! their rules.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

pub async fn seed_customer(app: &TestApp, token: &str) -> (String, String) {
    let (s, c) = app
        .api("POST", "/api/v1/customers", token, Some(json!({
            "name": "Testiasiakas Oy", "vat_id": "1231231231123123", "street_address": "Katu 13",
            "postal_code": "02190", "postal_area": "Espoo"
        })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (s, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{id}/licenses"),
            token,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    (id, l["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn the_seeds_steps_one_and_two() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = seed_customer(&app, &t).await;
    // Step 1: edit and save the customer.
    let (s, c) = app
        .api("PUT", &format!("/api/v1/customers/{cid}"), &t, Some(json!({
            "name": "Testiasiakas Oy", "vat_id": "1231231231123123", "street_address": "Katu 14",
            "postal_code": "02190", "postal_area": "Espoo", "username_prefix": "testi."
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["street_address"], "Katu 14");
    assert_eq!(c["username_prefix"], "testi.");
    // Step 2: 5 standard + 1 server, old licenses included → 75 GB.
    let (s, l) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"standard_seats": 5, "server_seats": 1, "extra_space_gb": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!(l["total_space_gb"], 75);
    assert_eq!(l["standard_seats"], 5);
    assert_eq!(l["standard_used"], 0);
    assert_eq!(l["server_used"], 0);
    assert_eq!(l["number"], lid.as_str());
    assert_eq!(l["type"], "purchased");
    assert_eq!(l["state"], "active");
    assert_eq!(l["client_limit_gb"], 0);
    let (_, l) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"extra_space_gb": "20"})),
        )
        .await;
    assert_eq!(l["total_space_gb"], 95, "strings from forms count too");
    let (s, list) = app
        .api(
            "GET",
            &format!("/api/v1/customers/{cid}/licenses"),
            &t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Both changes are in the audit log, before → after.
    let (_, log) = app
        .api("GET", "/api/v1/audit?action=license.update", &t, None)
        .await;
    assert_eq!(log["items"][1]["before"]["standard_seats"], 0);
    assert_eq!(log["items"][1]["after"]["standard_seats"], 5);
    app.finish().await;
}

#[tokio::test]
async fn bad_license_values_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = seed_customer(&app, &t).await;
    let path = format!("/api/v1/licenses/{lid}");
    for (body, field) in [
        (json!({"standard_seats": -1}), "standard_seats"),
        (json!({"server_seats": "two"}), "server_seats"),
        (json!({"extra_space_gb": 1.5}), "extra_space_gb"),
        (json!({"type": "free"}), "type"),
        (json!({"state": "dormant"}), "state"),
        (
            json!({"created": "2020-01-02", "valid_to": "2020-01-01"}),
            "valid_to",
        ),
        (json!({"valid_to": "15.2.2012"}), "valid_to"),
    ] {
        let (s, v) = app.api("PUT", &path, &t, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["errors"][0]["field"], field, "{body}: {v}");
    }
    let (_, l) = app.api("GET", &path, &t, None).await;
    assert_eq!(l["standard_seats"], 0);
    assert_eq!(l["type"], "purchased");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'license.update'")
            .await,
        0
    );
    app.finish().await;
}

#[tokio::test]
async fn seats_cannot_go_below_those_in_use() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = seed_customer(&app, &t).await;
    app.api(
        "PUT",
        &format!("/api/v1/licenses/{lid}"),
        &t,
        Some(json!({"standard_seats": 5, "server_seats": 1})),
    )
    .await;
    // Three workstations are installed (installations arrive with the
    // client API; the counter is what they maintain).
    app.exec(&format!(
        "UPDATE licenses SET standard_used = 3, server_used = 1 WHERE id = '{lid}'"
    ))
    .await;
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"standard_seats": 2, "server_seats": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "seats_below_used");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("3 seats in use") && detail.contains("1 seats in use"),
        "{detail}"
    );
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(
        (l["standard_seats"].as_i64(), l["server_seats"].as_i64()),
        (Some(5), Some(1)),
        "nothing changed"
    );
    assert_eq!(
        (l["standard_used"].as_i64(), l["server_used"].as_i64()),
        (Some(3), Some(1))
    );
    // Exactly the seats in use is fine.
    let (s, _) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"standard_seats": 3})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // And a customer with installations cannot be deleted.
    let (s, v) = app
        .api("DELETE", &format!("/api/v1/customers/{cid}"), &t, None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["code"], "customer_has_installations");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("4 active installation"),
        "{v}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1);
    app.finish().await;
}

#[tokio::test]
async fn delete_removes_customer_and_licenses_with_audit() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, _) = seed_customer(&app, &t).await;
    let (s, _) = app
        .api("DELETE", &format!("/api/v1/customers/{cid}"), &t, None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM licenses").await, 0);
    let (_, log) = app
        .api("GET", "/api/v1/audit?action=customer.delete", &t, None)
        .await;
    assert_eq!(log["items"][0]["before"]["name"], "Testiasiakas Oy");
    let (s, _) = app
        .api("GET", &format!("/api/v1/customers/{cid}"), &t, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test]
async fn a_license_past_valid_to_shows_as_expired() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = seed_customer(&app, &t).await;
    let today = time::OffsetDateTime::now_utc().date();
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let yesterday = today.previous_day().unwrap().format(&fmt).unwrap();
    let today_s = today.format(&fmt).unwrap();
    let (_, l) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"created": "2020-01-01", "valid_to": today_s})),
        )
        .await;
    assert_eq!(l["state"], "active", "valid through the last day");
    // Nobody saves anything: the date passes (we move it back directly).
    app.exec(&format!(
        "UPDATE licenses SET valid_to = '{yesterday}' WHERE id = '{lid}'"
    ))
    .await;
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["state"], "expired");
    assert_eq!(l["saved_state"], "active");
    app.finish().await;
}

#[tokio::test]
async fn customer_fields_are_checked() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(json!({
                "name": "", "vat_id": "0112038-8", "postal_code": "2190", "country": "Finland",
                "contact_email": "not-an-email", "language": "sv", "username_prefix": "ä"
            })),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields: Vec<String> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "contact_email",
            "country",
            "language",
            "name",
            "postal_code",
            "username_prefix",
            "vat_id"
        ],
        "{v}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 0);
    // Finnish ids with a right check digit; VAT normalised.
    let (s, c) = app.api("POST", "/api/v1/customers", &t, Some(json!({"name": "A Oy", "vat_id": "fi 0112 0389", "postal_code": "00100", "username_prefix": "AOY"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["vat_id"], "FI01120389");
    assert_eq!(c["username_prefix"], "aoy");
    // Postal code rules depend on the country.
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(json!({"name": "UK Ltd", "country": "GB", "postal_code": "SW1A 1AA"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Prefixes are unique, whatever the case.
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(json!({"name": "B Oy", "username_prefix": "aOy"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["field"], "username_prefix");
    app.finish().await;
}

#[tokio::test]
async fn the_encryption_key_is_a_secret() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let key = "very-secret-customer-key-42";
    let (s, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(json!({"name": "Salainen Oy", "encryption_key": key})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = c["id"].as_str().unwrap();
    assert!(!c.to_string().contains(key));
    assert_eq!(c["encryption_key_set"], true);
    let (_, list) = app.api("GET", "/api/v1/customers", &t, None).await;
    assert!(!list.to_string().contains(key));
    // Not readable from a database dump.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM customers WHERE encryption_key_enc LIKE '%{key}%'"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE encryption_key_enc IS NOT NULL")
            .await,
        1
    );
    // Revealing it is audited.
    let (s, v) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{id}/encryption-key/reveal"),
            &t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["encryption_key"], key);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.reveal_encryption_key'")
            .await,
        1
    );
    // Changing it is audited as changed, never with the value.
    let (s, _) = app
        .api(
            "PUT",
            &format!("/api/v1/customers/{id}"),
            &t,
            Some(json!({"name": "Salainen Oy", "encryption_key": "another-key-value"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // A PUT without the key keeps it.
    let (_, c) = app
        .api(
            "PUT",
            &format!("/api/v1/customers/{id}"),
            &t,
            Some(json!({"name": "Salainen Oy"})),
        )
        .await;
    assert_eq!(c["encryption_key_set"], true);
    let (_, v) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{id}/encryption-key/reveal"),
            &t,
            None,
        )
        .await;
    assert_eq!(v["encryption_key"], "another-key-value");
    let (_, log) = app
        .api("GET", "/api/v1/audit?action=customer.update", &t, None)
        .await;
    assert!(!log.to_string().contains("another-key-value") && !log.to_string().contains(key));
    assert_eq!(log["items"][1]["after"]["encryption_key"], "changed");
    // An empty key gives a new random one: a customer's repositories
    // always have a password.
    let (_, c) = app
        .api(
            "PUT",
            &format!("/api/v1/customers/{id}"),
            &t,
            Some(json!({"name": "Salainen Oy", "encryption_key": ""})),
        )
        .await;
    assert_eq!(c["encryption_key_set"], true);
    let (_, shown) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{id}/encryption-key/reveal"),
            &t,
            None,
        )
        .await;
    let fresh = shown["encryption_key"].as_str().unwrap();
    assert!(fresh.len() >= 40 && fresh != "another-key-value", "{shown}");
    app.finish().await;
}

#[tokio::test]
async fn lists_page_and_search() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    for (name, vat) in [
        ("Delta Oy", ""),
        ("alfa oy", "FI01120389"),
        ("Charlie Ab", ""),
        ("Bravo 100% Oy", ""),
        ("Echo_Oy", ""),
    ] {
        let (s, v) = app
            .api(
                "POST",
                "/api/v1/customers",
                &t,
                Some(json!({"name": name, "vat_id": vat})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/customers?limit=2&cursor={c}"),
            None => "/api/v1/customers?limit=2".into(),
        };
        let (s, page) = app.api("GET", &path, &t, None).await;
        assert_eq!(s, StatusCode::OK);
        for c in page["items"].as_array().unwrap() {
            names.push(c["name"].as_str().unwrap().to_string());
        }
        match &page["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            _ => break,
        }
    }
    assert_eq!(
        names,
        [
            "alfa oy",
            "Bravo 100% Oy",
            "Charlie Ab",
            "Delta Oy",
            "Echo_Oy"
        ],
        "by name, case-insensitive, every row once"
    );
    let (_, hits) = app.api("GET", "/api/v1/customers?q=0112", &t, None).await;
    assert_eq!(hits["items"][0]["name"], "alfa oy", "search by VAT id");
    let (_, hits) = app.api("GET", "/api/v1/customers?q=100%25", &t, None).await;
    assert_eq!(
        hits["items"].as_array().unwrap().len(),
        1,
        "a % in the search is a literal: {hits}"
    );
    let (_, hits) = app.api("GET", "/api/v1/customers?q=o_o", &t, None).await;
    assert_eq!(
        hits["items"].as_array().unwrap().len(),
        1,
        "an _ in the search is a literal: {hits}"
    );
    app.finish().await;
}

#[tokio::test]
async fn customers_belong_to_vendors() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.vendor(&admin, "Vendor A").await;
    let b = app.vendor(&admin, "Vendor B").await;
    // An admin names the vendor, or gets the default one.
    let (_, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &admin,
            Some(json!({"name": "For A", "vendor_id": a})),
        )
        .await;
    assert_eq!(c["vendor_id"], a.as_str());
    let (_, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &admin,
            Some(json!({"name": "Default's"})),
        )
        .await;
    assert_eq!(c["vendor_name"], "Default vendor");
    // An operator's customers go to its own vendor.
    app.operator(&admin, "op@a.example", "operator", Some(&a))
        .await;
    let op = app.token("op@a.example", PASSWORD).await;
    let (_, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &op,
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(c["vendor_id"], a.as_str());
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/customers",
            &op,
            Some(json!({"name": "Theirs", "vendor_id": b})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another vendor's id is not even there"
    );
    // The vendor filter for admins.
    let (_, list) = app
        .api(
            "GET",
            &format!("/api/v1/customers?vendor_id={a}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let (_, list) = app.api("GET", "/api/v1/customers", &op, None).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "an operator sees its vendor's customers only"
    );
    app.finish().await;
}
