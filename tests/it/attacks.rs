//! Attacks that broke limits before, run as an attacker would: parallel
//! bursts of guesses, floods of sign-ins. Each asserts the limit held.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::clients::invites;
use crate::delivery_load::{spawn_server, wait_healthy};
use crate::harness::*;
use crate::invites::customer_with_license;

/// Fires `n` requests at once and tallies the answers' statuses.
async fn burst(n: usize, make: impl Fn(usize) -> reqwest::RequestBuilder) -> HashMap<u16, usize> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (req, barrier) = (make(i), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        });
    }
    let mut tally = HashMap::new();
    while let Some(s) = set.join_next().await {
        *tally.entry(s.unwrap()).or_insert(0) += 1;
    }
    tally
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// 300 wrong passwords for one account at once (limit 5): at most 5 are
/// evaluated, the rest hear 429 — and the right password after them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_evaluate_at_most_the_limit() {
    let app = TestApp::spawn().await;
    let c = client();
    let url = app.url("/api/v1/auth/token");
    let tally = burst(300, |_| {
        c.post(&url)
            .json(&json!({"email": ADMIN_EMAIL, "password": "wrong password, surely"}))
    })
    .await;
    eprintln!("300 parallel wrong passwords: {tally:?}");
    assert_eq!(tally.get(&401).copied().unwrap_or(0), 5, "{tally:?}");
    assert_eq!(tally.get(&429).copied().unwrap_or(0), 295, "{tally:?}");
    let r = c
        .post(&url)
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    app.finish().await;
}

/// 300 wrong activation codes for one username at once (limit 10): at
/// most 10 are evaluated; the right code after them hears 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_activation_codes_evaluate_at_most_the_limit() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    let inv = invites(&app, &t, &lid, 1, "standard", "target").await;
    let (user, code) = inv[0].clone();
    let c = client();
    let url = app.url("/client/v1/activate");
    let tally = burst(300, |i| {
        c.post(&url).json(&json!({"username": user, "activation_code": format!("WRNG-{i:04}-AAAA-BBBB"), "hostname": "h", "os": "linux"}))
    })
    .await;
    eprintln!("300 parallel wrong activation codes: {tally:?}");
    assert!(tally.get(&401).copied().unwrap_or(0) <= 10, "{tally:?}");
    assert_eq!(
        tally.get(&401).copied().unwrap_or(0) + tally.get(&429).copied().unwrap_or(0),
        300,
        "{tally:?}"
    );
    let r = c
        .post(&url)
        .json(&json!({"username": user, "activation_code": code, "hostname": "h", "os": "linux"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM installations").await,
        0,
        "nothing activated"
    );
    app.finish().await;
}

/// Trials are counted per address, successful or not: 40 from one
/// address create 10 licenses, the others hear 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trials_from_one_address_are_limited() {
    let app = TestApp::spawn().await;
    let c = client();
    let url = app.url("/client/v1/trial");
    let tally = burst(40, |i| {
        c.post(&url).json(&json!({"email": format!("t{i}@example.com"), "hostname": format!("h{i}"), "os": "linux"}))
    })
    .await;
    eprintln!("40 trials from one address: {tally:?}");
    assert_eq!(tally.get(&201).copied().unwrap_or(0), 10, "{tally:?}");
    assert_eq!(tally.get(&429).copied().unwrap_or(0), 30, "{tally:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM licenses WHERE type = 'trial'")
            .await,
        10
    );
    app.finish().await;
}

/// The peak memory (VmHWM) of a process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 600 sign-ins at once, each from its own address and account so no rate
/// limit stops them first: password hashing runs a few at a time, so the
/// server's peak memory stays small (each argon2 hash takes ~19 MiB; 600
/// at once took 6 GB before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_parallel_sign_ins_keep_memory_bounded() {
    let data = tempfile::tempdir().unwrap();
    let (db, db_name) = fresh_database_url(data.path()).await;
    let env: HashMap<String, String> = [
        ("CC_DATA_DIR", data.path().display().to_string()),
        ("CC_DATABASE_URL", db),
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL.into()),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("CC_TRUST_FORWARDED_FOR", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    let pid = server.child.id();
    let before = peak_kib(pid);
    let c = client();
    let url = format!("{}/api/v1/auth/token", server.base);
    let tally = burst(600, |i| {
        c.post(&url)
            .header(
                "x-forwarded-for",
                format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            )
            .json(
                &json!({"email": format!("nobody{i}@example.com"), "password": "not the password"}),
            )
    })
    .await;
    let after = peak_kib(pid);
    eprintln!(
        "600 parallel sign-ins: answers {tally:?}; server peak memory {} MiB before, {} MiB after",
        before / 1024,
        after / 1024
    );
    assert_eq!(
        tally.get(&401).copied().unwrap_or(0) + tally.get(&429).copied().unwrap_or(0),
        600,
        "every sign-in answered 401 or 429: {tally:?}"
    );
    assert!(after < 400 * 1024, "peak memory {} MiB", after / 1024);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    if let Some(name) = db_name {
        drop_database(&name).await;
    }
}
