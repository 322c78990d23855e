//! `command-center demo`: the seed's example with real backups — the
//! healthy clients' repositories hold two snapshots each that stock restic
//! lists with the customer's key, and the console counts their bytes.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::delivery_load::{spawn_server, wait_healthy};
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_makes_real_repositories() {
    if !require_tool("restic", "/usr/bin/restic") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (db, db_name) = fresh_database_url(data.path()).await;
    let env: HashMap<String, String> = [
        ("CC_DATA_DIR", data.path().display().to_string()),
        ("CC_DATABASE_URL", db.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_command-center"))
        .arg("demo")
        .envs(&env)
        .env("CC_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("for real"), "{text}");
    let password = text
        .split("with the password ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .to_string();

    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    let http = reqwest::Client::new();
    let t: Value = http
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&json!({"email": "admin@example.com", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = t["token"].as_str().unwrap().to_string();
    let get = |path: String| {
        let (http, t) = (http.clone(), t.clone());
        async move {
            http.request(
                if path.ends_with("/reveal") {
                    reqwest::Method::POST
                } else {
                    reqwest::Method::GET
                },
                path,
            )
            .bearer_auth(t)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
        }
    };
    let m = get(format!("{}/api/v1/monitoring", server.base)).await;
    let laptop = m["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["hostname"] == "timo-laptop")
        .unwrap_or_else(|| panic!("{m}"))
        .clone();
    let id = laptop["installation_id"].as_str().unwrap();
    let cid = laptop["customer_id"].as_str().unwrap();
    let key = get(format!(
        "{}/api/v1/customers/{cid}/encryption-key/reveal",
        server.base
    ))
    .await;
    let key = key["encryption_key"].as_str().unwrap();
    let repo = data.path().join("repositories").join(id);
    let listed = std::process::Command::new("/usr/bin/restic")
        .args(["--no-cache", "-r"])
        .arg(&repo)
        .args(["snapshots", "--json"])
        .env("RESTIC_PASSWORD", key)
        .env("HOME", data.path())
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let snaps: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 2, "{snaps}");

    let mut disk = 0i64;
    let mut stack = vec![repo.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                disk += m.len() as i64;
            }
        }
    }
    assert_eq!(
        laptop["storage_used_bytes"].as_i64().unwrap(),
        disk,
        "{laptop}"
    );
    let h = get(format!("{}/api/v1/installations/{id}", server.base)).await;
    assert_eq!(h["last_backup_status"], "success", "{h}");
    // The demo is consistent (issue #14, item 9): its clients fit the
    // 75 GB license with room to spare, and nobody at the customer gets
    // alert e-mails from it.
    let used: i64 = m["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["customer_id"] == cid)
        .map(|e| e["storage_used_bytes"].as_i64().unwrap_or(0))
        .sum();
    assert!(used < 75_000_000_000 * 85 / 100, "{used} bytes of 75 GB");
    let c = get(format!("{}/api/v1/customers/{cid}", server.base)).await;
    assert!(c["contact_email"].is_null(), "{c}");

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    if let Some(name) = db_name {
        drop_database(&name).await;
    }
}
