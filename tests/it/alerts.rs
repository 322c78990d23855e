//! Alerts: one e-mail per state change (not per check or report), to the
//! vendor's alert address and the customer's contact, each in their own
//! language, through a real SMTP server; license expiry at 30 and 7 days;
//! storage at 90 %; daily digests; two instances never both send.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clients::{activate, invites};
use crate::harness::*;

const HOUR: i64 = 3_600_000;

fn services(app: &TestApp) -> std::sync::Arc<command_center::service::Services> {
    app.running.as_ref().unwrap().services.clone()
}

fn now() -> i64 {
    command_center::domain::now_millis()
}

async fn app_with_mail(smtp: &SmtpServer) -> TestApp {
    TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &smtp.url()),
        // The tests run the checks themselves.
        ("CC_ALERT_INTERVAL_SECS", "86400"),
    ])
    .await
}

/// A vendor with a Finnish alert address, an English-speaking customer with
/// a contact, a license (5 + 1 seats, `client_limit_gb`) and `n` activated
/// clients; returns (admin token, vendor id, customer id, license id,
/// client tokens).
async fn setup(
    app: &TestApp,
    n: usize,
    client_limit_gb: i64,
) -> (String, String, String, String, Vec<String>) {
    let t = app.admin_token().await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/vendors",
            &t,
            Some(json!({"name": "Alert Vendor Oy", "alert_email": "valvonta@vendor.example", "alert_language": "fi"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["alert_language"], "fi");
    let vid = v["id"].as_str().unwrap().to_string();
    let (s, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(json!({"name": "Alert Customer Ltd", "language": "en", "contact_email": "it@customer.example", "vendor_id": vid})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let cid = c["id"].as_str().unwrap().to_string();
    let (s, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{cid}/licenses"),
            &t,
            Some(
                json!({"standard_seats": 5, "server_seats": 1, "client_limit_gb": client_limit_gb}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    let lid = l["id"].as_str().unwrap().to_string();
    let mut tokens = Vec::new();
    for (u, code) in invites(app, &t, &lid, n, "standard", "al").await {
        let (s, a) = activate(app, &u, &code).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        tokens.push(a["token"].as_str().unwrap().to_string());
    }
    (t, vid, cid, lid, tokens)
}

pub async fn report(app: &TestApp, token: &str, status: &str, finished_ms: i64, bytes: i64) {
    let f = &time::format_description::well_known::Rfc3339;
    let at = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap()
            .format(f)
            .unwrap()
    };
    let (s, v, _) = app
        .api_with_headers(
            "POST",
            "/client/v1/reports",
            Some(token),
            Some(json!({"started_at": at(finished_ms - 600_000), "finished_at": at(finished_ms),
                "status": status, "bytes_total": bytes, "bytes_uploaded": 1000, "files_total": 10,
                "files_changed": 1, "message": if status == "failed" { "Disk D: not reachable" } else { "" }})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
}

async fn health(app: &TestApp, t: &str, cid: &str) -> Vec<String> {
    let (_, v) = app
        .api(
            "GET",
            &format!("/api/v1/monitoring?customer_id={cid}"),
            t,
            None,
        )
        .await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e: &Value| e["health"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_per_state_change_to_vendor_and_contact_in_their_languages() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = app_with_mail(&smtp).await;
    let (t, vid, cid, _lid, tokens) = setup(&app, 1, 0).await;
    let s = services(&app);
    // A success 48 h ago: overdue (the health word and the alert agree).
    report(&app, &tokens[0], "success", now() - 48 * HOUR - 1000, 1_000).await;
    assert_eq!(health(&app, &t, &cid).await, ["overdue"]);
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!((p.opened, p.emails), (1, 2), "{p:?}");
    // The alert is listed in the API and on top of the Monitoring page;
    // another vendor's operator sees nothing of it.
    let (st, v) = app.api("GET", "/api/v1/alerts", &t, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["items"][0]["kind"], "overdue", "{v}");
    assert_eq!(v["items"][0]["hostname"], "host-1");
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (_, html) = b.get("/monitoring").await;
    assert!(
        html.contains("Newest open alerts") && html.contains("Backup overdue"),
        "{html}"
    );
    let other = app.vendor(&t, "Someone Else").await;
    app.operator(&t, "op@else.example", "operator", Some(&other))
        .await;
    let op = app.token("op@else.example", PASSWORD).await;
    let (_, v) = app.api("GET", "/api/v1/alerts", &op, None).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0, "{v}");
    // An admin may narrow to one vendor.
    let (_, v) = app
        .api(
            "GET",
            &format!("/api/v1/alerts?vendor_id={other}"),
            &t,
            None,
        )
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0, "{v}");
    let (_, v) = app
        .api("GET", &format!("/api/v1/alerts?vendor_id={vid}"), &t, None)
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    // Checking again (and again) sends nothing new.
    for _ in 0..3 {
        let p = s.evaluate_alerts(now()).await.unwrap();
        assert_eq!((p.opened, p.closed, p.emails), (0, 0, 0), "{p:?}");
    }
    let mails = smtp.wait_for(2, 20).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    let to_vendor = mails
        .iter()
        .find(|m| m.to.contains("valvonta@vendor.example"))
        .unwrap();
    assert!(
        to_vendor
            .subject
            .starts_with("Varmuuskopio myöhässä: host-1"),
        "Finnish to the vendor: {}",
        to_vendor.subject
    );
    assert!(
        to_vendor.text.contains("/installations/"),
        "{}",
        to_vendor.text
    );
    let to_contact = mails
        .iter()
        .find(|m| m.to.contains("it@customer.example"))
        .unwrap();
    assert!(
        to_contact
            .subject
            .starts_with("Backup overdue: host-1 (Alert Customer Ltd)"),
        "English to the customer: {}",
        to_contact.subject
    );
    // Backed up again: the alert closes without mail.
    report(&app, &tokens[0], "success", now(), 1_000).await;
    assert_eq!(health(&app, &t, &cid).await, ["ok"]);
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!((p.opened, p.closed, p.emails), (0, 1, 0), "{p:?}");
    // Three failed runs in a row: "failing", once.
    for i in 0..3 {
        report(&app, &tokens[0], "failed", now() + i, 1_000).await;
        let p = s.evaluate_alerts(now()).await.unwrap();
        assert_eq!(p.opened, usize::from(i == 2), "run {i}: {p:?}");
    }
    assert_eq!(health(&app, &t, &cid).await, ["failed"]);
    let mails = smtp.wait_for(4, 20).await;
    assert_eq!(mails.len(), 4);
    assert!(
        mails
            .iter()
            .any(|m| m.subject.starts_with("Backups failing: host-1")
                && m.text.contains("Disk D: not reachable")),
        "{mails:?}"
    );
    // The same condition later again is a new state change: a new alert.
    report(&app, &tokens[0], "success", now() + 10, 1_000).await;
    s.evaluate_alerts(now()).await.unwrap();
    for i in 0..3 {
        report(&app, &tokens[0], "failed", now() + 20 + i, 1_000).await;
    }
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!((p.opened, p.emails), (1, 2), "{p:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM alerts WHERE kind = 'failing'")
            .await,
        2
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_expiry_storage_and_client_limit() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = app_with_mail(&smtp).await;
    // Total space: 5 × 10 + 1 × 25 = 75 GB; client limit 20 GB.
    let (t, _vid, cid, lid, tokens) = setup(&app, 4, 20).await;
    let s = services(&app);
    let today = time::OffsetDateTime::now_utc().date();
    let set_valid_to = |days: i64| {
        let d = today + time::Duration::days(days);
        let t = t.clone();
        let lid = lid.clone();
        let app = &app;
        async move {
            let (s, v) = app
                .api(
                    "PUT",
                    &format!("/api/v1/licenses/{lid}"),
                    &t,
                    Some(json!({"valid_to": d.to_string()})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
    };
    // 31 days left: nothing; 30: the 30-day alert; 8: still that one; 7:
    // the 7-day alert.
    set_valid_to(31).await;
    assert_eq!(s.evaluate_alerts(now()).await.unwrap().opened, 0);
    set_valid_to(30).await;
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!((p.opened, p.emails), (1, 2), "{p:?}");
    set_valid_to(8).await;
    assert_eq!(s.evaluate_alerts(now()).await.unwrap().opened, 0);
    set_valid_to(7).await;
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!((p.opened, p.closed), (1, 1), "{p:?}");
    let mails = smtp.wait_for(4, 20).await;
    assert!(
        mails
            .iter()
            .any(|m| m.subject.starts_with("Lisenssi päättyy") && m.text.contains("7 päivää")),
        "{mails:?}"
    );
    assert!(
        mails
            .iter()
            .any(|m| m.subject.starts_with("License ends") && m.text.contains("30 days left")),
        "{mails:?}"
    );
    // Storage: 3 × 22 GB = 66 GB of 75 GB = 88 %: no storage alert, but
    // every client is over its 20 GB limit (and "warning" on Monitoring).
    for tok in &tokens[..3] {
        report(&app, tok, "success", now(), 22_000_000_000).await;
    }
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!(p.opened, 3, "three client-limit alerts: {p:?}");
    let h = health(&app, &t, &cid).await;
    assert_eq!(h.iter().filter(|h| *h == "warning").count(), 3, "{h:?}");
    // A 4th client adds 2 GB: 68 GB of 75 GB ≥ 90 %: one storage alert.
    report(&app, &tokens[3], "success", now(), 2_000_000_000).await;
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!(p.opened, 1, "{p:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM alerts WHERE kind = 'storage_90' AND closed_at IS NULL")
            .await,
        1
    );
    // Raising the client limit clears the warnings and closes those alerts
    // at the next check; storage stays above 85 %, so its alert stays open.
    let (st, v) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"client_limit_gb": 50})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(health(&app, &t, &cid).await.iter().all(|h| h == "ok"));
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!((p.opened, p.closed), (0, 3), "{p:?}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_digest_instead_of_single_mails() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = app_with_mail(&smtp).await;
    let (t, vid, _cid, _lid, tokens) = setup(&app, 2, 0).await;
    let (st, v) = app
        .api(
            "PUT",
            &format!("/api/v1/vendors/{vid}"),
            &t,
            Some(json!({"name": "Alert Vendor Oy", "alert_email": "valvonta@vendor.example", "alert_digest": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["alert_digest"], true);
    assert_eq!(v["alert_language"], "fi", "left out: unchanged");
    let s = services(&app);
    for tok in &tokens {
        report(&app, tok, "success", now() - 50 * HOUR, 1_000).await;
    }
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!(
        (p.opened, p.emails),
        (2, 0),
        "digest vendors get no single mails"
    );
    // The digest goes out once a day, after the digest hour (07 UTC).
    let today = time::OffsetDateTime::now_utc().date();
    let at = |h: u8| {
        today
            .with_hms(h, 0, 0)
            .unwrap()
            .assume_utc()
            .unix_timestamp()
            * 1000
    };
    assert_eq!(s.send_digests(at(6)).await.unwrap(), 0, "before the hour");
    assert_eq!(
        s.send_digests(at(8)).await.unwrap(),
        2,
        "vendor and contact"
    );
    assert_eq!(s.send_digests(at(9)).await.unwrap(), 0, "once a day");
    let mails = smtp.wait_for(2, 20).await;
    assert_eq!(mails.len(), 2);
    let fi = mails
        .iter()
        .find(|m| m.to.contains("valvonta@vendor.example"))
        .unwrap();
    assert!(
        fi.subject.starts_with("Varmuuskopiohälytykset: 2 uutta"),
        "{}",
        fi.subject
    );
    assert_eq!(fi.text.matches("/installations/").count(), 2, "{}", fi.text);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_checking_at_once_send_one_alert() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut first = app_with_mail(&smtp).await;
    let (_t, _vid, _cid, _lid, tokens) = setup(&first, 3, 0).await;
    for tok in &tokens {
        report(&first, tok, "success", now() - 60 * HOUR, 1_000).await;
    }
    // A second instance on the same database (PostgreSQL: a second pool;
    // SQLite: a second writer on the same file).
    let mut env = first.env.clone();
    env.insert("CC_LISTEN".into(), "127.0.0.1:0".into());
    let second = command_center::start(
        command_center::Config::from_sources(&Default::default(), env).unwrap(),
    )
    .await
    .unwrap();
    let a = services(&first);
    let b = second.services.clone();
    let t = now();
    let (pa, pb) = tokio::join!(async { a.evaluate_alerts(t).await }, async {
        b.evaluate_alerts(t).await
    });
    let (pa, pb) = (pa.unwrap(), pb.unwrap());
    assert_eq!(pa.opened + pb.opened, 3, "{pa:?} {pb:?}");
    // Alerts starting together go out together: one e-mail per recipient
    // per instance that opened some; each alert in exactly one of them.
    assert!((2..=4).contains(&(pa.emails + pb.emails)), "{pa:?} {pb:?}");
    let mails = smtp.wait_for(pa.emails + pb.emails, 20).await;
    for to in ["valvonta@vendor.example", "it@customer.example"] {
        let text: String = mails
            .iter()
            .filter(|m| m.to.contains(to))
            .map(|m| m.text.clone())
            .collect();
        for user in ["al0", "al1", "al2"] {
            assert_eq!(
                text.matches(&format!(" {user})")).count(),
                1,
                "{user} once to {to}: {text}"
            );
        }
    }
    assert_eq!(
        first
            .count("SELECT COUNT(*) FROM alerts WHERE closed_at IS NULL")
            .await,
        3
    );
    second.stop().await.unwrap();
    first.stop().await;
    first.start().await.unwrap();
    first.finish().await;
}

#[tokio::test]
async fn vendor_alert_settings_from_the_console() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let vid = app.vendor(&t, "Form Vendor").await;
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = b.csrf(&format!("/vendors/{vid}")).await;
    let (s, html, _) = b
        .post(
            &format!("/vendors/{vid}"),
            &[
                ("_csrf", &csrf),
                ("name", "Form Vendor"),
                ("alert_email", "alerts@form.example"),
                ("alert_language", "fi"),
                ("alert_digest", "on"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("alerts@form.example"), "the saved form");
    let (_, v) = app
        .api("GET", &format!("/api/v1/vendors/{vid}"), &t, None)
        .await;
    assert_eq!(
        (&v["alert_email"], &v["alert_language"], &v["alert_digest"]),
        (&json!("alerts@form.example"), &json!("fi"), &json!(true))
    );
    // Unticking the box turns the digest off; a bad language changes nothing.
    let (s, _, _) = b
        .post(
            &format!("/vendors/{vid}"),
            &[
                ("_csrf", &csrf),
                ("name", "Form Vendor"),
                ("alert_email", "alerts@form.example"),
                ("alert_language", "fi"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/vendors/{vid}"),
            &t,
            Some(json!({"name": "Form Vendor", "alert_language": "sv"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, v) = app
        .api("GET", &format!("/api/v1/vendors/{vid}"), &t, None)
        .await;
    assert_eq!(
        (&v["alert_language"], &v["alert_digest"]),
        (&json!("fi"), &json!(false))
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_after_failing_is_overdue_and_alerts_follow_a_moved_customer() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = app_with_mail(&smtp).await;
    let (t, _vid, cid, _lid, tokens) = setup(&app, 1, 0).await;
    let s = services(&app);
    // One failed run two days ago and silence since: the health word is
    // "failed", and no success for 48 h raises the overdue alert.
    report(&app, &tokens[0], "failed", now() - 49 * HOUR, 1_000).await;
    assert_eq!(health(&app, &t, &cid).await, ["failed"]);
    let p = s.evaluate_alerts(now()).await.unwrap();
    assert_eq!(p.opened, 1, "{p:?}");
    let (_, v) = app.api("GET", "/api/v1/alerts", &t, None).await;
    assert_eq!(v["items"][0]["kind"], "overdue", "{v}");
    let mails = smtp.wait_for(2, 20).await;
    assert!(
        mails
            .iter()
            .any(|m| m.text.contains("no successful backup since —")),
        "never succeeded: {mails:?}"
    );
    // The customer moves to another vendor: its alert moves along.
    let other = app.vendor(&t, "New Home Oy").await;
    app.operator(&t, "op@newhome.example", "operator", Some(&other))
        .await;
    let (st, c) = app
        .api(
            "PUT",
            &format!("/api/v1/customers/{cid}"),
            &t,
            Some(json!({"name": "Alert Customer Ltd", "language": "en", "contact_email": "it@customer.example", "vendor_id": other})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let op = app.token("op@newhome.example", PASSWORD).await;
    let (_, v) = app.api("GET", "/api/v1/alerts", &op, None).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM alerts WHERE vendor_id = '{other}'"
        ))
        .await,
        1
    );
    app.finish().await;
}
