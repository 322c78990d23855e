//! A console killed with SIGKILL in the middle of a restic upload: after a
//! restart the repository is sound (`restic check`) once the client has
//! run again, the temporary uploads are gone and the storage counts equal
//! the bytes on disk (the reservations of the uploads that never finished
//! given back).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::delivery_load::{admin_token_at, server_env, spawn_server, wait_healthy};
use crate::harness::*;

async fn call(base: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v
}

/// Bytes of the repository's files and the number of hidden (temporary) ones.
fn on_disk(dir: &Path) -> (i64, usize) {
    let (mut bytes, mut temps) = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    for e in entries.flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            let (b, t) = on_disk(&e.path());
            bytes += b;
            temps += t;
        } else if e.file_name().to_string_lossy().starts_with('.') {
            temps += 1;
        } else {
            bytes += m.len() as i64;
        }
    }
    (bytes, temps)
}

fn restic(repo: &str, key: &str, home: &Path, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("/usr/bin/restic");
    c.arg("--no-cache")
        .args(args)
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", key)
        .env("HOME", home);
    c
}

fn run_ok(mut c: std::process::Command, what: &str) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_killed_mid_upload_leaves_a_sound_repository_and_exact_counts() {
    if !require_tool("restic", "/usr/bin/restic") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (db, db_name) = fresh_database_url(data.path()).await;
    let env = server_env(data.path(), &db, &[]);
    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    let base = server.base.clone();
    let anon = reqwest::Client::new();
    let t = admin_token_at(&base).await;
    let c = call(
        &base,
        "POST",
        "/api/v1/customers",
        &t,
        Some(json!({"name": "Kaatuva Oy", "language": "fi"})),
    )
    .await;
    let cid = c["id"].as_str().unwrap().to_string();
    let l = call(
        &base,
        "POST",
        &format!("/api/v1/customers/{cid}/licenses"),
        &t,
        Some(json!({"standard_seats": 2})),
    )
    .await;
    let lid = l["id"].as_str().unwrap().to_string();
    let inv = call(
        &base,
        "POST",
        &format!("/api/v1/licenses/{lid}/invites"),
        &t,
        Some(json!({"username": "kaatuva", "email": "k@example.com", "software_type": "standard"})),
    )
    .await;
    let a: Value = anon
        .post(format!("{base}/client/v1/activate"))
        .json(&json!({"username": "kaatuva", "activation_code": inv["activation_code"], "hostname": "pc", "os": "linux", "client_version": "test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = a["policy"]["installation_id"].as_str().unwrap().to_string();
    let token = a["token"].as_str().unwrap().to_string();
    let key = call(
        &base,
        "POST",
        &format!("/api/v1/customers/{cid}/encryption-key/reveal"),
        &t,
        None,
    )
    .await;
    let key = key["encryption_key"].as_str().unwrap().to_string();
    let repo_url = |base: &str| {
        let port = base.rsplit(':').next().unwrap().to_string();
        format!("rest:http://{id}:{token}@127.0.0.1:{port}/repo/{id}/")
    };

    // 64 MB that does not compress or deduplicate: many pack uploads.
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for f in 0..16 {
        let mut buf = vec![0u8; 4_000_000];
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(tree.join(format!("f{f}.bin")), &buf).unwrap();
    }
    run_ok(
        restic(&repo_url(&base), &key, work.path(), &["init"]),
        "init",
    );
    let mut backup = restic(
        &repo_url(&base),
        &key,
        work.path(),
        &["backup", tree.to_str().unwrap()],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Pull the plug once some packs are stored, while more are in flight.
    let dir = data.path().join("repositories").join(&id);
    let deadline = Instant::now() + Duration::from_secs(120);
    while on_disk(&dir.join("data")).0 < 8_000_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let _ = backup.kill();
    let _ = backup.wait();
    let (bytes_at_kill, temps_at_kill) = on_disk(&dir);
    // Packs upload in milliseconds on loopback, so the kill rarely lands
    // inside one: leave what it leaves when it does — a half-written
    // temporary file and the reservation of its upload.
    std::fs::write(
        dir.join("data").join(".tmp-crashed-upload"),
        vec![7u8; 1_000_000],
    )
    .unwrap();
    {
        sqlx::any::install_default_drivers();
        let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&db)
            .await
            .unwrap();
        for table in ["installations", "licenses"] {
            let key = if table == "installations" { &id } else { &lid };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET repo_bytes = repo_bytes + 1000000 WHERE id = '{key}'"
            )))
            .execute(&mut c)
            .await
            .unwrap();
        }
        let _ = sqlx::Connection::close(c).await;
    }

    // PostgreSQL consoles may share their repositories: the operator runs
    // the reconciliation; a lone SQLite console does it at start.
    if postgres() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_command-center"))
            .args(["admin", "reconcile-storage"])
            .envs(&env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    let base = server.base.clone();
    let (_, temps_after) = on_disk(&dir);
    assert_eq!(temps_after, 0, "temporary uploads removed");

    // The client's next run: the stale lock goes, the backup completes.
    run_ok(
        restic(&repo_url(&base), &key, work.path(), &["unlock"]),
        "unlock",
    );
    run_ok(
        restic(
            &repo_url(&base),
            &key,
            work.path(),
            &["backup", tree.to_str().unwrap()],
        ),
        "backup after the crash",
    );
    run_ok(
        restic(&repo_url(&base), &key, work.path(), &["check"]),
        "check",
    );
    let restored = work.path().join("restored");
    run_ok(
        restic(
            &repo_url(&base),
            &key,
            work.path(),
            &["restore", "latest", "--target", restored.to_str().unwrap()],
        ),
        "restore",
    );
    for f in 0..16 {
        let name = format!("f{f}.bin");
        assert_eq!(
            std::fs::read(tree.join(&name)).unwrap(),
            std::fs::read(restored.join(tree.strip_prefix("/").unwrap()).join(&name)).unwrap(),
            "{name} restored byte for byte"
        );
    }

    // The counts are the disk's.
    let (disk, _) = on_disk(&dir);
    sqlx::any::install_default_drivers();
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&db)
        .await
        .unwrap();
    let q = |sql: String| sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
    let repo_bytes = q(format!(
        "SELECT repo_bytes FROM installations WHERE id = '{id}'"
    ))
    .fetch_one(&mut c)
    .await
    .unwrap();
    let used = q(format!(
        "SELECT storage_used_bytes FROM installations WHERE id = '{id}'"
    ))
    .fetch_one(&mut c)
    .await
    .unwrap();
    let license = q(format!(
        "SELECT repo_bytes FROM licenses WHERE id = '{lid}'"
    ))
    .fetch_one(&mut c)
    .await
    .unwrap();
    let _ = sqlx::Connection::close(c).await;
    eprintln!(
        "SIGKILL mid-upload: {bytes_at_kill} bytes and {temps_at_kill} temporary upload(s) on disk at the kill; \
         after the next run {disk} bytes on disk, counted {used} (reserved {repo_bytes}, license {license})"
    );
    assert_eq!(used, disk, "storage used is the bytes on disk");
    assert_eq!(repo_bytes, disk, "no reservation left behind");
    assert_eq!(license, disk, "the license's count too");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    if let Some(name) = db_name {
        drop_database(&name).await;
    }
}
