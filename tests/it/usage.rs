//! Usage for billing: daily samples with a fixed clock, a month's sums
//! with activations and deactivations on known days, two instances
//! sampling the same day, the API as JSON and CSV, tenancy.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clients::{activate, invites};
use crate::harness::*;

fn services(app: &TestApp) -> std::sync::Arc<command_center::service::Services> {
    app.running.as_ref().unwrap().services.clone()
}

/// Milliseconds of a UTC time `2026-03-11T06:00`.
fn at(day: &str, hour: i64) -> i64 {
    let d = command_center::domain::license::parse_date("d", day).unwrap();
    command_center::domain::usage::start_of_day(d) + hour * 3_600_000
}

async fn app() -> TestApp {
    TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        // The tests sample with their own clock.
        ("CC_USAGE_SAMPLE_SECS", "0"),
    ])
    .await
}

async fn customer(app: &TestApp, t: &str, vid: &str, name: &str) -> String {
    let (s, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            t,
            Some(json!({"name": name, "vendor_id": vid})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().to_string()
}

async fn license(app: &TestApp, t: &str, cid: &str, body: Value) -> String {
    let (s, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{cid}/licenses"),
            t,
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    l["id"].as_str().unwrap().to_string()
}

/// Vendor "Usage Oy" with customer Alpha (purchased: 5 standard + 1 server
/// seats, 10 GB extra; two standard clients and one server client) and
/// customer Beta (trial: 2 standard seats, valid to 2026-03-20); times set
/// to known days of March 2026. Returns (admin token, vendor id, Alpha id).
async fn march(app: &TestApp) -> (String, String, String) {
    let t = app.admin_token().await;
    let vid = app.vendor(&t, "Usage Oy").await;
    let alpha = customer(app, &t, &vid, "Alpha Oy").await;
    let beta = customer(app, &t, &vid, "Beta Oy").await;
    let la = license(app, &t, &alpha, json!({"type": "purchased", "standard_seats": 5, "server_seats": 1, "extra_space_gb": 10, "created": "2026-01-01", "valid_to": "2027-06-30"})).await;
    license(app, &t, &beta, json!({"type": "trial", "standard_seats": 2, "server_seats": 0, "created": "2026-01-01", "valid_to": "2026-03-20"})).await;
    for (u, code) in invites(app, &t, &la, 2, "standard", "us")
        .await
        .into_iter()
        .chain(invites(app, &t, &la, 1, "server", "sv").await)
    {
        let (s, a) = activate(app, &u, &code).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
    }
    // us0 from February until 11 March 00:00 (so 1–10 March), us1 from
    // 21 March 06:00 (21–31), sv0 all month. Storage: the server's counts.
    app.exec(&format!(
        "UPDATE licenses SET created_at = {jan}; \
         UPDATE installations SET activated_at = {feb}, deactivated_at = {m11}, storage_used_bytes = 1000 WHERE username = 'us0'; \
         UPDATE installations SET activated_at = {m21}, storage_used_bytes = 2000 WHERE username = 'us1'; \
         UPDATE installations SET activated_at = {m1}, storage_used_bytes = 500 WHERE username = 'sv0'",
        jan = at("2026-01-01", 0),
        feb = at("2026-02-20", 0),
        m11 = at("2026-03-11", 0),
        m21 = at("2026-03-21", 6),
        m1 = at("2026-03-01", 0),
    ))
    .await;
    (t, vid, alpha)
}

#[tokio::test]
async fn a_month_of_samples_sums_to_peaks_and_averages() {
    let app = app().await;
    let (t, vid, alpha) = march(&app).await;
    let s = services(&app);
    // Today's sample on 1 March, then the console is off until 31 March:
    // the days between are filled at the next pass.
    let first = s.sample_usage(at("2026-03-01", 12)).await.unwrap();
    assert_eq!((first.days_filled, first.rows_today), (0, 2));
    let last = s.sample_usage(at("2026-03-31", 12)).await.unwrap();
    assert_eq!((last.days_filled, last.rows_today), (29, 2));
    // Hourly refreshes change nothing but the row.
    s.sample_usage(at("2026-03-31", 13)).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM usage_daily").await, 62);

    let (st, r) = app
        .api(
            "GET",
            &format!("/api/v1/usage?month=2026-03&vendor_id={vid}"),
            &t,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["month"], "2026-03");
    assert_eq!(r["days"], 31);
    let v = &r["vendors"][0];
    assert_eq!(v["vendor_name"], "Usage Oy");
    let rows = v["customers"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    let a = &rows[0];
    assert_eq!(a["customer_id"], alpha.as_str());
    assert_eq!(a["customer_name"], "Alpha Oy");
    assert_eq!(a["license_type"], "purchased");
    assert_eq!(a["standard_seats_peak"], 5);
    assert_eq!(a["standard_seats_avg"], 5.0);
    // 10 days with us0, 11 with us1, never both: 21 seat-days.
    assert_eq!(a["standard_used_peak"], 1);
    assert_eq!(a["standard_used_avg"], 0.68);
    assert_eq!(a["server_used_peak"], 1);
    assert_eq!(a["server_used_avg"], 1.0);
    // 5 × 10 + 1 × 25 + 10 (the default space per seat).
    assert_eq!(a["total_space_gb_peak"], 85);
    // 1–20 March: 1000 + 500; 21–31: 1000 + 2000 + 500.
    assert_eq!(a["storage_used_bytes_peak"], 3500);
    assert_eq!(
        a["storage_used_bytes_avg"],
        (20 * 1500 + 11 * 3500 + 15) / 31
    );
    assert_eq!(a["days_active"], 31);
    let b = &rows[1];
    assert_eq!(b["customer_name"], "Beta Oy");
    assert_eq!(b["license_type"], "trial");
    // Valid to 20 March: expired from the 21st.
    assert_eq!(b["days_active"], 20);
    assert_eq!(b["standard_seats_peak"], 2);
    // The vendor's totals are the peaks of its daily totals.
    assert_eq!(v["totals"]["standard_seats_peak"], 7);
    assert_eq!(v["totals"]["standard_used_peak"], 1);
    assert_eq!(v["totals"]["days_active"], 31);
    let history = v["history"].as_array().unwrap();
    assert_eq!(history.len(), 12);
    assert_eq!(history[0]["month"], "2025-04");
    assert_eq!(history[11]["month"], "2026-03");
    assert_eq!(history[11]["server_used_peak"], 1);
    assert_eq!(history[10]["server_used_peak"], 0);

    // The same as CSV, with stable columns.
    let res = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/usage?month=2026-03&vendor_id={vid}")))
        .bearer_auth(&t)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], command_center::service::usage::USAGE_COLUMNS);
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].starts_with(&format!("2026-03,{vid},Usage Oy,{alpha},Alpha Oy,purchased,31,31,5,5.00,1,0.68,1,1.00,1,1.00,85,85.00,3500,")),
        "{csv}"
    );

    // Bad months are refused with the field named.
    let (st, e) = app
        .api("GET", "/api/v1/usage?month=2026-13", &t, None)
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["errors"][0]["field"], "month");
    app.finish().await;
}

#[tokio::test]
async fn operators_see_only_their_own_vendors_usage() {
    let app = app().await;
    let (t, vid, _) = march(&app).await;
    let other = app.vendor(&t, "Other Oy").await;
    let oc = customer(&app, &t, &other, "Gamma Oy").await;
    license(
        &app,
        &t,
        &oc,
        json!({"standard_seats": 3, "created": "2026-01-01", "valid_to": "2027-01-01"}),
    )
    .await;
    app.exec(&format!(
        "UPDATE licenses SET created_at = {}",
        at("2026-01-01", 0)
    ))
    .await;
    services(&app)
        .sample_usage(at("2026-03-15", 12))
        .await
        .unwrap();
    // An admin sees both vendors; the month's averages so far are over
    // the days of March (the month is over by the real clock).
    let (_, r) = app
        .api("GET", "/api/v1/usage?month=2026-03", &t, None)
        .await;
    let names: Vec<&str> = r["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["vendor_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{r}");
    assert!(names.contains(&"Usage Oy") && names.contains(&"Other Oy"));

    app.operator(&t, "op@usage.example", "operator", Some(&vid))
        .await;
    let op = app.token("op@usage.example", PASSWORD).await;
    let (s, r) = app
        .api("GET", "/api/v1/usage?month=2026-03", &op, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let vendors = r["vendors"].as_array().unwrap();
    assert_eq!(vendors.len(), 1, "{r}");
    assert_eq!(vendors[0]["vendor_id"], vid.as_str());
    // Naming another vendor is "not found".
    let (s, _) = app
        .api(
            "GET",
            &format!("/api/v1/usage?month=2026-03&vendor_id={other}"),
            &op,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sampling_the_same_day_write_one_row_per_license() {
    let mut first = app().await;
    march(&first).await;
    let mut env = first.env.clone();
    env.insert("CC_LISTEN".into(), "127.0.0.1:0".into());
    let second = command_center::start(
        command_center::Config::from_sources(&Default::default(), env).unwrap(),
    )
    .await
    .unwrap();
    let a = services(&first);
    let b = second.services.clone();
    let now = at("2026-03-05", 9);
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(a.sample_usage(now), b.sample_usage(now));
        ra.unwrap();
        rb.unwrap();
    }
    assert_eq!(first.count("SELECT COUNT(*) FROM usage_daily").await, 2);
    assert_eq!(
        first
            .count("SELECT COUNT(*) FROM usage_daily WHERE day = '2026-03-05'")
            .await,
        2
    );
    second.stop().await.unwrap();
    first.stop().await;
    first.start().await.unwrap();
    first.finish().await;
}

#[tokio::test]
async fn the_console_samples_today_at_start() {
    let mut app = app().await;
    let t = app.admin_token().await;
    let vid = app.vendor(&t, "Start Oy").await;
    let c = customer(&app, &t, &vid, "Delta Oy").await;
    license(&app, &t, &c, json!({"standard_seats": 1})).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM usage_daily").await, 0);
    // Restarted with sampling on: today's row is there without waiting an hour.
    app.stop().await;
    app.env.insert("CC_USAGE_SAMPLE_SECS".into(), "3600".into());
    app.start().await.unwrap();
    let mut n = 0;
    for _ in 0..100 {
        n = app.count("SELECT COUNT(*) FROM usage_daily").await;
        if n > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(n, 1);
    app.finish().await;
}

#[tokio::test]
async fn the_usage_page_shows_tables_a_chart_and_the_csv_link() {
    let app = app().await;
    let (t, vid, _) = march(&app).await;
    let other = app.vendor(&t, "Other Oy").await;
    let oc = customer(&app, &t, &other, "Gamma Oy").await;
    license(
        &app,
        &t,
        &oc,
        json!({"standard_seats": 3, "created": "2026-01-01", "valid_to": "2027-01-01"}),
    )
    .await;
    app.exec(&format!(
        "UPDATE licenses SET created_at = {}",
        at("2026-01-01", 0)
    ))
    .await;
    services(&app)
        .sample_usage(at("2026-03-31", 12))
        .await
        .unwrap();

    let admin = Browserless::new(&app);
    admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (s, html) = admin.get("/usage?month=2026-03").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("href=\"/usage\""), "the menu has Usage");
    for want in [
        "Usage Oy",
        "Other Oy",
        "Alpha Oy",
        "Beta Oy",
        "Gamma Oy",
        "<svg class=\"usage-chart\"",
        "<polyline class=\"storage\"",
        "<label for=\"month\">",
    ] {
        assert!(html.contains(want), "{want} in {html}");
    }
    // The vendor filter narrows the view; the CSV link keeps it.
    let (_, html) = admin
        .get(&format!("/usage?month=2026-03&vendor_id={vid}"))
        .await;
    assert!(html.contains("Alpha Oy") && !html.contains("Gamma Oy"));
    assert!(
        html.contains(&format!("/usage.csv?month=2026-03&#38;vendor_id={vid}")),
        "{html}"
    );
    let (s, csv) = admin
        .get(&format!("/usage.csv?month=2026-03&vendor_id={vid}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    // A bad month says so and shows the current month.
    let (s, html) = admin.get("/usage?month=March").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("A month like 2026-03."), "{html}");

    // An operator sees its own vendor only, and no vendor filter.
    app.operator(&t, "op@usage.example", "operator", Some(&other))
        .await;
    let op = Browserless::new(&app);
    op.sign_in("op@usage.example", PASSWORD).await;
    let (s, html) = op.get("/usage?month=2026-03").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("Gamma Oy") && !html.contains("Alpha Oy"),
        "{html}"
    );
    assert!(!html.contains("id=\"vendor_id\""));
    let (s, _) = op
        .get(&format!("/usage.csv?month=2026-03&vendor_id={vid}"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_mail_goes_once_per_vendor_with_the_csv_attached() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut first = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_USAGE_SAMPLE_SECS", "0"),
        ("CC_SMTP_URL", &smtp.url()),
    ])
    .await;
    let (t, vid, _alpha) = march(&first).await;
    // The billing address: checked like every address, then saved.
    let (s, e) = first
        .api(
            "PUT",
            &format!("/api/v1/vendors/{vid}"),
            &t,
            Some(json!({"name": "Usage Oy", "billing_email": "not an address"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["errors"][0]["field"], "billing_email");
    let (s, v) = first
        .api(
            "PUT",
            &format!("/api/v1/vendors/{vid}"),
            &t,
            Some(json!({"name": "Usage Oy", "billing_email": "laskutus@usage.example", "alert_language": "fi"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["billing_email"], "laskutus@usage.example");
    // Left out, it is kept.
    let (_, v) = first
        .api(
            "PUT",
            &format!("/api/v1/vendors/{vid}"),
            &t,
            Some(json!({"name": "Usage Oy", "alert_language": "fi"})),
        )
        .await;
    assert_eq!(v["billing_email"], "laskutus@usage.example");
    // A vendor without a billing address gets nothing.
    let quiet = first.vendor(&t, "Quiet Oy").await;
    let qc = customer(&first, &t, &quiet, "Quiet Customer Oy").await;
    license(&first, &t, &qc, json!({"standard_seats": 1})).await;

    let a = services(&first);
    a.sample_usage(at("2026-03-01", 12)).await.unwrap();
    // Mid-month nothing is sent.
    assert_eq!(a.send_usage_mails(at("2026-03-20", 1)).await.unwrap(), 0);
    // The 1st of April, 00:30: the sample fills March, then two instances
    // send at once, three times over.
    a.sample_usage(at("2026-04-01", 0) + 1_800_000)
        .await
        .unwrap();
    let mut env = first.env.clone();
    env.insert("CC_LISTEN".into(), "127.0.0.1:0".into());
    let second = command_center::start(
        command_center::Config::from_sources(&Default::default(), env).unwrap(),
    )
    .await
    .unwrap();
    let b = second.services.clone();
    let mut queued = 0;
    for hour in 1..4 {
        let now = at("2026-04-01", hour);
        let (qa, qb) = tokio::join!(a.send_usage_mails(now), b.send_usage_mails(now));
        queued += qa.unwrap() + qb.unwrap();
    }
    assert_eq!(queued, 1);
    assert_eq!(
        first
            .count("SELECT COUNT(*) FROM outbox WHERE kind = 'usage_report'")
            .await,
        1
    );
    assert_eq!(
        first
            .count(&format!(
                "SELECT COUNT(*) FROM usage_mails WHERE vendor_id = '{vid}' AND month = '2026-03'"
            ))
            .await,
        1
    );

    let mails = smtp.wait_for(1, 20).await;
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(m.to.contains("laskutus@usage.example"), "{}", m.to);
    assert_eq!(m.subject, "Käyttö Usage Oy: 2026-03");
    assert!(m.text.contains("/usage?month=2026-03"), "{}", m.text);
    assert_eq!(m.attachments.len(), 1, "{m:?}");
    let file = &m.attachments[0];
    assert_eq!(file.filename, "usage-2026-03.csv");
    assert_eq!(file.content_type, "text/csv");
    // The attachment is the month's CSV the console serves.
    let res = reqwest::Client::new()
        .get(first.url(&format!("/api/v1/usage?month=2026-03&vendor_id={vid}")))
        .bearer_auth(&t)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    let served = res.text().await.unwrap();
    assert_eq!(file.content.replace("\r\n", "\n"), served);
    let lines: Vec<&str> = served.lines().collect();
    assert_eq!(lines.len(), 3, "{served}");
    assert!(
        lines[1].contains(",Alpha Oy,purchased,31,31,5,5.00,1,0.68,"),
        "{served}"
    );
    // Later days of the month send nothing more.
    assert_eq!(a.send_usage_mails(at("2026-04-05", 1)).await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(smtp.count(), 1);

    // The console's vendor form has the field.
    let web = Browserless::new(&first);
    web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = web.get(&format!("/vendors/{vid}")).await;
    assert!(html.contains("<label for=\"billing_email\">"), "{html}");
    assert!(html.contains("value=\"laskutus@usage.example\""), "{html}");

    second.stop().await.unwrap();
    first.stop().await;
    first.start().await.unwrap();
    first.finish().await;
}
