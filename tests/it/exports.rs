//! Exports of licenses, invites and installations as CSV (#15): all
//! pages chained (more rows than one page), streamed without a length,
//! formula cells defused, the byte-order mark on request, activation
//! codes never in the file, and tenancy: an operator gets only its own
//! vendor's rows whatever vendor it names; the console's links work.

use reqwest::StatusCode;
use serde_json::json;

use crate::clients::{activate, invites};
use crate::harness::*;

/// A GET of a CSV export with a bearer token: (status, headers, text).
async fn get_csv(
    app: &TestApp,
    token: &str,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let res = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (s, h, res.text().await.unwrap())
}

/// The values of one column, by its header name, of every data row.
fn column(csv: &str, name: &str) -> Vec<String> {
    let t = command_center::domain::csv::read(csv).unwrap();
    let i = t.column(name).unwrap();
    t.rows.iter().map(|(_, r)| r[i].clone()).collect()
}

async fn customer_with_license(app: &TestApp, t: &str, vendor: &str, name: &str) -> String {
    let (s, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            t,
            Some(json!({"name": name, "vendor_id": vendor})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let cid = c["id"].as_str().unwrap();
    let (s, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{cid}/licenses"),
            t,
            Some(json!({"type": "purchased", "standard_seats": 3, "server_seats": 1, "comments": "-5 % off"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    l["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn licenses_invites_and_installations_export_streamed_and_scoped() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let a = app.vendor(&t, "Alpha Reseller Oy").await;
    let b = app.vendor(&t, "Beta Reseller Oy").await;
    app.operator(&t, "op@beta.example", "operator", Some(&b))
        .await;
    let la = customer_with_license(&app, &t, &a, "=HYPERLINK(\"x\") Oy").await;
    let lb = customer_with_license(&app, &t, &b, "Beta Customer Oy").await;
    let codes_a = invites(&app, &t, &la, 2, "standard", "alfa").await;
    let codes_b = invites(&app, &t, &lb, 1, "standard", "beeta").await;
    let (s, v) = activate(&app, &codes_a[0].0, &codes_a[0].1).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = activate(&app, &codes_b[0].0, &codes_b[0].1).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // More licenses than one export page (500) in vendor A, by import.
    let mut file = String::from("name;vendor_id;standard_seats\n");
    for i in 0..1_100 {
        file.push_str(&format!("Bulk {i} Oy;{a};2\n"));
    }
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/import/customers?dry_run=false"))
        .bearer_auth(&t)
        .header("Content-Type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Licenses: every one, once, over three pages; formula cells defused.
    let (s, h, all) = get_csv(&app, &t, "/api/v1/licenses.csv?bom=true").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(
        h.get("content-length").is_none(),
        "streamed, not a whole body: {h:?}"
    );
    assert!(all.starts_with('\u{feff}'), "the byte-order mark for Excel");
    let ids = column(&all, "id");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (1_102, 1_102));
    assert!(
        all.contains(",'=HYPERLINK(\"\"x\"\") Oy,") || all.contains("\"'=HYPERLINK"),
        "{}",
        &all[..600]
    );
    assert!(
        all.contains(",'-5 % off,"),
        "a comment starting with - is defused"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM licenses").await as usize,
        ids.len()
    );
    // An admin may ask for one vendor's.
    let (_, _, only_b) = get_csv(&app, &t, &format!("/api/v1/licenses.csv?vendor_id={b}")).await;
    assert_eq!(column(&only_b, "id"), [lb.as_str()]);

    // An operator: its own vendor's rows only, whatever it names.
    let op = app.token("op@beta.example", PASSWORD).await;
    for q in ["", "?vendor_id=", &format!("?vendor_id={a}")] {
        let (s, _, own) = get_csv(&app, &op, &format!("/api/v1/licenses.csv{q}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(column(&own, "id"), [lb.as_str()], "{q}: {own}");
        assert_eq!(column(&own, "standard_used"), ["1"]);
        let (_, _, inv) = get_csv(&app, &op, &format!("/api/v1/invites.csv{q}")).await;
        assert_eq!(column(&inv, "username"), ["beeta0"], "{inv}");
        let (_, _, inst) = get_csv(&app, &op, &format!("/api/v1/installations.csv{q}")).await;
        assert_eq!(column(&inst, "username"), ["beeta0"], "{inst}");
        assert_eq!(column(&inst, "hostname"), ["host-1"]);
    }

    // Invites: never the activation code, even to an admin.
    let (s, _, inv) = get_csv(&app, &t, "/api/v1/invites.csv").await;
    assert_eq!(s, StatusCode::OK);
    let mut users = column(&inv, "username");
    users.sort();
    assert_eq!(users, ["alfa0", "alfa1", "beeta0"]);
    assert!(!inv.contains("activation_code"), "{inv}");
    for (_, code) in codes_a.iter().chain(&codes_b) {
        assert!(!inv.contains(code.as_str()), "a code in the export");
    }
    let mut status = column(&inv, "status");
    status.sort();
    assert_eq!(status, ["unused", "used", "used"]);
    let (_, _, inst) = get_csv(&app, &t, "/api/v1/installations.csv").await;
    let mut users = column(&inst, "username");
    users.sort();
    assert_eq!(users, ["alfa0", "beeta0"]);

    // Without a token: 401, no file.
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/invites.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The console: a visible link on each list page, and the same files
    // (the operator's own rows).
    let web = Browserless::new(&app);
    web.sign_in("op@beta.example", PASSWORD).await;
    let (_, html) = web.get("/licenses").await;
    assert!(
        html.contains("href=\"/licenses/licenses.csv?vendor=\""),
        "{html}"
    );
    let (_, html) = web.get("/installations").await;
    assert!(
        html.contains("href=\"/installations/invites.csv?vendor=\""),
        "{html}"
    );
    assert!(
        html.contains("href=\"/installations/installations.csv?vendor=\""),
        "{html}"
    );
    for (path, want) in [
        ("/licenses/licenses.csv", lb.as_str()),
        ("/installations/invites.csv?bom=1", "beeta0"),
        (
            &format!("/installations/installations.csv?vendor={a}"),
            "beeta0",
        ),
    ] {
        let (s, text) = web.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(text.lines().count(), 2, "{path}: {text}");
        assert!(text.contains(want), "{path}: {text}");
        assert_eq!(text.starts_with('\u{feff}'), path.contains("bom=1"));
    }
    app.finish().await;
}
