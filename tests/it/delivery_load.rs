//! Delivery under failure and load: a server killed mid-batch, and two
//! instances sharing one PostgreSQL.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

/// Creates `n` invites on one license, a few requests at a time.
async fn many_invites(base: &str, token: &str, n: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let c: serde_json::Value = client
        .post(format!("{base}/api/v1/customers"))
        .bearer_auth(token)
        .json(&json!({"name": "Bulk Oy", "language": "en"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let l: serde_json::Value = client
        .post(format!(
            "{base}/api/v1/customers/{}/licenses",
            c["id"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .json(&json!({"standard_seats": n}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lid = l["id"].as_str().unwrap().to_string();
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let (client, base, token, lid) = (
                client.clone(),
                base.to_string(),
                token.to_string(),
                lid.clone(),
            );
            set.spawn(async move {
                let r = client
                    .post(format!("{base}/api/v1/licenses/{lid}/invites"))
                    .bearer_auth(&token)
                    .json(&json!({"username": format!("user{i}"), "email": format!("user{i}@example.com")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                let v: serde_json::Value = r.json().await.unwrap();
                v["id"].as_str().unwrap().to_string()
            });
        }
        while let Some(id) = set.join_next().await {
            ids.push(id.unwrap());
        }
    }
    ids
}

async fn send_all(base: &str, token: &str, ids: &[String]) {
    for chunk in ids.chunks(250) {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/invites/send"))
            .bearer_auth(token)
            .json(&json!({"invite_ids": chunk}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
}

/// Recipients and how many messages each got.
fn per_recipient(smtp: &SmtpServer) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for mail in smtp.messages() {
        *m.entry(mail.to).or_insert(0) += 1;
    }
    m
}

pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) base: String,
}

pub(crate) fn spawn_server(env: &HashMap<String, String>) -> Proc {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_command-center"))
        .arg("serve")
        .envs(env)
        .env("CC_LISTEN", format!("127.0.0.1:{port}"))
        .env("CC_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

pub(crate) async fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} did not come up");
}

/// The environment of a spawned server on its own data dir and database,
/// with the first administrator, plus `extra`.
pub(crate) fn server_env(
    data_dir: &std::path::Path,
    db: &str,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    [
        ("CC_DATA_DIR", data_dir.display().to_string().as_str()),
        ("CC_DATABASE_URL", db),
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A bearer token of the first administrator of a spawned server.
pub(crate) async fn admin_token_at(base: &str) -> String {
    let t: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["token"].as_str().unwrap().to_string()
}

/// kill -9 of the server while a batch of 500 is going out: after a
/// restart every invite is delivered, and duplicates are at most the
/// messages that were in flight (one claimed batch, 50).
#[tokio::test]
async fn a_server_killed_mid_batch_loses_no_invitation() {
    let Some(smtp) = SmtpServer::start_with_delay(free_port(), 20) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let (db, db_name) = fresh_database_url(data.path()).await;
    let env = server_env(
        data.path(),
        &db,
        &[
            ("CC_SMTP_URL", &smtp.url()),
            ("CC_MAIL_LEASE_SECS", "2"),
            ("CC_MAIL_RETRY_SECS", "1"),
            ("CC_SQLITE_SYNCHRONOUS", "normal"),
        ],
    );
    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    let token = admin_token_at(&server.base).await;
    let ids = many_invites(&server.base, &token, 500).await;
    send_all(&server.base, &token, &ids).await;
    // Let some go out, then pull the plug.
    let deadline = Instant::now() + Duration::from_secs(60);
    while smtp.count() < 60 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let at_kill = smtp.count();
    assert!(
        at_kill < 500,
        "the kill came mid-batch ({at_kill} of 500 delivered)"
    );
    // Restart on the same data; the leased messages are taken again.
    let restarted = spawn_server(&env);
    wait_healthy(&restarted.base).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut delivered = 0;
    while Instant::now() < deadline {
        delivered = per_recipient(&smtp).len();
        if delivered == 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(delivered, 500, "every invite delivered after the restart");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = per_recipient(&smtp);
    let total: usize = counts.values().sum();
    let duplicates = total - 500;
    eprintln!(
        "kill -9 mid-batch: {at_kill} delivered before the kill, {duplicates} duplicate(s) after the restart"
    );
    assert!(
        duplicates <= 50,
        "duplicates ({duplicates}) at most one batch in flight"
    );
    let mut p = restarted;
    let _ = p.child.kill();
    let _ = p.child.wait();
    if let Some(n) = db_name {
        drop_database(&n).await;
    }
}

/// Two instances on one PostgreSQL send 1,000 invites: each delivered
/// exactly once (rows are claimed with SKIP LOCKED).
#[tokio::test]
async fn two_instances_on_one_postgres_send_each_invite_once() {
    if !postgres() {
        eprintln!(
            "two_instances_on_one_postgres: runs with CC_TEST_DATABASE=postgres (SQLite is one instance by design)"
        );
        return;
    }
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let key = "5a".repeat(32);
    let mut a = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &smtp.url()),
        ("CC_SECRET_KEY", &key),
    ])
    .await;
    // A second instance: same database and key, its own data dir and worker.
    let data_b = tempfile::tempdir().unwrap();
    let mut env_b = a.env.clone();
    env_b.insert("CC_DATA_DIR".into(), data_b.path().display().to_string());
    let config_b =
        command_center::Config::from_sources(&command_center::config::ConfigArgs::default(), env_b)
            .unwrap();
    let b = command_center::start(config_b).await.unwrap();
    let base_b = format!("http://{}", b.addr);
    let token = a.admin_token().await;
    let ids = many_invites(&a.base, &token, 1000).await;
    // Half the sends through each instance, so both workers are woken.
    let (first, second) = ids.split_at(500);
    send_all(&a.base, &token, first).await;
    send_all(&base_b, &token, second).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while a
        .count("SELECT COUNT(*) FROM invites WHERE delivery_state = 'sent'")
        .await
        < 1000
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        a.count("SELECT COUNT(*) FROM invites WHERE delivery_state = 'sent'")
            .await,
        1000
    );
    let counts = per_recipient(&smtp);
    assert_eq!(counts.len(), 1000, "every invite arrived");
    let dup: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dup.is_empty(), "each exactly once: {dup:?}");
    b.stop().await.unwrap();
    a.stop().await;
    a.finish().await;
}

/// SIGTERM while clients are reporting: every report the server
/// acknowledged is stored, no request gets a 5xx, and the process exits
/// cleanly (the HTTP server answers what it accepted, then the report
/// writer drains, then the database closes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_report_load_answers_every_accepted_request() {
    let data = tempfile::tempdir().unwrap();
    let (db, db_name) = fresh_database_url(data.path()).await;
    let env = server_env(data.path(), &db, &[]);
    let mut server = spawn_server(&env);
    let base = server.base.clone();
    wait_healthy(&base).await;
    let client = reqwest::Client::new();
    let token = admin_token_at(&base).await;
    let api = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let c: serde_json::Value = api(
        reqwest::Method::POST,
        "/api/v1/customers",
        json!({"name": "Term Oy"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let l: serde_json::Value = api(
        reqwest::Method::POST,
        &format!("/api/v1/customers/{}/licenses", c["id"].as_str().unwrap()),
        json!({"standard_seats": 8}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let lid = l["id"].as_str().unwrap();
    let mut tokens = Vec::new();
    for i in 0..8 {
        let inv: serde_json::Value = api(
            reqwest::Method::POST,
            &format!("/api/v1/licenses/{lid}/invites"),
            json!({"username": format!("term{i}"), "email": format!("term{i}@example.com")}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let a: serde_json::Value = client
            .post(format!("{base}/client/v1/activate"))
            .json(&json!({"username": inv["username"], "activation_code": inv["activation_code"], "hostname": format!("h{i}"), "os": "linux"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(a["token"].as_str().unwrap().to_string());
    }
    // 32 reporters, each as fast as it can, on connections of their own.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut set = tokio::task::JoinSet::new();
    for k in 0..32 {
        let (base, t, stop) = (base.clone(), tokens[k % tokens.len()].clone(), stop.clone());
        set.spawn(async move {
            let client = reqwest::Client::new();
            let (mut acked, mut server_errors, mut refused) = (0u64, 0u64, 0u64);
            let now = time::OffsetDateTime::now_utc();
            let at = now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .post(format!("{base}/client/v1/reports"))
                    .bearer_auth(&t)
                    .json(&json!({"started_at": at, "finished_at": at, "status": "success", "bytes_total": 1}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == StatusCode::NO_CONTENT => acked += 1,
                    Ok(r) if r.status().is_server_error() => server_errors += 1,
                    Ok(r) => panic!("unexpected answer {}", r.status()),
                    // After the listener closed: refused or reset before
                    // the request was accepted.
                    Err(_) => refused += 1,
                }
                if refused > 0 {
                    break;
                }
            }
            (acked, server_errors, refused)
        });
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(term.success());
    let exit = tokio::task::spawn_blocking(move || server.child.wait().unwrap())
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut server_errors) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (a, s, _) = r.unwrap();
        acked += a;
        server_errors += s;
    }
    assert!(
        exit.success(),
        "the server exits cleanly on SIGTERM: {exit:?}"
    );
    assert_eq!(server_errors, 0, "no request answered with a 5xx");
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db)
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let _ = sqlx::Connection::close(conn).await;
    eprintln!("SIGTERM under report load: {acked} reports acknowledged, {stored} stored");
    assert!(acked > 0, "reports flowed before the signal");
    assert_eq!(
        stored as u64, acked,
        "every acknowledged report is stored, and only those"
    );
    if let Some(name) = db_name {
        drop_database(&name).await;
    }
}
