//! Invites and activation codes (the seed's step 3) through the API.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

/// A customer (English e-mail, optional prefix) with a 5 + 1 license.
pub async fn customer_with_license(
    app: &TestApp,
    token: &str,
    prefix: Option<&str>,
) -> (String, String) {
    let (s, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            token,
            Some(json!({"name": "Testiasiakas Oy", "language": "en", "username_prefix": prefix})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let cid = c["id"].as_str().unwrap().to_string();
    let (s, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{cid}/licenses"),
            token,
            Some(json!({"standard_seats": 5, "server_seats": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    (cid, l["id"].as_str().unwrap().to_string())
}

pub async fn invite(
    app: &TestApp,
    token: &str,
    license: &str,
    username: &str,
    email: &str,
) -> serde_json::Value {
    let (s, v) = app
        .api(
            "POST",
            &format!("/api/v1/licenses/{license}/invites"),
            token,
            Some(json!({"username": username, "email": email})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

#[tokio::test]
async fn an_invite_gets_a_readable_secret_code() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, Some("testi.")).await;
    let (s, v) = app
        .api("POST", &format!("/api/v1/licenses/{lid}/invites"), &t, Some(json!({"username": "Timo", "email": "timo.virtanen@testiasiakas.fi", "software_type": "server", "store_deleted_days": 60})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["username"], "testi.timo",
        "the customer's prefix is applied"
    );
    assert_eq!(v["software_type"], "server");
    assert_eq!(v["store_deleted_days"], 60);
    assert_eq!(
        v["sent_at"],
        serde_json::Value::Null,
        "no e-mail at this step"
    );
    assert_eq!(v["delivery_state"], "not_sent");
    let code = v["activation_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 19);
    assert!(code.split('-').all(|g| g.len() == 4));
    assert!(!code.chars().any(|c| "01OIL".contains(c)), "{code}");
    // Not in the database in clear; the key check and lookup hash are.
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM invites WHERE code_enc LIKE '%{code}%' OR code_hash LIKE '%{code}%'")).await, 0);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE after_json LIKE '%{code}%'"
        ))
        .await,
        0,
        "nor in the audit log"
    );
    // Defaults: standard, 30 days.
    let d = invite(&app, &t, &lid, "second", "second@testiasiakas.fi").await;
    assert_eq!(
        (
            d["software_type"].as_str(),
            d["store_deleted_days"].as_i64()
        ),
        (Some("standard"), Some(30))
    );
    assert_ne!(d["activation_code"], v["activation_code"]);
    // The list shows them, newest first, with codes for operators.
    let (_, list) = app
        .api("GET", &format!("/api/v1/licenses/{lid}/invites"), &t, None)
        .await;
    assert_eq!(list["items"][0]["username"], "testi.second");
    assert_eq!(list["items"][1]["activation_code"], code.as_str());
    app.finish().await;
}

#[tokio::test]
async fn usernames_are_unique_across_the_service() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let (s, c2) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(json!({"name": "Other Oy"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, l2) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{}/licenses", c2["id"].as_str().unwrap()),
            &t,
            Some(json!({"standard_seats": 1})),
        )
        .await;
    let first = invite(&app, &t, &lid, "timo@example.fi", "timo@example.fi").await;
    let (s, v) = app
        .api(
            "POST",
            &format!("/api/v1/licenses/{}/invites", l2["id"].as_str().unwrap()),
            &t,
            Some(json!({"username": "TIMO@example.fi", "email": "x@example.fi"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "username_taken");
    assert!(v["detail"].as_str().unwrap().contains("timo@example.fi"));
    // Bad input: 422, nothing stored.
    let (s, v) = app.api("POST", &format!("/api/v1/licenses/{lid}/invites"), &t, Some(json!({"username": "ok", "email": "not an email", "store_deleted_days": 0, "software_type": "laptop"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        ["email", "software_type", "store_deleted_days"],
        "{v}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM invites").await, 1);
    // Revoking frees the username.
    let (s, r) = app
        .api(
            "DELETE",
            &format!("/api/v1/invites/{}", first["id"].as_str().unwrap()),
            &t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "revoked");
    let (s, _) = app
        .api(
            "DELETE",
            &format!("/api/v1/invites/{}", first["id"].as_str().unwrap()),
            &t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "revoked once");
    invite(&app, &t, &lid, "timo@example.fi", "timo@example.fi").await;
    app.finish().await;
}

#[tokio::test]
async fn more_invites_than_free_seats_is_a_warning_not_a_refusal() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    for i in 0..6 {
        invite(
            &app,
            &t,
            &lid,
            &format!("user{i}"),
            &format!("user{i}@example.fi"),
        )
        .await;
    }
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (s, html) = b.get(&format!("/licenses/{cid}/invites")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("More invites are outstanding than there are free seats"),
        "{html}"
    );
    assert!(html.contains("Standard: +1"));
    app.finish().await;
}

#[tokio::test]
async fn invites_of_another_vendor_are_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.vendor(&admin, "A").await;
    let b = app.vendor(&admin, "B").await;
    app.operator(&admin, "op@b.example", "operator", Some(&b))
        .await;
    app.operator(&admin, "view@a.example", "viewer", Some(&a))
        .await;
    let (_, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &admin,
            Some(json!({"name": "A1", "vendor_id": a})),
        )
        .await;
    let (_, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{}/licenses", c["id"].as_str().unwrap()),
            &admin,
            Some(json!({"standard_seats": 2})),
        )
        .await;
    let lid = l["id"].as_str().unwrap();
    let inv = invite(&app, &admin, lid, "a-user", "a@example.fi").await;
    let iid = inv["id"].as_str().unwrap();
    let op = app.token("op@b.example", PASSWORD).await;
    for (m, p, body) in [
        ("GET", format!("/api/v1/licenses/{lid}/invites"), None),
        (
            "POST",
            format!("/api/v1/licenses/{lid}/invites"),
            Some(json!({"username": "x", "email": "x@b.example"})),
        ),
        ("GET", format!("/api/v1/invites/{iid}"), None),
        ("DELETE", format!("/api/v1/invites/{iid}"), None),
        (
            "POST",
            "/api/v1/invites/send".to_string(),
            Some(json!({"invite_ids": [iid]})),
        ),
    ] {
        let (s, v) = app.api(m, &p, &op, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {p}: {v}");
    }
    // A viewer of A sees the invite but not its code, and cannot send.
    let viewer = app.token("view@a.example", PASSWORD).await;
    let (s, v) = app
        .api("GET", &format!("/api/v1/invites/{iid}"), &viewer, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["activation_code"], serde_json::Value::Null);
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &viewer,
            Some(json!({"invite_ids": [iid]})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM invites").await, 1);
    app.finish().await;
}

/// The installations page posts one `invite` field per checked row, and its
/// poller one `id` field per invite in flight: every repeat counts.
#[tokio::test]
async fn the_installations_page_sends_each_checked_invite() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    let a = invite(&app, &t, &lid, "anna", "anna@example.com").await;
    let b = invite(&app, &t, &lid, "bert", "bert@example.com").await;
    invite(&app, &t, &lid, "cecilia", "cecilia@example.com").await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let web = Browserless::new(&app);
    assert_eq!(
        web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = web.csrf("/installations").await;
    let (s, _, loc) = web
        .post(
            "/installations/send",
            &[
                ("_csrf", &csrf),
                ("customer", &cid),
                ("vendor", ""),
                ("sent", "1"),
                ("invite", a),
                ("invite", b),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let loc = loc.unwrap();
    assert!(loc.contains("queued=2"), "{loc}");
    assert!(loc.contains(&format!("customer={cid}")), "{loc}");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 2);
    let (s, html, _) = web
        .post(
            "/installations/states",
            &[("_csrf", &csrf), ("id", a), ("id", b), ("id", "not-an-id")],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("id=\"sent-{a}\"")), "{html}");
    assert!(html.contains(&format!("id=\"sent-{b}\"")), "{html}");
    // Without the token nothing is sent.
    let (s, _, _) = web
        .post("/installations/send", &[("all", "1"), ("sent", "1")])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 2);
    app.finish().await;
}

/// One send request for hundreds of invites is written as a few batch
/// statements: every live invite gets exactly one outbox row and one audit
/// row, repeated ids count once, a revoked one is skipped, and an unknown id
/// in the request refuses the whole request with nothing written.
#[tokio::test]
async fn a_large_send_request_queues_each_live_invite_once() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let mut ids = Vec::new();
    for i in 0..300 {
        let v = invite(
            &app,
            &t,
            &lid,
            &format!("bulk{i}"),
            &format!("bulk{i}@example.com"),
        )
        .await;
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let unknown = "0190f5e0-0000-7000-8000-000000000000";
    let mut with_unknown = ids.clone();
    with_unknown.push(unknown.into());
    let (s, p) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": with_unknown})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 0);

    app.api("DELETE", &format!("/api/v1/invites/{}", ids[7]), &t, None)
        .await;
    let mut request = ids.clone();
    request.extend(ids[..10].iter().cloned());
    let (s, r) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": request})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let n = |k: &str| r[k].as_array().unwrap().len();
    assert_eq!(
        (n("queued"), n("skipped"), n("resent"), n("already_queued")),
        (299, 1, 0, 0)
    );
    assert_eq!(r["skipped"][0], ids[7].as_str());
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 299);
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT invite_id) FROM outbox")
            .await,
        299
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'invite.send'")
            .await,
        299
    );
    // Every queued invite left `not sent` (the worker may have sent some).
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM invites WHERE delivery_state NOT IN ('queued', 'sending', 'sent')"
        )
        .await,
        1
    );
    app.finish().await;
}
