//! One installation's page (history chart and table, policy, details,
//! Deactivate), its history API, tenancy and roles — and report retention.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

use crate::clients::{activate, invites};
use crate::harness::*;
use crate::invites::customer_with_license;

const DAY: i64 = 86_400_000;

fn rfc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn date(ms: i64) -> String {
    rfc(ms)[..10].to_string()
}

/// A run that finished at `finished` (ms), sent as the client sends it.
async fn report(app: &TestApp, token: &str, finished: i64, status: &str, bytes: i64) {
    let (s, v) = app
        .api(
            "POST",
            "/client/v1/reports",
            token,
            Some(json!({"started_at": rfc(finished - 600_000), "finished_at": rfc(finished), "status": status, "bytes_total": bytes, "bytes_uploaded": 10, "files_total": 3, "files_changed": 1, "message": ""})),
        )
        .await;
    assert!(s.is_success(), "report: {s} {v}");
}

/// One activated client; returns (customer, license, installation, client token).
async fn one_client(app: &TestApp, t: &str, tag: &str) -> (String, String, String, String) {
    let (cid, lid) = customer_with_license(app, t, None).await;
    let inv = invites(app, t, &lid, 1, "standard", tag).await;
    let (s, a) = activate(app, &inv[0].0, &inv[0].1).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    (
        cid,
        lid,
        a["installation_id"].as_str().unwrap().to_string(),
        a["token"].as_str().unwrap().to_string(),
    )
}

/// The `<tr>` of one day in the page's table.
fn day_row<'a>(html: &'a str, day: &str) -> &'a str {
    let start = html
        .find(&format!("<tr id=\"day-{day}\""))
        .unwrap_or_else(|| panic!("no row for {day}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

#[tokio::test]
async fn the_page_shows_history_policy_and_details() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid, id, token) = one_client(&app, &t, "page").await;
    app.api("PUT", &format!("/api/v1/customers/{cid}"), &t, Some(json!({"name": "Testiasiakas Oy", "language": "en", "encryption_key": "customer-secret-key"}))).await;
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"client_limit_gb": 100})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let now = command_center::domain::now_millis();
    report(&app, &token, now - 5 * DAY, "success", 5_000_000_000).await;
    report(&app, &token, now - 3 * DAY, "warning", 5_500_000_000).await;
    report(&app, &token, now - DAY, "success", 5_600_000_000).await;
    report(&app, &token, now - DAY + 60_000, "failed", 5_700_000_000).await;

    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (s, html) = b.get(&format!("/installations/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    // Details and health: the last run failed.
    assert!(html.contains("page0"), "username");
    for text in ["host-1", "linux", ">1.0<", "page0@example.com"] {
        assert!(html.contains(text), "{text} in the details");
    }
    assert!(html.contains("id=\"failed-in-row\">1<"), "failed in a row");
    assert!(html.contains("✗ Failed"), "health word with its symbol");
    assert!(html.contains("5.7 GB"), "storage used");
    // The chart: an SVG with a title, a description and one title per day.
    assert!(html.contains("<svg class=\"history\""));
    assert!(html.contains("<desc id=\"chart-desc\">In 30 days: 4 runs — 2 successful, 1 with warnings, 1 failed; 27 days without a run."), "{}", &html[html.find("<desc").unwrap()..][..200]);
    let yesterday = date(now - DAY);
    // Days as the page's language writes them: "30 Nov 2026".
    let in_words = time::Date::parse(
        &yesterday,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap()
    .format(&time::macros::format_description!(
        "[day padding:none] [month repr:short] [year]"
    ))
    .unwrap();
    assert!(
        html.contains(&format!(
            "<title>{in_words}: 2 runs (1 ✓ success, 1 ✗ failed); stored data 5.7 GB</title>"
        )),
        "the failed day's title"
    );
    // The table: the failed run on its day, with the word; gaps say so.
    let row = day_row(&html, &yesterday);
    assert!(row.contains("1 ✗ failed"), "{row}");
    assert!(row.contains("has-failed"), "{row}");
    let row = day_row(&html, &date(now - 3 * DAY));
    assert!(row.contains("5.5 GB") && !row.contains("failed"), "{row}");
    assert!(day_row(&html, &date(now - 2 * DAY)).contains("no run"));
    assert!(day_row(&html, &date(now - 29 * DAY)).contains("no run"));
    // The policy the client sees, without the key.
    assert!(html.contains("30 days"), "store deleted");
    assert!(html.contains("100.0 GB"), "client limit");
    assert!(html.contains("75.0 GB"), "total space 5 × 10 + 1 × 25");
    assert!(html.contains("Set (sent to the client; not shown here)"));
    assert!(
        !html.contains("customer-secret-key"),
        "the key is never shown"
    );
    assert!(html.contains("<span class=\"state active\">Active</span>"));
    // Links to it: monitoring, the License tab, the Installations page.
    let link = format!("href=\"/installations/{id}\"");
    for page in [
        "/monitoring".to_string(),
        format!("/licenses/{cid}/license"),
        format!("/installations?customer={cid}&installed=1&f=1"),
    ] {
        let (s, html) = b.get(&page).await;
        assert_eq!(s, StatusCode::OK);
        assert!(html.contains(&link), "{page} links to the installation");
    }

    // A license past Valid to is Expired when read, whatever it was saved as.
    app.exec(&format!(
        "UPDATE licenses SET created = '2020-01-01', valid_to = '2020-12-31' WHERE id = '{lid}'"
    ))
    .await;
    let (_, html) = b.get(&format!("/installations/{id}")).await;
    assert!(
        html.contains("<span class=\"state expired\">Expired</span> (Valid to has passed)"),
        "expired on read"
    );
    // In Finnish.
    b.get("/lang/fi?back=/").await;
    let (_, html) = b.get(&format!("/installations/{id}")).await;
    assert!(html.contains("Varmuuskopiot viimeisten 30 päivän ajalta"));
    assert!(day_row(&html, &yesterday).contains("1 ✗ epäonnistui"));

    // The same history as JSON.
    let (s, h) = app
        .api(
            "GET",
            &format!("/api/v1/installations/{id}/history"),
            &t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let days = h["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(h["to"], json!(date(now)));
    let day = |d: &str| -> &Value { days.iter().find(|x| x["date"] == json!(d)).unwrap() };
    let y = day(&yesterday);
    assert_eq!(
        (&y["runs"], &y["success"], &y["failed"], &y["bytes_total"]),
        (&json!(2), &json!(1), &json!(1), &json!(5_700_000_000i64))
    );
    assert_eq!(day(&date(now - 2 * DAY))["bytes_total"], Value::Null);
    assert_eq!(day(&date(now - 2 * DAY))["runs"], json!(0));
    let (s, doc) = app.api_anon("GET", "/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/installations/{id}/history"]["get"].is_object());
    app.finish().await;
}

#[tokio::test]
async fn deactivate_from_the_page_with_roles_and_tenancy() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let va = app.vendor(&admin, "Vendor A").await;
    let vb = app.vendor(&admin, "Vendor B").await;
    app.operator(&admin, "op-a@example.com", "operator", Some(&va))
        .await;
    app.operator(&admin, "viewer-a@example.com", "viewer", Some(&va))
        .await;
    app.operator(&admin, "op-b@example.com", "operator", Some(&vb))
        .await;
    let ta = app.token("op-a@example.com", PASSWORD).await;
    let tb = app.token("op-b@example.com", PASSWORD).await;
    let (_, lid, id, _) = one_client(&app, &ta, "deact").await;
    let used = |v: &Value| v["standard_used"].as_i64().unwrap();
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &ta, None)
        .await;
    assert_eq!(used(&l), 1);
    let page = format!("/installations/{id}");
    let confirm = format!("/installations/{id}/deactivate");

    // Another vendor's operator: not found, everywhere.
    let ob = Browserless::new(&app);
    ob.sign_in("op-b@example.com", PASSWORD).await;
    let csrf_b = ob.csrf("/monitoring").await;
    assert_eq!(ob.get(&page).await.0, StatusCode::NOT_FOUND);
    assert_eq!(ob.get(&confirm).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        ob.post(&confirm, &[("_csrf", &csrf_b)]).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = app
        .api(
            "GET",
            &format!("/api/v1/installations/{id}/history"),
            &tb,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A viewer of the right vendor sees the page but cannot deactivate.
    let viewer = Browserless::new(&app);
    viewer.sign_in("viewer-a@example.com", PASSWORD).await;
    let (s, html) = viewer.get(&page).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Never backed up"));
    assert!(!html.contains(&confirm), "no Deactivate for viewers");
    assert_eq!(viewer.get(&confirm).await.0, StatusCode::FORBIDDEN);
    let csrf_v = csrf_of(&html);
    assert_eq!(
        viewer.post(&confirm, &[("_csrf", &csrf_v)]).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &ta, None)
        .await;
    assert_eq!(used(&l), 1, "the seat is still taken");

    // The operator: page → confirmation → deactivated, seat freed, audited.
    let oa = Browserless::new(&app);
    oa.sign_in("op-a@example.com", PASSWORD).await;
    let (_, html) = oa.get(&page).await;
    assert!(
        html.contains(&format!("href=\"{confirm}\"")),
        "a plain link to the confirmation"
    );
    let (s, html) = oa.get(&confirm).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("action=\"{confirm}\"")));
    assert!(html.contains("Its seat is freed"));
    // Without the CSRF token nothing happens.
    assert_ne!(oa.post(&confirm, &[]).await.0, StatusCode::SEE_OTHER);
    let (s, _, loc) = oa.post(&confirm, &[("_csrf", &csrf_of(&html))]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        loc.as_deref(),
        Some(format!("{page}?deactivated=1").as_str())
    );
    let (_, html) = oa.get(&format!("{page}?deactivated=1")).await;
    assert!(html.contains("The installation was deactivated and its seat freed."));
    assert!(html.contains("id=\"deactivated-at\""));
    assert!(
        !html.contains(&format!("href=\"{confirm}\"")),
        "no second Deactivate"
    );
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &ta, None)
        .await;
    assert_eq!(used(&l), 0, "the seat is free");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'installation.deactivate' AND target_id = '{id}'"
        ))
        .await,
        1
    );
    // Twice is refused, not a second release of the seat.
    let csrf = oa.csrf(&page).await;
    assert_eq!(
        oa.post(&confirm, &[("_csrf", &csrf)]).await.0,
        StatusCode::CONFLICT
    );
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &ta, None)
        .await;
    assert_eq!(used(&l), 0);
    app.finish().await;
}

/// The summary columns of an installation, as text.
async fn summary(app: &TestApp, id: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let r = sqlx::query(
        "SELECT last_backup_at, last_success_at, failed_in_row, storage_used_bytes, last_backup_status \
         FROM installations WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    let s = format!(
        "{:?} {:?} {} {} {:?}",
        r.try_get::<Option<i64>, _>(0).unwrap(),
        r.try_get::<Option<i64>, _>(1).unwrap(),
        r.try_get::<i64, _>(2).unwrap(),
        r.try_get::<i64, _>(3).unwrap(),
        r.try_get::<Option<String>, _>(4).unwrap()
    );
    c.close().await.unwrap();
    s
}

/// Old reports, received `age_days` ago (their ids made at that time).
async fn old_reports(app: &TestApp, id: &str, now: i64, age_days: i64, n: usize, tag: u64) {
    let at = now - age_days * DAY;
    let prefix = &command_center::domain::uuid_v7_floor(at)[..24];
    let mut sql = String::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(400) {
        sql.push_str("INSERT INTO reports (id, installation_id, started_at, finished_at, status, bytes_total, bytes_uploaded, files_total, files_changed, message, received_at) VALUES ");
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "('{prefix}{:04x}{:08x}', '{id}', {}, {at}, 'failed', 1, 1, 1, 1, '', {at})",
                    tag,
                    i,
                    at - 1000
                )
            })
            .collect();
        sql.push_str(&rows.join(", "));
        sql.push_str(";\n");
    }
    app.exec(&sql).await;
}

#[tokio::test]
async fn retention_prunes_old_reports_in_batches_and_keeps_summaries() {
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_REPORT_RETENTION_DAYS", "30"),
    ])
    .await;
    let t = app.admin_token().await;
    let (_, _, id, token) = one_client(&app, &t, "keep").await;
    let now = command_center::domain::now_millis();
    // Recent runs: a success, then a failure (so the summary has a bit of everything).
    report(&app, &token, now - 2 * DAY, "success", 7_000).await;
    report(&app, &token, now - DAY, "failed", 8_000).await;
    let before = summary(&app, &id).await;
    assert!(
        before.contains("Some(\"failed\")") && before.contains(" 1 8000 "),
        "{before}"
    );
    // 5,100 reports received 400 days ago, 3 just past the cutoff (31
    // days), 4 just inside it (29 days).
    old_reports(&app, &id, now, 400, 5_100, 1).await;
    old_reports(&app, &id, now, 31, 3, 2).await;
    old_reports(&app, &id, now, 29, 4, 3).await;
    let count_sql = format!("SELECT COUNT(*) FROM reports WHERE installation_id = '{id}'");
    assert_eq!(app.count(&count_sql).await, 5_100 + 3 + 4 + 2);
    let services = app.running.as_ref().unwrap().services.clone();
    let deleted = services.prune_reports(now).await.unwrap();
    assert_eq!(deleted, 5_103, "two batches: 5,000 and 103");
    assert_eq!(
        app.count(&count_sql).await,
        6,
        "the 29-day-old and recent ones stay"
    );
    assert_eq!(summary(&app, &id).await, before, "summaries are untouched");
    assert_eq!(
        services.prune_reports(now).await.unwrap(),
        0,
        "nothing left"
    );
    // Reports keep coming in and are kept.
    report(&app, &token, now, "success", 9_000).await;
    assert_eq!(services.prune_reports(now).await.unwrap(), 0);
    assert_eq!(app.count(&count_sql).await, 7);
    // The page still shows the recent history.
    let b = Browserless::new(&app);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (s, html) = b.get(&format!("/installations/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(day_row(&html, &date(now - DAY)).contains("1 ✗ failed"));
    app.finish().await;
}

#[tokio::test]
async fn retention_zero_keeps_everything() {
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_REPORT_RETENTION_DAYS", "0"),
    ])
    .await;
    let t = app.admin_token().await;
    let (_, _, id, _) = one_client(&app, &t, "forever").await;
    let now = command_center::domain::now_millis();
    old_reports(&app, &id, now, 4000, 3, 1).await;
    let services = app.running.as_ref().unwrap().services.clone();
    assert_eq!(services.prune_reports(now).await.unwrap(), 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, 3);
    app.finish().await;
}

/// From Monitoring, a click on the client's name opens its page in a real
/// browser: the chart is there, the numbers open under it, Deactivate
/// works as a plain form.
#[tokio::test]
async fn the_installation_page_in_the_browser() {
    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid, id, token) = one_client(&app, &t, "chrome").await;
    let now = command_center::domain::now_millis();
    report(&app, &token, now - 2 * DAY, "failed", 1_000).await;
    report(&app, &token, now - DAY, "success", 2_000_000).await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("table.monitoring").await;
    browser
        .click(&format!("table.monitoring a[href='/installations/{id}']"))
        .await;
    let h1 = browser.text("h1").await;
    assert!(h1.contains("chrome0"), "{h1}");
    assert!(browser.text("#health").await.contains("OK"));
    browser.find("svg.history rect.run-failed").await;
    let desc = browser
        .find("svg.history desc")
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(desc.contains("1 failed"), "{desc}");
    browser.click("details.history-table summary").await;
    let row = browser
        .text(&format!("tr[id='day-{}']", date(now - 2 * DAY)))
        .await;
    assert!(row.contains("1 ✗ failed"), "{row}");
    browser.shot("installation-page").await;
    // Deactivate: link → confirmation page → button.
    browser
        .click(&format!("a[href='/installations/{id}/deactivate']"))
        .await;
    browser.click("form button.danger").await;
    let flash = browser.text("p.flash").await;
    assert!(flash.contains("seat freed"), "{flash}");
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["standard_used"], json!(0));
    browser.close().await;
    app.finish().await;
}
