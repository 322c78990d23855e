//! Sign-in, setup, sessions, tokens, rate limits and CSRF.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn setup_link_creates_the_first_admin_once() {
    let app = TestApp::spawn_with(&[]).await;
    let link = app
        .setup_link()
        .expect("a first start without an admin prints a setup link");
    let path = link.strip_prefix(&app.base).unwrap().to_string();
    let b = Browserless::new(&app);
    let (s, html) = b.get(&path).await;
    assert_eq!(s, StatusCode::OK);
    let csrf = csrf_of(&html);
    // A short password is refused and nothing is created.
    let (s, html, _) = b
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("email", "boss@example.com"),
                ("password", "short"),
                ("password_again", "short"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("At least 12 characters"), "{html}");
    assert!(
        html.contains("boss@example.com"),
        "what was typed stays in the form"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM operators").await, 0);

    let (s, _, loc) = b
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("email", "boss@example.com"),
                ("password", ADMIN_PASSWORD),
                ("password_again", ADMIN_PASSWORD),
                ("service_name", "Nexetic Oy"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc.as_deref(), Some("/"));
    let (s, html) = b.get("/vendors").await;
    assert_eq!(s, StatusCode::OK, "signed in right after setup");
    assert!(html.contains("Nexetic Oy"), "the service's name: {html}");
    assert!(!html.contains("Default vendor"), "{html}");

    // The link works once, and says so afterwards.
    let other = Browserless::new(&app);
    let (s, html) = other.get(&path).await;
    assert_eq!(s, StatusCode::GONE);
    assert!(html.contains("setup link has been used"), "{html}");
    assert!(html.contains("käyttöönottolinkki on jo käytetty"), "{html}");
    let (s, _, _) = other
        .post(
            &path,
            &[
                ("_csrf", "x"),
                ("email", "evil@example.com"),
                ("password", ADMIN_PASSWORD),
                ("password_again", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_ne!(s, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM operators").await, 1);
    app.finish().await;
}

#[tokio::test]
async fn bootstrap_from_environment_and_no_setup_link() {
    let app = TestApp::spawn().await;
    assert!(app.setup_link().is_none());
    let token = app.admin_token().await;
    assert!(token.len() >= 22, "at least 128 bits");
    let (s, v) = app.api("GET", "/api/v1/vendors", &token, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"][0]["name"], "Default vendor");
    assert_eq!(v["items"][0]["is_default"], true);
    // The token is stored only hashed.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM api_tokens WHERE token_hash = '{token}'"
        ))
        .await,
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, 1);
    app.finish().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    let (s1, v1) = app
        .api_anon(
            "POST",
            "/api/v1/auth/token",
            Some(json!({"email": ADMIN_EMAIL, "password": "wrong password here"})),
        )
        .await;
    let (s2, v2) = app
        .api_anon(
            "POST",
            "/api/v1/auth/token",
            Some(json!({"email": "nobody@example.com", "password": "wrong password here"})),
        )
        .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s1, s2);
    assert_eq!(v1, v2);
    assert_eq!(v1["code"], "invalid_credentials");
    // UI: same page for both.
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, "wrong password here").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        b.sign_in("nobody@example.com", "wrong password here").await,
        StatusCode::UNAUTHORIZED
    );
    // Failures are audited.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'signin.failure'")
            .await,
        4
    );
    app.finish().await;
}

#[tokio::test]
async fn sign_in_failures_are_rate_limited_per_account() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let (s, _) = app
            .api_anon(
                "POST",
                "/api/v1/auth/token",
                Some(json!({"email": ADMIN_EMAIL, "password": "not the password"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused for a while.
    let (s, v, h) = app
        .api_with_headers(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "rate_limited");
    let retry: u64 = h
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
    // The sign-in form says so too.
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.finish().await;
}

/// One address failing on many accounts: the account limit (5) does not
/// apply across accounts, the address limit (20) does.
#[tokio::test]
async fn sign_in_failures_are_rate_limited_per_address() {
    let app = TestApp::spawn().await;
    for i in 0..20 {
        let (s, v) = app
            .api_anon(
                "POST",
                "/api/v1/auth/token",
                Some(json!({"email": format!("nobody{i}@example.com"), "password": "not the password"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "failure {i}: {v}");
    }
    let (s, v) = app
        .api_anon(
            "POST",
            "/api/v1/auth/token",
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "rate_limited");
    app.finish().await;
}

#[tokio::test]
async fn forms_without_csrf_token_change_nothing() {
    let app = TestApp::spawn().await;
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (s, _, _) = b.post("/vendors", &[("name", "Forged Oy")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = b
        .post(
            "/vendors",
            &[("name", "Forged Oy"), ("_csrf", "not-the-token")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM vendors WHERE name = 'Forged Oy'")
            .await,
        0
    );
    // With the token it works.
    let csrf = b.csrf("/vendors").await;
    let (s, _, _) = b
        .post("/vendors", &[("name", "Real Oy"), ("_csrf", &csrf)])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM vendors WHERE name = 'Real Oy'")
            .await,
        1
    );
    // The sign-in form is protected too.
    let fresh = Browserless::new(&app);
    let (s, _, _) = fresh
        .post(
            "/login",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.finish().await;
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = b.csrf("/vendors").await;
    // Keep a copy of the session cookie as an attacker would.
    let (_, html) = b.get("/vendors").await;
    assert!(html.contains("Sign out"));
    let sessions_before = app.count("SELECT COUNT(*) FROM sessions").await;
    assert_eq!(sessions_before, 1);
    let (s, _, loc) = b.post("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc.as_deref(), Some("/login"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions").await,
        0,
        "the session is gone server-side"
    );
    let (s, _) = b.get("/vendors").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "back to sign-in");
    app.finish().await;
}

#[tokio::test]
async fn disabling_an_operator_ends_its_sessions_and_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Reseller A").await;
    let op = app
        .operator(&admin, "op@a.example", "operator", Some(&vendor))
        .await;
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in("op@a.example", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (s, _) = b.get("/audit").await;
    assert_eq!(s, StatusCode::OK);
    let op_token = app.token("op@a.example", PASSWORD).await;
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/operators/{op}"),
            &admin,
            Some(json!({"role": "operator", "vendor_id": vendor, "disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["disabled"], true);
    let (s, _) = b.get("/audit").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "session ended");
    let (s, v) = app.api("GET", "/api/v1/audit", &op_token, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    // And it cannot sign in again.
    assert_eq!(
        b.sign_in("op@a.example", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    app.finish().await;
}

#[tokio::test]
async fn disabling_a_vendor_locks_out_its_operators() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Reseller B").await;
    app.operator(&admin, "op@b.example", "operator", Some(&vendor))
        .await;
    let op_token = app.token("op@b.example", PASSWORD).await;
    let (s, _) = app
        .api(
            "PUT",
            &format!("/api/v1/vendors/{vendor}"),
            &admin,
            Some(json!({"name": "Reseller B", "disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.api("GET", "/api/v1/audit", &op_token, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .api_anon(
            "POST",
            "/api/v1/auth/token",
            Some(json!({"email": "op@b.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

#[tokio::test]
async fn revoked_api_token_stops_working() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (s, _) = app.api("DELETE", "/api/v1/auth/token", &token, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = app.api("GET", "/api/v1/vendors", &token, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["code"], "unauthorized");
    let (s, _) = app
        .api("GET", "/api/v1/vendors", "made-up-token", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

#[tokio::test]
async fn session_cookie_flags() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(app.url("/login")).send().await.unwrap();
    let pre = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let html = r.text().await.unwrap();
    let csrf = csrf_of(&html);
    let pre_value = pre.split(';').next().unwrap().to_string();
    let r = client
        .post(app.url("/login"))
        .header("cookie", pre_value)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("cc_session="))
        .unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    assert!(set.contains("Max-Age=4"), "about 12 hours: {set}");
    assert!(!set.contains("Secure"), "plain http in tests: {set}");
    // The language cookie is readable by the page, the others are not.
    let r = client
        .get(app.url("/lang/fi?back=/login"))
        .send()
        .await
        .unwrap();
    let lang = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(lang.starts_with("cc_lang=fi;"), "{lang}");
    assert!(
        !lang.contains("HttpOnly") && lang.contains("SameSite=Lax"),
        "{lang}"
    );
    app.finish().await;
}
