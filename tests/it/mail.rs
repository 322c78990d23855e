//! Sending invitations (the seed's step 4) to a real SMTP server, and
//! every way delivery can go wrong.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;
use crate::invites::{customer_with_license, invite};

async fn state_of(app: &TestApp, token: &str, id: &str) -> Value {
    app.api("GET", &format!("/api/v1/invites/{id}"), token, None)
        .await
        .1
}

async fn wait_state(app: &TestApp, token: &str, id: &str, want: &str, secs: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let last = state_of(app, token, id).await;
        if last["delivery_state"] == want {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "invite {id} never reached {want}: {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn invitations_arrive_at_the_smtp_server() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &smtp.url()),
        ("CC_MAIL_FROM", "Command Center <cc@example.com>"),
    ])
    .await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let mut invites = Vec::new();
    for (u, e) in [
        (
            "timo.virtanen@testiasiakas.fi",
            "timo.virtanen@testiasiakas.fi",
        ),
        ("t2testi", "tommi.tanttu@example.com"),
        ("uusikutsu1", "u1@example.com"),
    ] {
        invites.push(invite(&app, &t, &lid, u, e).await);
    }
    let ids: Vec<&str> = invites.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let (s, report) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": ids})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{report}");
    assert_eq!(report["queued"].as_array().unwrap().len(), 3);
    for inv in &invites {
        let done = wait_state(&app, &t, inv["id"].as_str().unwrap(), "sent", 20).await;
        assert!(
            done["sent_at"].is_string(),
            "sent time set once accepted: {done}"
        );
    }
    let mails = smtp.wait_for(3, 10).await;
    assert_eq!(mails.len(), 3);
    for inv in &invites {
        let m = mails
            .iter()
            .find(|m| m.to.contains(inv["email"].as_str().unwrap()))
            .expect("a mail per invite");
        assert!(
            m.text.contains(inv["username"].as_str().unwrap()),
            "{}",
            m.text
        );
        assert!(
            m.text.contains(inv["activation_code"].as_str().unwrap()),
            "{}",
            m.text
        );
        assert!(m.html.contains(inv["activation_code"].as_str().unwrap()));
        // The service is unnamed here (no CC_SERVICE_NAME): the customer
        // sees the service's address, never the placeholder.
        let host = app.base.trim_start_matches("http://");
        assert!(m.subject.contains(host), "{}", m.subject);
        assert!(!m.text.contains("Default vendor") && !m.html.contains("Default vendor"));
        assert!(
            m.text.contains(&format!("{}/install", app.base)),
            "the install link"
        );
    }
    // Re-sending asks first: without `resend` nothing is queued, and the
    // answer says how many were sent before.
    let (s, problem) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": [ids[0]]})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "already_sent", "{problem}");
    assert_eq!(problem["count"], 1, "{problem}");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 3);
    // With `resend: true` it goes, and the report says so.
    let (_, report) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": [ids[0]], "resend": true})),
        )
        .await;
    assert_eq!(report["resent"].as_array().unwrap().len(), 1, "{report}");
    smtp.wait_for(4, 10).await;
    assert_eq!(smtp.messages().len(), 4);
    app.finish().await;
}

#[tokio::test]
async fn messages_wait_while_the_smtp_server_is_down() {
    let port = free_port();
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &format!("smtp://127.0.0.1:{port}")),
        ("CC_MAIL_RETRY_SECS", "1"),
    ])
    .await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let inv = invite(&app, &t, &lid, "patient", "patient@example.com").await;
    let id = inv["id"].as_str().unwrap();
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": [id]})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let waiting = wait_state(&app, &t, id, "retrying", 20).await;
    assert!(
        waiting["delivery_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{waiting}"
    );
    assert!(waiting["next_attempt_at"].is_string());
    assert_eq!(waiting["sent_at"], Value::Null);
    // The server comes back: the message goes out, once.
    let Some(smtp) = SmtpServer::start_on(port) else {
        return;
    };
    wait_state(&app, &t, id, "sent", 30).await;
    let mails = smtp.wait_for(1, 5).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .text
            .contains(inv["activation_code"].as_str().unwrap())
    );
    app.finish().await;
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once_with_the_reason() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &smtp.url()),
        ("CC_MAIL_RETRY_SECS", "1"),
    ])
    .await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let bad = invite(&app, &t, &lid, "gone", "reject@example.com").await;
    let good = invite(&app, &t, &lid, "fine", "fine@example.com").await;
    let ids = [bad["id"].as_str().unwrap(), good["id"].as_str().unwrap()];
    app.api(
        "POST",
        "/api/v1/invites/send",
        &t,
        Some(json!({"invite_ids": ids})),
    )
    .await;
    let failed = wait_state(&app, &t, ids[0], "failed", 20).await;
    assert!(
        failed["delivery_error"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    wait_state(&app, &t, ids[1], "sent", 20).await;
    assert_eq!(
        app.count("SELECT attempts FROM outbox WHERE recipient = 'reject@example.com'")
            .await,
        1,
        "no retries of a 5xx"
    );
    // Retry is the same send: it queues again.
    let (_, report) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": [ids[0]]})),
        )
        .await;
    assert_eq!(report["queued"].as_array().unwrap().len(), 1, "{report}");
    app.finish().await;
}

#[tokio::test]
async fn without_smtp_mail_is_written_as_eml_files() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let inv = invite(&app, &t, &lid, "filed", "filed@example.com").await;
    let id = inv["id"].as_str().unwrap();
    app.api(
        "POST",
        "/api/v1/invites/send",
        &t,
        Some(json!({"invite_ids": [id]})),
    )
    .await;
    wait_state(&app, &t, id, "sent", 20).await;
    let dir = app.data.path().join("outbox");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("To: filed@example.com"), "{raw}");
    assert!(raw.contains(inv["activation_code"].as_str().unwrap()));
    app.finish().await;
}

#[tokio::test]
async fn revoked_and_used_invites_are_not_sent() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let inv = invite(&app, &t, &lid, "revokee", "r@example.com").await;
    let id = inv["id"].as_str().unwrap();
    app.api("DELETE", &format!("/api/v1/invites/{id}"), &t, None)
        .await;
    let (s, report) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": [id]})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 0);
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": []})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    app.finish().await;
}
