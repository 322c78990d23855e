//! Monitoring: health words at their boundaries, worst first, filters,
//! CSV, and tenant isolation.

use reqwest::StatusCode;
use serde_json::json;

use crate::clients::{activate, invites};
use crate::harness::*;
use crate::invites::customer_with_license;

const HOUR: i64 = 3_600_000;

/// Five live clients, one per health word, in one customer.
async fn five_clients(app: &TestApp, t: &str) -> (String, Vec<String>) {
    let (cid, lid) = customer_with_license(app, t, None).await;
    app.api(
        "PUT",
        &format!("/api/v1/licenses/{lid}"),
        t,
        Some(json!({"standard_seats": 10, "client_limit_gb": 100})),
    )
    .await;
    let codes = invites(app, t, &lid, 5, "standard", "m").await;
    let mut ids = Vec::new();
    for (u, c) in &codes {
        let (s, a) = activate(app, u, c).await;
        assert_eq!(s, StatusCode::CREATED);
        ids.push(a["installation_id"].as_str().unwrap().to_string());
    }
    let now = command_center::domain::now_millis();
    // ok: success 47 h 59 min ago; overdue: success exactly 48 h ago;
    // failed: the last run failed; warning: over the client limit; never.
    // (health_base as report ingestion would store it: 4 failed, 1 warning
    // or over the 100 GB client limit, 0 fine.)
    let set = |id: &str, status: &str, at: i64, success: Option<i64>, bytes: i64| {
        let base = match status {
            "failed" => 4,
            "warning" => 1,
            _ if bytes > 100_000_000_000 => 1,
            _ => 0,
        };
        format!(
            "UPDATE installations SET last_backup_at = {at}, last_backup_status = '{status}', last_success_at = {}, storage_used_bytes = {bytes}, health_base = {base} WHERE id = '{id}'",
            success
                .map(|s| s.to_string())
                .unwrap_or_else(|| "NULL".into())
        )
    };
    let ok_at = now - (47 * HOUR + 59 * 60_000);
    app.exec(&set(&ids[0], "success", ok_at, Some(ok_at), 1_000))
        .await;
    app.exec(&set(
        &ids[1],
        "success",
        now - 48 * HOUR - 1000,
        Some(now - 48 * HOUR - 1000),
        1_000,
    ))
    .await;
    app.exec(&set(
        &ids[2],
        "failed",
        now - HOUR,
        Some(now - 2 * HOUR),
        1_000,
    ))
    .await;
    app.exec(&set(
        &ids[3],
        "success",
        now - HOUR,
        Some(now - HOUR),
        150_000_000_000,
    ))
    .await;
    (cid, ids)
}

#[tokio::test]
async fn health_words_worst_first_with_filters_and_csv() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, ids) = five_clients(&app, &t).await;
    let (s, v) = app.api("GET", "/api/v1/monitoring", &t, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got: Vec<(String, String)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["installation_id"].as_str().unwrap().to_string(),
                e["health"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let health_of = |id: &str| {
        got.iter()
            .find(|(i, _)| i == id)
            .map(|(_, h)| h.clone())
            .unwrap()
    };
    assert_eq!(health_of(&ids[0]), "ok", "47 h 59 min is not overdue");
    assert_eq!(health_of(&ids[1]), "overdue", "48 h is");
    assert_eq!(health_of(&ids[2]), "failed");
    assert_eq!(health_of(&ids[3]), "warning", "over the client limit");
    assert_eq!(health_of(&ids[4]), "never");
    let order: Vec<&str> = got.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(
        order,
        ["failed", "overdue", "never", "warning", "ok"],
        "worst first"
    );
    let e = &v["items"][0];
    for f in [
        "installation_id",
        "customer_id",
        "username",
        "hostname",
        "software_type",
        "last_seen_at",
        "last_backup_at",
        "last_backup_status",
        "storage_used_bytes",
        "health",
    ] {
        assert!(e.get(f).is_some(), "field {f}");
    }
    // Filters and paging.
    let (_, v) = app
        .api("GET", "/api/v1/monitoring?health=overdue", &t, None)
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let (_, v) = app
        .api(
            "GET",
            &format!("/api/v1/monitoring?customer_id={cid}&limit=2"),
            &t,
            None,
        )
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let cursor = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v2) = app
        .api(
            "GET",
            &format!("/api/v1/monitoring?customer_id={cid}&limit=2&cursor={cursor}"),
            &t,
            None,
        )
        .await;
    assert_eq!(
        v2["items"][0]["health"], "never",
        "the next page goes on where the first ended"
    );
    // A search is worst first too, and pages the same way.
    let (_, v) = app
        .api("GET", "/api/v1/monitoring?q=TESTIASIAKAS&limit=3", &t, None)
        .await;
    let words = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["health"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(words(&v), ["failed", "overdue", "never"], "{v}");
    let cursor = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v) = app
        .api(
            "GET",
            &format!("/api/v1/monitoring?q=TESTIASIAKAS&limit=3&cursor={cursor}"),
            &t,
            None,
        )
        .await;
    assert_eq!(words(&v), ["warning", "ok"], "{v}");
    let (_, v) = app
        .api("GET", "/api/v1/monitoring?q=nobody-here", &t, None)
        .await;
    assert!(words(&v).is_empty());
    let (s, _) = app
        .api("GET", "/api/v1/monitoring?health=purple", &t, None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // CSV of the same view.
    let csv = reqwest::Client::new()
        .get(app.url("/api/v1/monitoring.csv?health=failed"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("installation_id,") && lines[1].ends_with(",failed"));
    // The page in the console, with the customer summary.
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (s, html) = b.get(&format!("/monitoring?customer_id={cid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("Overdue") && html.contains("Never backed up") && html.contains("<meter"),
        "{html}"
    );
    assert!(html.contains("Standard 5 / 10"), "seats in the summary");
    app.finish().await;
}

#[tokio::test]
async fn monitoring_stays_within_the_vendor() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    five_clients(&app, &admin).await;
    let v = app.vendor(&admin, "Other").await;
    app.operator(&admin, "op@other.example", "operator", Some(&v))
        .await;
    let op = app.token("op@other.example", PASSWORD).await;
    let (s, list) = app.api("GET", "/api/v1/monitoring", &op, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (_, all) = app.api("GET", "/api/v1/monitoring", &admin, None).await;
    let cid = all["items"][0]["customer_id"].as_str().unwrap();
    let (s, _) = app
        .api(
            "GET",
            &format!("/api/v1/monitoring?customer_id={cid}"),
            &op,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.finish().await;
}
