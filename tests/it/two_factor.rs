//! Two-factor sign-in (TOTP + recovery codes), the security events in the
//! audit log, and sessions an operator can see and end.

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// RFC 6238 with SHA-1, 30 s, 6 digits — written here apart from the
/// server's code, so the two check each other.
fn totp(secret_b32: &str, step: i64) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut key) = (0u64, 0, Vec::new());
    for c in secret_b32.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u64;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            key.push((buf >> bits) as u8);
        }
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&(step as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 15) as usize;
    let n = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", n % 1_000_000)
}

fn step_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 30
}

async fn token_with(app: &TestApp, email: &str, totp: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(t) = totp {
        body["totp"] = json!(t);
    }
    app.api_anon("POST", "/api/v1/auth/token", Some(body)).await
}

/// Enrols an operator through the API; returns the secret, the step the
/// confirmation used, and the recovery codes.
async fn enrol(app: &TestApp, token: &str) -> (String, i64, Vec<String>) {
    let (s, v) = app.api("POST", "/api/v1/me/totp", token, None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let secret = v["secret"].as_str().unwrap().to_string();
    let url = v["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    // Pending until confirmed: sign-in still needs no code.
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/me/totp/confirm",
            token,
            Some(json!({"code": "000000"})),
        )
        .await;
    if s == StatusCode::OK {
        panic!("a made-up code confirmed: {v}");
    }
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let step = step_now();
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/me/totp/confirm",
            token,
            Some(json!({"code": totp(&secret, step)})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let codes: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, step, codes)
}

#[tokio::test]
async fn totp_through_the_api_once_per_code_and_recovery_codes_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Totp Oy").await;
    let email = "totp@example.com";
    app.operator(&admin, email, "operator", Some(&vendor)).await;
    let (s, v) = token_with(&app, email, None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let (secret, step, codes) = enrol(&app, &token).await;

    // Stored encrypted, recovery codes only hashed.
    let plain = app
        .count(&format!(
            "SELECT COUNT(*) FROM operators WHERE totp_secret LIKE '%{secret}%'"
        ))
        .await;
    assert_eq!(plain, 0, "the secret is not stored in plain text");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM recovery_codes WHERE code_hash = '{}'",
            codes[0]
        ))
        .await,
        0
    );
    // Enrolling again is refused while it is on.
    let (s, v) = app.api("POST", "/api/v1/me/totp", &token, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "totp_already_enabled");

    // Without a code: 401 totp_required.
    let (s, v) = token_with(&app, email, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["code"], "totp_required");
    // The code that confirmed enrolment is used up.
    let (s, v) = token_with(&app, email, Some(&totp(&secret, step))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["code"], "totp_invalid");
    // The next step's code works (one step of drift is allowed)…
    let next = totp(&secret, step + 1);
    let (s, v) = token_with(&app, email, Some(&next)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // …once.
    let (s, v) = token_with(&app, email, Some(&next)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["code"], "totp_invalid");
    // A wrong password with a right code is still a wrong password.
    let (s, v) = app
        .api_anon(
            "POST",
            "/api/v1/auth/token",
            Some(json!({"email": email, "password": "wrong wrong wrong", "totp": codes[1]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["code"], "invalid_credentials");
    // A recovery code works once, typed in any case.
    let (s, v) = token_with(&app, email, Some(&codes[0].to_uppercase())).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = token_with(&app, email, Some(&codes[0])).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NOT NULL")
            .await,
        1
    );

    // The audit log has the security events, and no secret or code.
    for action in [
        "signin.success",
        "signin.failure",
        "totp.enabled",
        "recovery_code.used",
    ] {
        let n = app
            .count(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
            ))
            .await;
        assert!(n >= 1, "no {action} row");
    }
    let leaks = app
        .count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE COALESCE(after_json, '') LIKE '%{secret}%' \
             OR COALESCE(after_json, '') LIKE '%{next}%' OR COALESCE(after_json, '') LIKE '%{}%' \
             OR COALESCE(after_json, '') LIKE '%{PASSWORD}%'",
            codes[0]
        ))
        .await;
    assert_eq!(leaks, 0);
    let (s, v) = app
        .api("GET", "/api/v1/audit?action=totp.", &admin, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"][0]["action"], "totp.enabled", "{v}");

    // Turning it off needs proof: a wrong password changes nothing.
    let (s, _) = app
        .api(
            "DELETE",
            "/api/v1/me/totp",
            &token,
            Some(json!({"password": "not my password"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = token_with(&app, email, None).await;
    assert_eq!(v["code"], "totp_required", "{s} {v}");
    let (s, v) = app
        .api(
            "DELETE",
            "/api/v1/me/totp",
            &token,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = token_with(&app, email, None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'totp.disabled'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM recovery_codes").await, 0);
    app.finish().await;
}

#[tokio::test]
async fn wrong_codes_count_against_the_sign_in_limit() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Guess Oy").await;
    let email = "guess@example.com";
    app.operator(&admin, email, "operator", Some(&vendor)).await;
    let (_, v) = token_with(&app, email, None).await;
    let token = v["token"].as_str().unwrap().to_string();
    let (secret, step, _) = enrol(&app, &token).await;
    // A right password alone neither counts nor clears the count.
    let mut statuses = Vec::new();
    for i in 0..8 {
        if i % 2 == 0 {
            let (s, v) = token_with(&app, email, None).await;
            assert!(
                v["code"] == "totp_required" || s == StatusCode::TOO_MANY_REQUESTS,
                "{v}"
            );
        }
        let (s, _) = token_with(&app, email, Some("123456")).await;
        statuses.push(s);
    }
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(wrong <= 5, "{statuses:?}");
    assert_eq!(*statuses.last().unwrap(), StatusCode::TOO_MANY_REQUESTS);
    // Now even the right code is refused until the window ends.
    let (s, _) = token_with(&app, email, Some(&totp(&secret, step + 1))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'signin.lockout'")
            .await
            >= 1
    );

    // A parallel burst of wrong codes: at most the limit is evaluated.
    let email2 = "burst@example.com";
    app.operator(&admin, email2, "operator", Some(&vendor))
        .await;
    let (_, v) = token_with(&app, email2, None).await;
    let token2 = v["token"].as_str().unwrap().to_string();
    enrol(&app, &token2).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/api/v1/auth/token"))
                .json(&json!({"email": email2, "password": PASSWORD, "totp": "654321"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut evaluated = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::UNAUTHORIZED {
            evaluated += 1;
        }
    }
    assert!(evaluated <= 5, "{evaluated} wrong codes were evaluated");
    app.finish().await;
}

/// The secret shown on an enrolment page.
fn secret_of(html: &str) -> String {
    let tag = "<code class=\"secret\">";
    let i = html.find(tag).expect("a secret") + tag.len();
    html[i..].split('<').next().unwrap().to_string()
}

#[tokio::test]
async fn console_sign_in_asks_for_the_code_and_the_half_state_opens_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Console Oy").await;
    let email = "console@example.com";
    app.operator(&admin, email, "operator", Some(&vendor)).await;

    // Enrol in the console, on the operator's own page.
    let b = Browserless::new(&app);
    assert_eq!(b.sign_in(email, PASSWORD).await, StatusCode::SEE_OTHER);
    let csrf = b.csrf("/me").await;
    let (s, _, _) = b.post("/me/totp", &[("_csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, html) = b.get("/me").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<svg"), "a QR code drawn by the server");
    assert!(
        html.contains("<label for=\"code\">"),
        "a labelled code field"
    );
    let secret = secret_of(&html);
    let (s, html, _) = b
        .post("/me/totp/confirm", &[("_csrf", &csrf), ("code", "111111")])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Wrong or expired code"), "{html}");
    let step = step_now();
    let (s, html, _) = b
        .post(
            "/me/totp/confirm",
            &[("_csrf", &csrf), ("code", &totp(&secret, step))],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        html.matches("<li><code>").count(),
        10,
        "ten recovery codes shown once"
    );
    let (_, html) = b.get("/me").await;
    assert_eq!(html.matches("<li><code>").count(), 0);

    // A new browser: the password leads to the second step, not a session.
    let c = Browserless::new(&app);
    let (_, html) = c.get("/login").await;
    let csrf = csrf_of(&html);
    let (s, _, loc) = c
        .post(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", email),
                ("password", PASSWORD),
                ("next", "/licenses"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc.as_deref(), Some("/login/code?next=%2Flicenses"));
    let (s, _) = c.get("/licenses").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "half signed in opens no page");
    let (s, html) = c.get("/login/code?next=%2Flicenses").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<label for=\"code\">"));
    let csrf = csrf_of(&html);
    let (s, _, _) = c
        .post(
            "/login/code",
            &[("_csrf", &csrf), ("code", "000000"), ("next", "/licenses")],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, loc) = c
        .post(
            "/login/code",
            &[
                ("_csrf", &csrf),
                ("code", &totp(&secret, step + 1)),
                ("next", "/licenses"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc.as_deref(), Some("/licenses"));
    let (s, _) = c.get("/licenses").await;
    assert_eq!(s, StatusCode::OK);

    // Both browsers' sessions are listed; the first ends the second.
    let (s, html) = b.get("/me").await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<String> = html
        .split("action=\"/me/sessions/")
        .skip(1)
        .map(|p| p.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{html}");
    let csrf = csrf_of(&html);
    let (_, html_c) = c.get("/me").await;
    let this_c = html_c
        .split("action=\"/me/sessions/")
        .skip(1)
        .find(|_| true)
        .map(|p| p.split('/').next().unwrap().to_string())
        .unwrap();
    let _ = this_c;
    // The row marked "this one" in c's list is c's own session.
    let other: Vec<&String> = ids
        .iter()
        .filter(|id| html_c.contains(&format!("{id}/end")))
        .collect();
    assert_eq!(other.len(), 2);
    let c_row = html_c
        .split("<tr>")
        .find(|r| r.contains("(this one)"))
        .unwrap();
    let c_id = ids.iter().find(|id| c_row.contains(id.as_str())).unwrap();
    let (s, _, _) = b
        .post(&format!("/me/sessions/{c_id}/end"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _) = c.get("/licenses").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "the ended session is signed out");
    let (s, _) = b.get("/licenses").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'session.end'")
            .await,
        1
    );
    app.finish().await;
}

#[tokio::test]
async fn admins_require_two_factors_and_the_operator_is_led_to_enrol() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Strict Oy").await;
    let other = app.vendor(&admin, "Lax Oy").await;
    let email = "strict@example.com";
    app.operator(&admin, email, "operator", Some(&vendor)).await;
    let lax = "lax@example.com";
    app.operator(&admin, lax, "operator", Some(&other)).await;
    let op_token = app.token(email, PASSWORD).await;

    // Only admins set it.
    let (s, _) = app
        .api(
            "PUT",
            "/api/v1/security/two-factor",
            &op_token,
            Some(json!({"required": true, "vendor_id": vendor})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = app
        .api(
            "PUT",
            "/api/v1/security/two-factor",
            &admin,
            Some(json!({"required": true, "vendor_id": vendor})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = token_with(&app, email, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], "totp_enrolment_required");
    // Another vendor's operator is not concerned.
    assert_eq!(token_with(&app, lax, None).await.0, StatusCode::CREATED);

    // In the console: enrol first, nothing else.
    let b = Browserless::new(&app);
    let (_, html) = b.get("/login").await;
    let csrf = csrf_of(&html);
    let (s, _, loc) = b
        .post(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", email),
                ("password", PASSWORD),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc.as_deref(), Some("/login/enrol?next=%2F"));
    let (s, _) = b.get("/me").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "no page before enrolment");
    let (s, html) = b.get("/login/enrol?next=%2F").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<svg"));
    let secret = secret_of(&html);
    let csrf = csrf_of(&html);
    let (s, html, _) = b
        .post(
            "/login/enrol",
            &[
                ("_csrf", &csrf),
                ("code", &totp(&secret, step_now())),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert_eq!(html.matches("<li><code>").count(), 10);
    let (s, _) = b.get("/me").await;
    assert_eq!(s, StatusCode::OK, "signed in after enrolling");
    // The API now asks for the code instead.
    let (s, v) = token_with(&app, email, None).await;
    assert_eq!(v["code"], "totp_required", "{s} {v}");

    // Everyone's switch.
    let (s, _) = app
        .api(
            "PUT",
            "/api/v1/security/two-factor",
            &admin,
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = token_with(&app, lax, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], "totp_enrolment_required");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'security.two_factor_required'")
            .await,
        2
    );
    app.finish().await;
}

#[tokio::test]
async fn sessions_and_tokens_are_listed_and_ended() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Sessions Oy").await;
    let email = "sessions@example.com";
    let id = app.operator(&admin, email, "operator", Some(&vendor)).await;
    let t1 = app.token(email, PASSWORD).await;
    let t2 = app.token(email, PASSWORD).await;
    let b = Browserless::new(&app);
    assert_eq!(b.sign_in(email, PASSWORD).await, StatusCode::SEE_OTHER);

    let (s, v) = app.api("GET", "/api/v1/me/sessions", &t1, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{v}");
    assert_eq!(items.iter().filter(|i| i["kind"] == "api_token").count(), 2);
    assert_eq!(items.iter().filter(|i| i["current"] == true).count(), 1);
    let session = items.iter().find(|i| i["kind"] == "session").unwrap();
    assert!(
        session["device"].is_string() && session["ip"].is_string(),
        "{session}"
    );
    assert!(session["last_used_at"].is_string());
    // The other token, by id.
    let other = items
        .iter()
        .find(|i| i["kind"] == "api_token" && i["current"] == false)
        .unwrap();
    let (s, _) = app
        .api(
            "DELETE",
            &format!("/api/v1/me/sessions/{}", other["id"].as_str().unwrap()),
            &t1,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.api("GET", "/api/v1/me/sessions", &t2, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Another operator cannot end mine: 404.
    let admin_list = app.api("GET", "/api/v1/me/sessions", &admin, None).await.1;
    let admin_id = admin_list["items"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .api(
            "DELETE",
            &format!("/api/v1/me/sessions/{admin_id}"),
            &t1,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // An admin ends all of the operator's sessions and tokens.
    let (s, _) = app
        .api(
            "POST",
            &format!("/api/v1/operators/{id}/end-sessions"),
            &t1,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .api(
            "POST",
            &format!("/api/v1/operators/{id}/end-sessions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.api("GET", "/api/v1/me/sessions", &t1, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = b.get("/licenses").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    for action in ["api_token.revoke", "session.end_all"] {
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
            ))
            .await,
            1,
            "{action}"
        );
    }
    // The admin's button on the operator's page.
    let a = Browserless::new(&app);
    assert_eq!(
        a.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = a.csrf(&format!("/operators/{id}")).await;
    assert_eq!(b.sign_in(email, PASSWORD).await, StatusCode::SEE_OTHER);
    let (s, _, _) = a
        .post(
            &format!("/operators/{id}/end-sessions"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _) = b.get("/licenses").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // The security events are on the console's audit page.
    let (s, html) = a.get("/audit").await;
    assert_eq!(s, StatusCode::OK);
    for action in ["signin.success", "session.end_all", "api_token.revoke"] {
        assert!(html.contains(action), "{action} on the audit page");
    }
    app.finish().await;
}
