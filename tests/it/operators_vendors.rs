//! Vendors and operators: admins manage them; others are refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn admin_manages_vendors_and_operators_with_audit() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Nexetic Reseller").await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/vendors",
            &admin,
            Some(json!({"name": "nexetic reseller"})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "names are unique case-insensitively: {v}"
    );
    assert_eq!(v["code"], "vendor_name_taken");
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/vendors",
            &admin,
            Some(json!({"name": "  "})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["errors"][0]["field"], "name");
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/vendors/{vendor}"),
            &admin,
            Some(json!({"name": "Nexetic Partner", "alert_email": "alerts@partner.fi"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["alert_email"], "alerts@partner.fi");

    let op = app
        .operator(&admin, "Timo@Partner.fi", "operator", Some(&vendor))
        .await;
    let (s, v) = app.api("POST", "/api/v1/operators", &admin, Some(json!({"email": "timo@partner.fi", "password": PASSWORD, "role": "viewer", "vendor_id": vendor}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "email_taken");
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/operators",
            &admin,
            Some(json!({"email": "x@partner.fi", "password": "short", "role": "operator"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert!(
        fields.contains(&"password".to_string()) && fields.contains(&"vendor_id".to_string()),
        "{v}"
    );
    let (s, v) = app
        .api("GET", &format!("/api/v1/operators/{op}"), &admin, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("password_hash").is_none());
    assert_eq!(v["vendor_name"], "Nexetic Partner");

    // Every change is in the audit log with before and after.
    let (_, log) = app
        .api("GET", "/api/v1/audit?action=vendor.update", &admin, None)
        .await;
    let row = &log["items"][0];
    assert_eq!(row["before"]["name"], "Nexetic Reseller");
    assert_eq!(row["after"]["name"], "Nexetic Partner");
    assert_eq!(row["actor"], ADMIN_EMAIL);
    let (_, log) = app
        .api("GET", "/api/v1/audit?action=operator.create", &admin, None)
        .await;
    assert_eq!(
        log["items"].as_array().unwrap().len(),
        2,
        "bootstrap admin and Timo"
    );
    app.finish().await;
}

#[tokio::test]
async fn admin_only_endpoints_refuse_operators_and_viewers() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "V").await;
    app.operator(&admin, "op@v.example", "operator", Some(&vendor))
        .await;
    app.operator(&admin, "view@v.example", "viewer", Some(&vendor))
        .await;
    for who in ["op@v.example", "view@v.example"] {
        let t = app.token(who, PASSWORD).await;
        for (m, p, body) in [
            ("GET", "/api/v1/vendors".to_string(), None),
            (
                "POST",
                "/api/v1/vendors".to_string(),
                Some(json!({"name": "Mine"})),
            ),
            (
                "PUT",
                format!("/api/v1/vendors/{vendor}"),
                Some(json!({"name": "Mine"})),
            ),
            ("GET", "/api/v1/operators".to_string(), None),
            (
                "POST",
                "/api/v1/operators".to_string(),
                Some(json!({"email": "n@v.example", "password": PASSWORD, "role": "admin"})),
            ),
        ] {
            let (s, v) = app.api(m, &p, &t, body).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{who} {m} {p}: {v}");
            assert_eq!(v["code"], "forbidden");
        }
        // The console hides and refuses the admin pages.
        let b = Browserless::new(&app);
        assert_eq!(b.sign_in(who, PASSWORD).await, StatusCode::SEE_OTHER);
        let (s, html) = b.get("/audit").await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            !html.contains("href=\"/vendors\""),
            "no Vendors menu entry for {who}"
        );
        let (s, _) = b.get("/vendors").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let csrf = b.csrf("/audit").await;
        let (s, _, _) = b
            .post("/vendors", &[("_csrf", &csrf), ("name", "Sneaky")])
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM vendors").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM operators").await, 3);
    app.finish().await;
}

#[tokio::test]
async fn the_last_admin_cannot_lock_everyone_out() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, list) = app.api("GET", "/api/v1/operators", &admin, None).await;
    let me = list["items"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/operators/{me}"),
            &admin,
            Some(json!({"role": "admin", "disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "last_admin");
    let (s, _) = app.api("GET", "/api/v1/vendors", &admin, None).await;
    assert_eq!(s, StatusCode::OK, "nothing changed, the token still works");
    app.finish().await;
}

#[tokio::test]
async fn operator_forms_in_the_console() {
    let app = TestApp::spawn().await;
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = b.csrf("/operators").await;
    // Errors keep what was typed (but never the password).
    let (s, html, _) = b
        .post(
            "/operators",
            &[
                ("_csrf", &csrf),
                ("email", "kaisa@example.fi"),
                ("password", "lyhyt"),
                ("role", "operator"),
                ("vendor_id", ""),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("kaisa@example.fi"));
    assert!(!html.contains("lyhyt"));
    assert!(html.contains("Operators and viewers need a vendor."));
    let (_, list) = b.get("/vendors").await;
    let i = list.find("href=\"/vendors/").unwrap() + "href=\"/vendors/".len();
    let vendor = &list[i..i + 36];
    let (s, _, _) = b
        .post(
            "/operators",
            &[
                ("_csrf", &csrf),
                ("email", "kaisa@example.fi"),
                ("password", PASSWORD),
                ("role", "viewer"),
                ("vendor_id", vendor),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = b.get("/operators").await;
    assert!(html.contains("kaisa@example.fi") && html.contains("Viewer"));
    // Finnish.
    let (_, _) = b.get("/lang/fi?back=/operators").await;
    let (_, html) = b.get("/operators").await;
    assert!(
        html.contains("Käyttäjät") && html.contains("Katselija"),
        "{html}"
    );
    assert!(html.contains("lang=\"fi\""));
    app.finish().await;
}
