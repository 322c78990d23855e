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

struct Proc {
    child: Child,
    base: String,
}

fn spawn_server(env: &HashMap<String, String>) -> Proc {
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

async fn wait_healthy(base: &str) {
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
    let env: HashMap<String, String> = [
        ("CC_DATA_DIR", data.path().display().to_string()),
        ("CC_DATABASE_URL", db),
        ("CC_SMTP_URL", smtp.url()),
        ("CC_MAIL_LEASE_SECS", "2".into()),
        ("CC_MAIL_RETRY_SECS", "1".into()),
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL.into()),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("CC_SQLITE_SYNCHRONOUS", "normal".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
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
