//! The client API: activation and seats, policy, reports, deactivation,
//! trials — and seats under real concurrency.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;
use crate::invites::customer_with_license;

pub async fn client_post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    app.api_with_headers("POST", path, token, Some(body)).await
}

pub async fn activate(app: &TestApp, username: &str, code: &str) -> (StatusCode, Value) {
    let (s, v, _) = client_post(app, "/client/v1/activate", None, json!({"username": username, "activation_code": code, "hostname": "host-1", "os": "linux", "client_version": "1.0"})).await;
    (s, v)
}

/// Sends all these activations at the same moment (a barrier releases
/// them together); answers (username, code, status, problem code) each.
async fn activate_all_at_once(
    app: &TestApp,
    calls: Vec<(String, String)>,
) -> Vec<(String, String, StatusCode, String)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(calls.len())
        .build()
        .unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(calls.len()));
    let mut set = tokio::task::JoinSet::new();
    for (u, c) in calls {
        let (client, url, barrier) = (
            client.clone(),
            app.url("/client/v1/activate"),
            barrier.clone(),
        );
        set.spawn(async move {
            barrier.wait().await;
            let r = client.post(url).json(&json!({"username": u, "activation_code": c, "hostname": "h", "os": "linux", "client_version": "1"})).send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap_or_default();
            (u, c, status, v["code"].as_str().unwrap_or("").to_string())
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

/// Creates invites on a license and returns (username, code) pairs.
pub async fn invites(
    app: &TestApp,
    token: &str,
    license: &str,
    n: usize,
    kind: &str,
    tag: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let (s, v) = app
            .api("POST", &format!("/api/v1/licenses/{license}/invites"), token, Some(json!({"username": format!("{tag}{i}"), "email": format!("{tag}{i}@example.com"), "software_type": kind})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        out.push((
            v["username"].as_str().unwrap().to_string(),
            v["activation_code"].as_str().unwrap().to_string(),
        ));
    }
    out
}

pub fn report_body(status: &str, bytes: i64) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let f = &time::format_description::well_known::Rfc3339;
    json!({"started_at": (now - time::Duration::minutes(10)).format(f).unwrap(), "finished_at": now.format(f).unwrap(), "status": status, "bytes_total": bytes, "bytes_uploaded": 1000, "files_total": 10, "files_changed": 2, "message": ""})
}

#[tokio::test]
async fn a_client_activates_reports_and_leaves() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    app.api("PUT", &format!("/api/v1/customers/{cid}"), &t, Some(json!({"name": "Testiasiakas Oy", "language": "en", "encryption_key": "customer-secret"}))).await;
    let inv = invites(&app, &t, &lid, 1, "standard", "worker").await;
    let (user, code) = &inv[0];
    // Case and dashes do not matter when typing the code.
    let typed = code.to_lowercase().replace('-', " ");
    let (s, a) = activate(&app, &user.to_uppercase(), &typed).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let token = a["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 22);
    assert_eq!(a["software_type"], "standard");
    assert_eq!(a["policy"]["encryption_key"], "customer-secret");
    assert_eq!(a["policy"]["total_space_bytes"], 75_000_000_000i64);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM installations WHERE token_hash = '{token}'"
        ))
        .await,
        0,
        "token stored only hashed"
    );
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["standard_used"], 1);
    // Policy and reports with the token.
    let (s, p, _) = app
        .api_with_headers("GET", "/client/v1/policy", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["store_deleted_days"], 30);
    assert_eq!(p["license_state"], "active");
    let (s, v, _) = client_post(
        &app,
        "/client/v1/reports",
        Some(&token),
        report_body("success", 5_000_000_000),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, _, _) = client_post(
        &app,
        "/client/v1/reports",
        Some(&token),
        report_body("failed", 5_100_000_000),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = app
        .api(
            "GET",
            &format!("/api/v1/installations?license_id={lid}"),
            &t,
            None,
        )
        .await;
    let n = &list["items"][0];
    assert_eq!(n["last_backup_status"], "failed");
    assert_eq!(n["storage_used_bytes"], 5_100_000_000i64);
    assert_eq!(n["hostname"], "host-1");
    // Bad reports are refused and change nothing.
    let mut bad = report_body("exploded", -1);
    bad["finished_at"] = json!("yesterday");
    let (s, v, _) = client_post(&app, "/client/v1/reports", Some(&token), bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, 2);
    // The same code cannot be used twice.
    let (s, v) = activate(&app, user, code).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["code"], "invite_used");
    // Leave: the seat is free, the token dead.
    let (s, _, _) = client_post(&app, "/client/v1/deactivate", Some(&token), json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["standard_used"], 0);
    let (s, _, _) = app
        .api_with_headers("GET", "/client/v1/policy", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Activation and deactivation are audited.
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('installation.activate', 'installation.deactivate') AND actor_kind = 'client'").await, 2);
    app.finish().await;
}

#[tokio::test]
async fn unknown_user_and_wrong_code_look_the_same_and_are_rate_limited() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let inv = invites(&app, &t, &lid, 1, "standard", "target").await;
    let (s1, v1) = activate(&app, "nobody-here", "AAAA-BBBB-CCCC-DDDD").await;
    let (s2, v2) = activate(&app, &inv[0].0, "AAAA-BBBB-CCCC-DDDD").await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, &v1), (s2, &v2), "same status and body");
    assert_eq!(v1["code"], "invalid_credentials");
    assert_eq!(v1["detail"], "Unknown username or wrong activation code.");
    for _ in 0..8 {
        activate(&app, &inv[0].0, "AAAA-BBBB-CCCC-DDDD").await;
    }
    // Ten failures for this username: even the right code waits now.
    let (s, v, h) = client_post(&app, "/client/v1/activate", None, json!({"username": inv[0].0, "activation_code": inv[0].1, "hostname": "h", "os": "linux", "client_version": "1"})).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "rate_limited");
    assert!(h.get("retry-after").is_some());
    app.finish().await;
}

/// The per-address limit: failures spread over ten usernames from one
/// address stop that address, even for an invite that never failed.
#[tokio::test]
async fn activation_failures_are_rate_limited_per_address() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let inv = invites(&app, &t, &lid, 1, "standard", "fresh").await;
    for i in 0..10 {
        let (s, v) = activate(&app, &format!("stranger{i}"), "AAAA-BBBB-CCCC-DDDD").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "failure {i}: {v}");
    }
    let (s, v) = activate(&app, &inv[0].0, &inv[0].1).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "rate_limited");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM installations").await,
        0,
        "nothing activated"
    );
    app.finish().await;
}

#[tokio::test]
async fn license_state_and_dates_decide() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let inv = invites(&app, &t, &lid, 3, "standard", "d").await;
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let today = time::OffsetDateTime::now_utc().date();
    // Valid to today: still valid (the boundary day counts).
    app.exec(&format!(
        "UPDATE licenses SET created = '2020-01-01', valid_to = '{}' WHERE id = '{lid}'",
        today.format(&fmt).unwrap()
    ))
    .await;
    let (s, a) = activate(&app, &inv[0].0, &inv[0].1).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    // Valid to yesterday: expired, without anyone saving it.
    app.exec(&format!(
        "UPDATE licenses SET valid_to = '{}' WHERE id = '{lid}'",
        today.previous_day().unwrap().format(&fmt).unwrap()
    ))
    .await;
    let (s, v) = activate(&app, &inv[1].0, &inv[1].1).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("license_expired")),
        "{v}"
    );
    // The activated client is told, and its reports are still taken.
    let token = a["token"].as_str().unwrap();
    let (_, p, _) = app
        .api_with_headers("GET", "/client/v1/policy", Some(token), None)
        .await;
    assert_eq!(p["license_state"], "expired");
    let (s, _, _) = client_post(
        &app,
        "/client/v1/reports",
        Some(token),
        report_body("success", 1),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Suspended: inactive.
    app.exec(&format!(
        "UPDATE licenses SET valid_to = '2999-12-31', state = 'suspended' WHERE id = '{lid}'"
    ))
    .await;
    let (s, v) = activate(&app, &inv[2].0, &inv[2].1).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("license_inactive")),
        "{v}"
    );
    // Nothing was taken by the refusals.
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["standard_used"], 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites WHERE used_at IS NOT NULL")
            .await,
        1
    );
    app.finish().await;
}

#[tokio::test]
async fn standard_and_server_seats_are_separate_and_reused_after_deactivation() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    app.api(
        "PUT",
        &format!("/api/v1/licenses/{lid}"),
        &t,
        Some(json!({"standard_seats": 1, "server_seats": 1})),
    )
    .await;
    let std = invites(&app, &t, &lid, 2, "standard", "ws").await;
    let srv = invites(&app, &t, &lid, 2, "server", "srv").await;
    let (s, first) = activate(&app, &std[0].0, &std[0].1).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = activate(&app, &std[1].0, &std[1].1).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("seats_exhausted"))
    );
    let (s, _) = activate(&app, &srv[0].0, &srv[0].1).await;
    assert_eq!(s, StatusCode::CREATED, "a server seat is its own pool");
    let (s, _) = activate(&app, &srv[1].0, &srv[1].1).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // An operator deactivates the first workstation: its seat is reusable.
    let (s, d) = app
        .api(
            "POST",
            &format!(
                "/api/v1/installations/{}/deactivate",
                first["installation_id"].as_str().unwrap()
            ),
            &t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert!(d["deactivated_at"].is_string());
    let (s, _) = activate(&app, &std[1].0, &std[1].1).await;
    assert_eq!(s, StatusCode::CREATED, "the freed seat is taken again");
    // The seat count cannot now go below the seats in use.
    let (s, _) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"standard_seats": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'installation.deactivate' AND actor_kind = 'operator'").await, 1);
    app.finish().await;
}

/// 200 activations at once against 5 standard seats: exactly 5 succeed,
/// 195 hear seats_exhausted, and the database agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_activations_take_exactly_five_seats() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let codes = invites(&app, &t, &lid, 200, "standard", "racer").await;
    let mut ok = 0;
    let mut exhausted = 0;
    for (_, _, s, code) in activate_all_at_once(&app, codes).await {
        match (s, code.as_str()) {
            (StatusCode::CREATED, _) => ok += 1,
            (StatusCode::CONFLICT, "seats_exhausted") => exhausted += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((ok, exhausted), (5, 195));
    assert_eq!(
        app.count(&format!(
            "SELECT standard_used FROM licenses WHERE id = '{lid}'"
        ))
        .await,
        5
    );
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM installations WHERE license_id = '{lid}' AND deactivated_at IS NULL")).await, 5);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites WHERE used_at IS NOT NULL")
            .await,
        5
    );
    app.finish().await;
}

/// The same race across two server instances sharing one PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_oversell() {
    if !postgres() {
        eprintln!(
            "two_instances_never_oversell: runs with CC_TEST_DATABASE=postgres (SQLite is one instance by design)"
        );
        return;
    }
    let key = "7c".repeat(32);
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SECRET_KEY", &key),
    ])
    .await;
    let data_b = tempfile::tempdir().unwrap();
    let mut env_b = app.env.clone();
    env_b.insert("CC_DATA_DIR".into(), data_b.path().display().to_string());
    let b = command_center::start(
        command_center::Config::from_sources(&command_center::config::ConfigArgs::default(), env_b)
            .unwrap(),
    )
    .await
    .unwrap();
    let urls = [
        app.url("/client/v1/activate"),
        format!("http://{}/client/v1/activate", b.addr),
    ];
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let codes = invites(&app, &t, &lid, 200, "standard", "dual").await;
    let client = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for (i, (u, c)) in codes.into_iter().enumerate() {
        let (client, url) = (client.clone(), urls[i % 2].clone());
        set.spawn(async move {
            let r = client.post(url).json(&json!({"username": u, "activation_code": c, "hostname": "h", "os": "linux", "client_version": "1"})).send().await.unwrap();
            r.status()
        });
    }
    let mut ok = 0;
    while let Some(s) = set.join_next().await {
        let s = s.unwrap();
        assert!(
            s == StatusCode::CREATED || s == StatusCode::CONFLICT,
            "no 5xx under contention: {s}"
        );
        ok += usize::from(s == StatusCode::CREATED);
    }
    assert_eq!(ok, 5);
    assert_eq!(
        app.count(&format!(
            "SELECT standard_used FROM licenses WHERE id = '{lid}'"
        ))
        .await,
        5
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM installations WHERE deactivated_at IS NULL")
            .await,
        5
    );
    b.stop().await.unwrap();
    app.finish().await;
}

#[tokio::test]
async fn a_trial_client_is_connected_to_a_purchased_license() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let (s, trial, _) = client_post(&app, "/client/v1/trial", None, json!({"email": "Maija@Example.com", "hostname": "maija-pc", "os": "windows", "software_type": "standard"})).await;
    assert_eq!(s, StatusCode::CREATED, "{trial}");
    assert_eq!(trial["policy"]["license_type"], "trial");
    assert_eq!(trial["policy"]["total_space_bytes"], 10_000_000_000i64);
    let token = trial["token"].as_str().unwrap();
    // Found by e-mail (any case) or hostname.
    let (_, found) = app
        .api("GET", "/api/v1/trials?q=maija@example.com", &t, None)
        .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    let (_, found) = app.api("GET", "/api/v1/trials?q=MAIJA-PC", &t, None).await;
    let iid = found["items"][0]["id"].as_str().unwrap().to_string();
    let trial_license = found["items"][0]["license_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Connect: the client moves onto the purchased license.
    let (s, moved) = app
        .api(
            "POST",
            &format!("/api/v1/licenses/{lid}/connect-trial"),
            &t,
            Some(json!({"installation_id": iid})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    assert_eq!(moved["license_id"], lid.as_str());
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["standard_used"], 1);
    let (_, old) = app
        .api(
            "GET",
            &format!("/api/v1/licenses/{trial_license}"),
            &t,
            None,
        )
        .await;
    assert_eq!(old["state"], "expired", "the trial license is closed");
    assert_eq!(old["standard_used"], 0);
    let (_, p, _) = app
        .api_with_headers("GET", "/client/v1/policy", Some(token), None)
        .await;
    assert_eq!(
        p["license_type"], "purchased",
        "the same client token now follows the purchased license"
    );
    // Not twice, and not onto a full license.
    let (s, v) = app
        .api(
            "POST",
            &format!("/api/v1/licenses/{lid}/connect-trial"),
            &t,
            Some(json!({"installation_id": iid})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_a_trial"))
    );
    app.api(
        "PUT",
        &format!("/api/v1/licenses/{lid}"),
        &t,
        Some(json!({"standard_seats": 1})),
    )
    .await;
    let (_, t2, _) = client_post(&app, "/client/v1/trial", None, json!({"email": "pekka@example.com", "hostname": "pekka-pc", "os": "linux", "software_type": "standard"})).await;
    let (s, v) = app
        .api(
            "POST",
            &format!("/api/v1/licenses/{lid}/connect-trial"),
            &t,
            Some(json!({"installation_id": t2["installation_id"]})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("seats_exhausted"))
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'installation.connect_trial'")
            .await,
        1
    );
    app.finish().await;
}

// The agent runs as a child process and the test waits for it; the server
// needs threads of its own meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_agent_installs_reports_and_leaves() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let inv = invites(&app, &t, &lid, 1, "standard", "agent").await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent.json");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_command-center"))
            .arg("agent")
            .arg("--state")
            .arg(&state)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&[
        "activate",
        "--server",
        &app.base,
        "--username",
        &inv[0].0,
        "--code",
        &inv[0].1,
        "--hostname",
        "agent-host",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["report", "--status", "warning"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["policy"]);
    assert!(ok && out.contains("\"license_state\": \"active\""), "{out}");
    let (_, list) = app
        .api(
            "GET",
            &format!("/api/v1/installations?license_id={lid}"),
            &t,
            None,
        )
        .await;
    assert_eq!(list["items"][0]["hostname"], "agent-host");
    assert_eq!(list["items"][0]["last_backup_status"], "warning");
    let (ok, out) = run(&["deactivate"]);
    assert!(ok, "{out}");
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["standard_used"], 0);
    // A used code says so through the agent too.
    let (ok, out) = run(&[
        "activate",
        "--server",
        &app.base,
        "--username",
        &inv[0].0,
        "--code",
        &inv[0].1,
    ]);
    assert!(!ok && out.contains("invite_used"), "{out}");
    app.finish().await;
}

#[tokio::test]
async fn the_license_tab_connects_trials_and_deactivates_clients() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    let (_, trial, _) = client_post(&app, "/client/v1/trial", None, json!({"email": "liisa@example.com", "hostname": "liisa-pc", "os": "linux", "software_type": "standard"})).await;
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (s, html) = b
        .get(&format!(
            "/licenses/{cid}/license?trial_q=liisa%40example.com"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("liisa-pc"), "the trial is found");
    let csrf = csrf_of(&html);
    let iid = trial["installation_id"].as_str().unwrap();
    let (s, _, loc) = b
        .post(
            &format!("/licenses/{cid}/license/{lid}/connect-trial"),
            &[("_csrf", &csrf), ("installation_id", iid)],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = b.get(loc.as_deref().unwrap()).await;
    assert!(
        html.contains("The trial client now uses this license.") && html.contains("liisa-pc"),
        "listed as installed"
    );
    let (s, _, _) = b
        .post(
            &format!("/licenses/{cid}/installations/{iid}/deactivate"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["standard_used"], 0);
    app.finish().await;
}

#[tokio::test]
async fn installations_page_shows_installed_clients_when_asked() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    let codes = invites(&app, &t, &lid, 2, "standard", "inst").await;
    let (s, _) = activate(&app, &codes[0].0, &codes[0].1).await;
    assert_eq!(s, StatusCode::CREATED);
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (_, html) = b.get(&format!("/installations?customer={cid}")).await;
    assert!(
        !html.contains("host-1"),
        "installed clients hidden by default, as in the seed"
    );
    assert!(
        html.contains("inst1") && !html.contains(">inst0<"),
        "the used invite is no longer offered for sending"
    );
    let (_, html) = b
        .get(&format!(
            "/installations?customer={cid}&f=1&sent=1&installed=1"
        ))
        .await;
    assert!(
        html.contains("Installed clients") && html.contains("host-1") && html.contains("linux 1.0"),
        "{html}"
    );
    app.finish().await;
}

/// Reports from many clients at once land in shared batches (one summary
/// statement for many installations); two reports of one client in one
/// batch, and late reports of older runs, still leave every summary exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_and_late_reports_keep_summaries_exact() {
    use crate::alerts::report;
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = crate::invites::customer_with_license(&app, &t, None).await;
    app.api(
        "PUT",
        &format!("/api/v1/licenses/{lid}"),
        &t,
        Some(json!({"standard_seats": 40})),
    )
    .await;
    let mut tokens = Vec::new();
    for (u, c) in invites(&app, &t, &lid, 30, "standard", "sum").await {
        let (s, a) = activate(&app, &u, &c).await;
        assert_eq!(s, StatusCode::CREATED);
        tokens.push(a["token"].as_str().unwrap().to_string());
    }
    let now = command_center::domain::now_millis();
    let h = 3_600_000;
    // Every client at once: a failed run and a newer successful one in
    // flight together; then a late report of an even older run.
    let app_ref = &app;
    let sends = tokens.iter().flat_map(|tok| {
        [
            report(app_ref, tok, "failed", now - 2 * h, 1),
            report(app_ref, tok, "success", now - h, 2),
        ]
    });
    futures_util::future::join_all(sends).await;
    futures_util::future::join_all(
        tokens
            .iter()
            .map(|tok| report(app_ref, tok, "warning", now - 3 * h, 3)),
    )
    .await;
    let exact = app
        .count(&format!(
            "SELECT COUNT(*) FROM installations WHERE license_id = '{lid}' AND last_backup_status = 'success' \
             AND storage_used_bytes = 2 AND last_backup_at = {} AND last_success_at = {} AND failed_in_row = 0 \
             AND health_base = 0",
            now - h,
            now - h
        ))
        .await;
    assert_eq!(exact, 30, "every summary shows the newest run");
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, 90);
    // Three failures in a row, then a late success of an older run: the
    // failure streak and the health stay; the last success moves.
    for i in 0..3 {
        report(&app, &tokens[0], "failed", now + i, 5).await;
    }
    report(&app, &tokens[0], "success", now - 30 * 60_000, 6).await;
    let (_, v) = app
        .api(
            "GET",
            &format!("/api/v1/installations?license_id={lid}"),
            &t,
            None,
        )
        .await;
    let first = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["storage_used_bytes"] == 5)
        .unwrap();
    assert_eq!(first["last_backup_status"], "failed");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM installations WHERE failed_in_row = 3 AND health_base = 4")
            .await,
        1
    );
    app.finish().await;
}

/// The batched summary writer equals applying the reports one by one: the
/// same reports (two clients with one report, one with three, in and out of
/// order) go to two sets of clients, as one batch and one at a time.
#[tokio::test]
async fn a_batch_of_reports_leaves_the_same_summaries_as_one_by_one() {
    use command_center::store::installations::{NewReport, insert_report, store_report_batch};
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = crate::invites::customer_with_license(&app, &t, None).await;
    app.api(
        "PUT",
        &format!("/api/v1/licenses/{lid}"),
        &t,
        Some(json!({"standard_seats": 10, "client_limit_gb": 1})),
    )
    .await;
    let mut ids = Vec::new();
    for (u, c) in invites(&app, &t, &lid, 6, "standard", "eq").await {
        let (s, a) = activate(&app, &u, &c).await;
        assert_eq!(s, StatusCode::CREATED);
        ids.push(a["installation_id"].as_str().unwrap().to_string());
    }
    let now = command_center::domain::now_millis();
    let h = 3_600_000;
    // (client, finished, status, bytes): client 0 gets a newer failure, a
    // late success and a newest warning over the 1 GB client limit.
    let plan: [(usize, i64, &'static str, i64); 5] = [
        (0, now - 2 * h, "failed", 10),
        (1, now - h, "success", 20),
        (0, now - 3 * h, "success", 30),
        (2, now - 5 * h, "failed", 40),
        (0, now - h / 2, "warning", 2_000_000_000),
    ];
    let reports = |offset: usize| -> Vec<NewReport> {
        plan.iter()
            .map(|(i, finished, status, bytes)| NewReport {
                id: command_center::domain::AuditId::new().to_db(),
                installation_id: ids[offset + i].parse().unwrap(),
                started_at: finished - 60_000,
                finished_at: *finished,
                status,
                bytes_total: *bytes,
                bytes_uploaded: 1,
                files_total: 1,
                files_changed: 1,
                message: String::new(),
                snapshot_id: None,
                files_new: None,
                simulated: true,
                received_at: now,
            })
            .collect()
    };
    let store = &app.running.as_ref().unwrap().services.store;
    store_report_batch(store, &reports(0), &[]).await.unwrap();
    for r in reports(3) {
        let mut tx = store.begin().await.unwrap();
        insert_report(&mut tx, &r).await.unwrap();
        tx.commit().await.unwrap();
    }
    let summary = |id: &str| {
        format!(
            "SELECT COUNT(*) FROM installations a JOIN installations b ON b.id = '{id}' WHERE a.id = '{{other}}' \
             AND a.last_backup_at = b.last_backup_at AND a.last_backup_status = b.last_backup_status \
             AND COALESCE(a.last_success_at, -1) = COALESCE(b.last_success_at, -1) AND a.failed_in_row = b.failed_in_row \
             AND a.storage_used_bytes = b.storage_used_bytes AND a.health_base = b.health_base"
        )
    };
    for i in 0..3 {
        let sql = summary(&ids[3 + i]).replace("{other}", &ids[i]);
        assert_eq!(
            app.count(&sql).await,
            1,
            "client {i}: batch and one-by-one differ"
        );
    }
    // And the values are the ones the rules give: client 0's newest run is
    // the warning over the limit; its last success the warning itself.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM installations WHERE id = '{}' AND last_backup_status = 'warning' \
             AND storage_used_bytes = 2000000000 AND failed_in_row = 0 AND health_base = 1 \
             AND last_success_at = {}",
            ids[0],
            now - h / 2
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM installations WHERE id = '{}' AND failed_in_row = 1 AND health_base = 4 \
             AND last_success_at IS NULL",
            ids[2]
        ))
        .await,
        1
    );

    // A batch with a report of no known client fails as a whole and
    // stores nothing; the writer's connection is sound for the next one.
    let before = app.count("SELECT COUNT(*) FROM reports").await;
    let mut bad = reports(3);
    for r in &mut bad {
        r.received_at = now + 1;
    }
    bad[1].installation_id = command_center::domain::InstallationId::new();
    assert!(store_report_batch(store, &bad, &[]).await.is_err());
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, before);
    let seen = |id: &str| format!("SELECT last_seen_at FROM installations WHERE id = '{id}'");
    assert_eq!(
        app.count(&seen(&ids[3])).await,
        now,
        "nothing of the failed batch"
    );
    store_report_batch(store, &reports(3), &[]).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, before + 5);
    app.finish().await;
}

/// Activations that meet in one batch: the same invite many times (and with
/// a wrong code), more invites than seats, and a second license with a
/// server seat. Each invite is used at most once, seats are exact on both
/// licenses, and a wrong code never takes anything.
#[tokio::test]
async fn activations_in_one_burst_use_each_invite_once_and_count_seats_exactly() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, a) = customer_with_license(&app, &t, None).await;
    let (s, _) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{a}"),
            &t,
            Some(json!({"standard_seats": 3, "server_seats": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{cid}/licenses"),
            &t,
            Some(json!({"standard_seats": 0, "server_seats": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let b = b["id"].as_str().unwrap().to_string();
    let std_invites = invites(&app, &t, &a, 4, "standard", "burst").await;
    let srv_invites = invites(&app, &t, &b, 1, "server", "srv").await;
    let (u1, c1) = std_invites[0].clone();
    let mut calls: Vec<(String, String)> = vec![(u1.clone(), c1.clone()); 10];
    calls.extend(vec![(u1.clone(), "AAAA-BBBB-CCCC-DDDD".to_string()); 3]);
    calls.extend(std_invites[1..].iter().cloned());
    calls.extend(srv_invites.iter().cloned());
    let mut created: std::collections::HashMap<String, usize> = Default::default();
    for (u, c, s, code) in activate_all_at_once(&app, calls).await {
        match (s, code.as_str()) {
            (StatusCode::CREATED, _) => *created.entry(u).or_default() += 1,
            (StatusCode::UNAUTHORIZED, "invalid_credentials") => {
                assert!(c.starts_with("AAAA"), "a right code was refused")
            }
            (StatusCode::CONFLICT, "invite_used" | "seats_exhausted") => {
                assert!(!c.starts_with("AAAA"), "a wrong code got past the check")
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        created.values().all(|n| *n == 1),
        "an invite used twice: {created:?}"
    );
    let std_ok = created.keys().filter(|u| u.contains("burst")).count();
    assert_eq!(std_ok, 3, "three standard seats: {created:?}");
    assert_eq!(created.keys().filter(|u| u.contains("srv")).count(), 1);
    for (license, used, n) in [(&a, "standard_used", 3), (&b, "server_used", 1)] {
        assert_eq!(
            app.count(&format!(
                "SELECT {used} FROM licenses WHERE id = '{license}'"
            ))
            .await,
            n
        );
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM installations WHERE license_id = '{license}'"
            ))
            .await,
            n
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites WHERE used_at IS NOT NULL")
            .await,
        4
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'installation.activate' AND actor_kind = 'client'"
        )
        .await,
        4
    );
    app.finish().await;
}
