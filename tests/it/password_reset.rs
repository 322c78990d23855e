//! Password reset by e-mail: the same answer for every address, a
//! single-use link valid 30 minutes sent through a real SMTP server, and
//! using it ends the operator's sessions and API tokens.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

fn link_token(text: &str) -> String {
    let at = text
        .find("/password-reset/")
        .expect("a reset link in the mail");
    text[at + "/password-reset/".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_reset_link_works_once_and_ends_every_session() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = TestApp::spawn_with(&[
        ("CC_SMTP_URL", &smtp.url()),
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ])
    .await;
    let old_token = app.admin_token().await;
    let web = Browserless::new(&app);
    assert_eq!(
        web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );

    // The same answer whether or not the address is an operator's.
    let (s1, unknown) = app
        .api_anon(
            "POST",
            "/api/v1/auth/password-reset",
            Some(json!({"email": "nobody@example.com"})),
        )
        .await;
    let (s2, known) = app
        .api_anon(
            "POST",
            "/api/v1/auth/password-reset",
            Some(json!({"email": ADMIN_EMAIL.to_uppercase()})),
        )
        .await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(unknown, known);
    let mails = smtp.wait_for(1, 15).await;
    assert_eq!(mails.len(), 1, "only the operator gets a mail");
    assert_eq!(mails[0].to, ADMIN_EMAIL);
    let token = link_token(&mails[0].text);
    assert!(mails[0].text.contains("30"), "{}", mails[0].text);

    // A weak password changes nothing; a good one is set once.
    let (s, v) = app
        .api_anon(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "password": "short"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let new_password = "a brand new passphrase 2026";
    let (s, v) = app
        .api_anon(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "password": new_password})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = app
        .api_anon(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "password": "yet another passphrase 99"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "reset_link_invalid");

    // Every session and token ended; only the new password signs in.
    let (s, _) = app.api("GET", "/api/v1/customers", &old_token, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = web.get("/monitoring").await;
    assert!(s.is_redirection(), "the console session ended: {s}");
    let (s, _) = app
        .api_anon(
            "POST",
            "/api/v1/auth/token",
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let t = app.token(ADMIN_EMAIL, new_password).await;

    // The console's own pages, without JavaScript.
    let web = Browserless::new(&app);
    let (_, html) = web.get("/login").await;
    assert!(html.contains("href=\"/password-reset\""), "{html}");
    let (_, html) = web.get("/password-reset").await;
    assert!(html.contains("<label for=\"email\""), "{html}");
    let csrf = csrf_of(&html);
    let (s, html, _) = web
        .post(
            "/password-reset",
            &[("_csrf", &csrf), ("email", ADMIN_EMAIL)],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"reset-sent\""), "{html}");
    let mails = smtp.wait_for(2, 15).await;
    let first = token.clone();
    let token = mails
        .iter()
        .map(|m| link_token(&m.text))
        .find(|t| *t != first)
        .unwrap();
    let (_, html) = web.get(&format!("/password-reset/{token}")).await;
    let csrf = csrf_of(&html);
    let path = format!("/password-reset/{token}");
    let (s, _, _) = web
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("password", "one passphrase 12345"),
                ("password_again", "another passphrase"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "mismatch");
    let (s, html, _) = web
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("password", ADMIN_PASSWORD),
                ("password_again", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"reset-done\""), "{html}");
    let (s, html, _) = web
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("password", ADMIN_PASSWORD),
                ("password_again", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(html.contains("id=\"reset-invalid\""), "{html}");
    let (s, _) = app.api("GET", "/api/v1/customers", &t, None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the second reset ended the token too"
    );
    let t = app.admin_token().await;

    // Limited per e-mail address (3 per window; two were used above).
    let (s, _) = app
        .api_anon(
            "POST",
            "/api/v1/auth/password-reset",
            Some(json!({"email": ADMIN_EMAIL})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, v) = app
        .api_anon(
            "POST",
            "/api/v1/auth/password-reset",
            Some(json!({"email": ADMIN_EMAIL})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");

    // Audited, without the secret.
    let (_, audit) = app
        .api("GET", "/api/v1/audit?action=password_reset.", &t, None)
        .await;
    let text = audit.to_string();
    assert!(
        text.contains("password_reset.request") && text.contains("password_reset.done"),
        "{text}"
    );
    assert!(!text.contains(&token), "no token in the audit log");
    app.finish().await;
}
