//! Issue #14, "the console for a working day": the defects an operator
//! stumbles on in a day's work (re-sending, placeholders, wrong words,
//! phones), each checked the way a person meets it.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::invites::{customer_with_license, invite};

/// Pressing Send a second time (after Back, or twice) asks first, with the
/// count, and sends nothing until the operator says yes.
#[tokio::test]
async fn sending_an_invite_again_asks_first_on_the_page() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    let a = invite(&app, &t, &lid, "anna", "anna@example.com").await;
    let b = invite(&app, &t, &lid, "bert", "bert@example.com").await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let web = Browserless::new(&app);
    assert_eq!(
        web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = web.csrf("/installations").await;
    let (s, _, _) = web
        .post(
            "/installations/send",
            &[
                ("_csrf", &csrf),
                ("customer", &cid),
                ("vendor", ""),
                ("sent", "1"),
                ("invite", a),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 1);
    // The same again, with a new one: a question, nothing sent.
    let (s, html, _) = web
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
    assert_eq!(s, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("Send again?"), "{html}");
    assert!(
        html.contains("Sent before or on the way already: 1 of the chosen invites."),
        "{html}"
    );
    assert!(html.contains("name=\"resend\" value=\"1\""), "{html}");
    assert!(html.contains("Send only those never sent (1)"), "{html}");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 1);
    // "Only those never sent" sends b alone.
    let (s, _, loc) = web
        .post(
            "/installations/send",
            &[
                ("_csrf", &csrf),
                ("customer", &cid),
                ("vendor", ""),
                ("sent", "1"),
                ("invite", b),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(loc.unwrap().contains("queued=1"));
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 2);
    // Yes: both go again (each at most once while on its way).
    let (s, _, loc) = web
        .post(
            "/installations/send",
            &[
                ("_csrf", &csrf),
                ("customer", &cid),
                ("vendor", ""),
                ("sent", "1"),
                ("resend", "1"),
                ("invite", a),
                ("invite", b),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let loc = loc.unwrap();
    assert!(!loc.contains("queued=0&resent=0&waiting=0"), "{loc}");
    // In Finnish the question is Finnish.
    web.get("/lang/fi?back=%2F").await;
    let (s, html, _) = web
        .post(
            "/installations/send",
            &[("_csrf", &csrf), ("sent", "1"), ("invite", a)],
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("Lähetetäänkö uudelleen?"), "{html}");
    assert!(html.contains("jo lähetetty tai matkalla: 1."), "{html}");
    app.finish().await;
}

/// The API answers 409 `already_sent` with the count unless `resend` is
/// true, and queues nothing of the request.
#[tokio::test]
async fn the_api_needs_resend_for_invites_sent_before() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let a = invite(&app, &t, &lid, "anna", "anna@example.com").await;
    let b = invite(&app, &t, &lid, "bert", "bert@example.com").await;
    let c = invite(&app, &t, &lid, "cecilia", "cecilia@example.com").await;
    let ids = [a["id"].as_str().unwrap(), b["id"].as_str().unwrap()];
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": ids})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let all = [ids[0], ids[1], c["id"].as_str().unwrap()];
    let (s, p) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": all})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["code"], "already_sent");
    assert_eq!(p["count"], 2, "{p}");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 2);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'invite.%send'")
            .await,
        2
    );
    let (s, r) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": all, "resend": true})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let n = |k: &str| r[k].as_array().unwrap().len();
    assert_eq!(n("queued"), 1, "{r}");
    assert_eq!(n("resent") + n("already_queued"), 2, "{r}");
    app.finish().await;
}

/// A customer (its language and contact) with a 5 + 1 license (75 GB) on
/// the default vendor; returns (customer id, license id).
async fn customer_in(
    app: &TestApp,
    t: &str,
    name: &str,
    lang: &str,
    contact: &str,
) -> (String, String) {
    let (s, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            t,
            Some(json!({"name": name, "language": lang, "contact_email": contact})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let cid = c["id"].as_str().unwrap().to_string();
    let (s, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{cid}/licenses"),
            t,
            Some(json!({"standard_seats": 5, "server_seats": 1, "client_limit_gb": 500})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    (cid, l["id"].as_str().unwrap().to_string())
}

/// The service's name (CC_SERVICE_NAME, then Settings) signs invitations
/// in both languages; no placeholder reaches a customer; the vendor picker
/// lists the default vendor once.
#[tokio::test]
async fn the_service_name_signs_customer_mail_in_both_languages() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &smtp.url()),
        ("CC_SERVICE_NAME", "Nexetic Oy"),
    ])
    .await;
    let t = app.admin_token().await;
    let (_, fi_lic) = customer_in(&app, &t, "Testiasiakas Oy", "fi", "it@testi.fi").await;
    let (_, en_lic) = customer_in(&app, &t, "Test Customer Ltd", "en", "it@test.example").await;
    let fi = invite(&app, &t, &fi_lic, "timo", "timo@testi.fi").await;
    let en = invite(&app, &t, &en_lic, "tom", "tom@test.example").await;
    let ids = [fi["id"].as_str().unwrap(), en["id"].as_str().unwrap()];
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": ids})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let mails = smtp.wait_for(2, 20).await;
    let fi_mail = mails
        .iter()
        .find(|m| m.to.contains("timo@testi.fi"))
        .unwrap();
    let en_mail = mails
        .iter()
        .find(|m| m.to.contains("tom@test.example"))
        .unwrap();
    assert_eq!(
        fi_mail.subject,
        "Kutsu varmuuskopiointipalveluun – Nexetic Oy"
    );
    assert!(
        fi_mail.text.contains("Nexetic Oy on avannut sinulle"),
        "{}",
        fi_mail.text
    );
    assert!(
        fi_mail.text.contains("Terveisin\nNexetic Oy"),
        "{}",
        fi_mail.text
    );
    assert_eq!(
        en_mail.subject,
        "Your invitation to the backup service – Nexetic Oy"
    );
    assert!(
        en_mail.text.contains("Best regards\nNexetic Oy"),
        "{}",
        en_mail.text
    );
    // The install link opens the page in the invitation's language.
    let link = format!("{}/install?lang=fi", app.base);
    assert!(fi_mail.text.contains(&link), "{}", fi_mail.text);
    assert!(
        en_mail
            .text
            .contains(&format!("{}/install?lang=en", app.base))
    );
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(page.contains("<html lang=\"fi\">"), "{page}");
    for m in &mails {
        for part in [&m.subject, &m.text, &m.html] {
            assert!(!part.contains("Default vendor"), "{part}");
        }
    }
    // The vendor picker of a new customer: the default vendor once,
    // chosen.
    let web = Browserless::new(&app);
    web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = web.get("/licenses/new").await;
    let select = html
        .split("<select id=\"vendor_id\"")
        .nth(1)
        .and_then(|s| s.split("</select>").next())
        .unwrap_or_default();
    assert_eq!(select.matches("<option").count(), 1, "{select}");
    assert!(select.contains("selected>Nexetic Oy</option>"), "{select}");
    // Settings renames the service: a placeholder is refused, a name is
    // saved with an audit row and signs the next mail.
    let csrf = web.csrf("/settings").await;
    let (s, html, _) = web
        .post(
            "/settings/service-name",
            &[("_csrf", &csrf), ("service_name", "default vendor")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Give the service&#39;s real name.")
            || html.contains("Give the service's real name."),
        "{html}"
    );
    let (s, _, loc) = web
        .post(
            "/settings/service-name",
            &[("_csrf", &csrf), ("service_name", "Varmuus Oy")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc.as_deref(), Some("/settings?named=1"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'service.rename'")
            .await,
        1
    );
    app.api(
        "POST",
        "/api/v1/invites/send",
        &t,
        Some(json!({"invite_ids": [ids[0]], "resend": true})),
    )
    .await;
    let mails = smtp.wait_for(3, 20).await;
    assert!(
        mails
            .iter()
            .filter(|m| m.text.contains("Terveisin\nVarmuus Oy"))
            .count()
            == 1,
        "{mails:?}"
    );
    // A restart with CC_SERVICE_NAME keeps the name chosen in Settings.
    let mut app = app;
    app.stop().await;
    app.start().await.unwrap();
    let (_, v) = app.api("GET", "/api/v1/vendors", &t, None).await;
    assert_eq!(v["items"][0]["name"], "Varmuus Oy", "{v}");
    app.finish().await;
}

/// A start with CC_ADMIN_* names an unnamed service from CC_SERVICE_NAME.
#[tokio::test]
async fn cc_service_name_names_an_unnamed_service_on_start() {
    let mut app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, v) = app.api("GET", "/api/v1/vendors", &t, None).await;
    assert_eq!(v["items"][0]["name"], "Default vendor");
    app.stop().await;
    app.env
        .insert("CC_SERVICE_NAME".into(), "Nexetic Oy".into());
    app.start().await.unwrap();
    let (_, v) = app.api("GET", "/api/v1/vendors", &t, None).await;
    assert_eq!(v["items"][0]["name"], "Nexetic Oy", "{v}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'service.rename'")
            .await,
        1
    );
    app.finish().await;
}

/// The storage alert says the real percentage (243 %, not 90 %) on the
/// page and in the mail, in both languages, with one Finnish glossary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_alert_says_the_real_percentage_in_both_languages() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &smtp.url()),
        ("CC_SERVICE_NAME", "Nexetic Oy"),
    ])
    .await;
    let t = app.admin_token().await;
    for (name, lang, contact) in [
        ("Testiasiakas Oy", "fi", "it@testi.fi"),
        ("Test Customer Ltd", "en", "it@test.example"),
    ] {
        let (_, lid) = customer_in(&app, &t, name, lang, contact).await;
        let (u, code) = crate::clients::invites(&app, &t, &lid, 1, "standard", lang)
            .await
            .remove(0);
        let (s, a) = crate::clients::activate(&app, &u, &code).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        // 182.5 GB of 75 GB: 243 %.
        crate::alerts::report(
            &app,
            a["token"].as_str().unwrap(),
            "success",
            command_center::domain::now_millis(),
            182_500_000_000,
        )
        .await;
    }
    let services = app.running.as_ref().unwrap().services.clone();
    let p = services
        .evaluate_alerts(command_center::domain::now_millis())
        .await
        .unwrap();
    assert_eq!(p.opened, 2, "{p:?}");
    let mails = smtp.wait_for(2, 20).await;
    let fi = mails.iter().find(|m| m.to.contains("it@testi.fi")).unwrap();
    let en = mails
        .iter()
        .find(|m| m.to.contains("it@test.example"))
        .unwrap();
    assert_eq!(
        fi.subject,
        "Tallennustilasta 243 % käytetty: Testiasiakas Oy"
    );
    assert!(
        fi.text
            .contains("lisenssin kokonaistilasta on käytetty 243 % (182,5 GB / 75,0 GB)"),
        "{}",
        fi.text
    );
    assert!(fi.text.contains("Valvonta-sivulla"), "{}", fi.text);
    assert!(!fi.text.contains("Monitorointi"), "{}", fi.text);
    assert!(fi.text.contains("Terveisin\nNexetic Oy"), "{}", fi.text);
    assert_eq!(en.subject, "Storage 243 % used: Test Customer Ltd");
    assert!(
        en.text
            .contains("243 % of the license's Total space is used (182.5 GB of 75.0 GB)"),
        "{}",
        en.text
    );
    assert!(en.text.contains("Best regards\nNexetic Oy"), "{}", en.text);
    for m in &mails {
        assert!(!m.text.contains("Default vendor") && !m.subject.contains("Default vendor"));
    }
    // The Monitoring page: the real percentage, and in Finnish each label
    // its own word.
    let web = Browserless::new(&app);
    web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = web.get("/monitoring").await;
    assert!(html.contains("Storage 243 % used"), "{html}");
    assert!(!html.contains("Storage 90 % used"), "{html}");
    // The summary line above the table: clients by health, storage of all.
    assert!(html.contains("id=\"overview\">Clients 2:"), "{html}");
    assert!(html.contains("365.0 / 150.0 GB (243 %)"), "{html}");
    web.get("/lang/fi?back=%2F").await;
    let (_, html) = web.get("/monitoring").await;
    assert!(html.contains("Tallennustilasta 243 % käytetty"), "{html}");
    assert!(
        html.contains("182,5 GB / 75,0 GB"),
        "Finnish decimals: {html}"
    );
    assert!(html.contains("365,0 / 150,0 GB (243 %)"), "{html}");
    assert!(html.contains(">Valvonta<"), "{html}");
    let lang = command_center::i18n::Lang::Fi;
    let words: Vec<&str> = [
        "field.state",
        "field.status",
        "monitoring.health",
        "monitoring.storage",
        "field.total_space",
        "installation.storage_used",
    ]
    .iter()
    .map(|k| lang.t(k))
    .collect();
    let mut unique = words.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), words.len(), "one word per label: {words:?}");
    app.finish().await;
}

/// An empty console says what to do first; the audit log speaks in words.
#[tokio::test]
async fn first_steps_and_the_audit_log_in_words() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let web = Browserless::new(&app);
    web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = web.get("/monitoring").await;
    assert!(
        html.contains("No backup clients yet. The first steps:"),
        "{html}"
    );
    assert!(html.contains("<a href=\"/licenses/new\">"), "{html}");
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"standard_seats": 7})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, html) = web.get("/audit").await;
    assert!(html.contains("changed the license"), "{html}");
    assert!(html.contains("Standard seats 5 → 7"), "{html}");
    assert!(!html.contains("standard_seats: 5"), "{html}");
    web.get("/lang/fi?back=%2F").await;
    let (_, html) = web.get("/audit").await;
    assert!(html.contains("muutti lisenssiä"), "{html}");
    assert!(html.contains("Standard-paikat 5 → 7"), "{html}");
    // Someone is there now (a license, no clients yet): still the steps
    // until a client is installed.
    let (_, html) = web.get("/monitoring").await;
    assert!(html.contains("Ensimmäiset askeleet"), "{html}");
    app.finish().await;
}

/// The License tab: trial search by a prefix of an e-mail or host name in
/// any case; a connected trial shows its computer's name; revoking an
/// invite asks first; Installations' Show with one match chooses it.
#[tokio::test]
async fn license_tab_trials_revoke_and_one_match() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    let (_, trial, _) = crate::clients::client_post(
        &app,
        "/client/v1/trial",
        None,
        json!({"email": "Liisa.Laine@example.com", "hostname": "LIISA-PC", "os": "linux", "software_type": "standard"}),
    )
    .await;
    let web = Browserless::new(&app);
    web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for q in ["liisa.l", "Liisa-p", "LIISA"] {
        let (_, html) = web
            .get(&format!("/licenses/{cid}/license?trial_q={q}"))
            .await;
        assert!(html.contains("LIISA-PC"), "{q} finds the trial");
    }
    let (_, html) = web
        .get(&format!("/licenses/{cid}/license?trial_q=laine"))
        .await;
    assert!(!html.contains("LIISA-PC"), "a prefix, not any part");
    let csrf = web.csrf(&format!("/licenses/{cid}/license")).await;
    let iid = trial["installation_id"].as_str().unwrap();
    let (s, _, _) = web
        .post(
            &format!("/licenses/{cid}/license/{lid}/connect-trial"),
            &[("_csrf", &csrf), ("installation_id", iid)],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = web.get(&format!("/licenses/{cid}/license")).await;
    assert!(
        html.contains(&format!("<a href=\"/installations/{iid}\">LIISA-PC</a>")),
        "{html}"
    );
    assert!(!html.contains(">trial-"), "{html}");
    assert!(!html.contains("Z</td>"), "no raw ISO times: {html}");
    // Revoke asks first: the list links to a question, which posts.
    let inv = invite(&app, &t, &lid, "revokee", "r@example.com").await;
    let id = inv["id"].as_str().unwrap();
    let (_, html) = web.get(&format!("/licenses/{cid}/invites")).await;
    let ask = format!("/licenses/{cid}/invites/{id}/revoke");
    assert!(html.contains(&format!("<a href=\"{ask}\">")), "{html}");
    let (s, html) = web.get(&ask).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("Revoke this invite?") && html.contains("revokee"),
        "{html}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites WHERE revoked_at IS NOT NULL")
            .await,
        0
    );
    let csrf = csrf_of(&html);
    let (s, _, _) = web.post(&ask, &[("_csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites WHERE revoked_at IS NOT NULL")
            .await,
        1
    );
    // Installations: Show with one matching customer chooses it.
    let (_, html) = web.get("/installations?q=testiasiakas&f=1&sent=1").await;
    assert!(
        html.contains(&format!("name=\"customer\" value=\"{cid}\"")),
        "{html}"
    );
    app.finish().await;
}
