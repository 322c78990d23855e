//! Each installation's restic repository, served over restic's REST
//! protocol: stock restic backs up, restores and checks through it; the
//! server keeps other installations out, keeps config, keys and young
//! snapshots from a client's deletion, checks names against content,
//! enforces Client limit and Total space, and counts the bytes exactly.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

use crate::clients::{activate, invites};
use crate::harness::*;
use crate::invites::customer_with_license;

/// An activated installation: (installation id, client token, license id).
async fn installation(app: &TestApp, t: &str, lid: &str, tag: &str) -> (String, String) {
    let inv = invites(app, t, lid, 1, "standard", tag).await;
    let (s, a) = activate(app, &inv[0].0, &inv[0].1).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    (
        a["policy"]["installation_id"].as_str().unwrap().to_string(),
        a["token"].as_str().unwrap().to_string(),
    )
}

async fn setup(app: &TestApp) -> (String, String, String, String) {
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(app, &t, None).await;
    let (id, token) = installation(app, &t, &lid, "repo").await;
    (t, lid, id, token)
}

fn sha(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic bytes that do not compress (xorshift).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One request to the repository with Basic credentials.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Resp {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), app.url(path));
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await.unwrap();
    Resp {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// A request written by hand (to send headers a client library would not:
/// a Content-Length without its body, chunked without a length).
async fn raw_http(app: &TestApp, head: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

fn basic(id: &str, token: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{token}"))
    )
}

fn repo_dir(app: &TestApp, id: &str) -> PathBuf {
    app.data.path().join("repositories").join(id)
}

/// Bytes of every file stored in a repository (temporary uploads aside).
fn bytes_on_disk(dir: &Path) -> i64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        if m.is_dir() {
            total += bytes_on_disk(&e.path());
        } else if !e.file_name().to_string_lossy().starts_with('.') {
            total += m.len() as i64;
        }
    }
    total
}

async fn db_bytes(app: &TestApp, id: &str) -> (i64, i64) {
    (
        app.count(&format!(
            "SELECT repo_bytes FROM installations WHERE id = '{id}'"
        ))
        .await,
        app.count(&format!(
            "SELECT storage_used_bytes FROM installations WHERE id = '{id}'"
        ))
        .await,
    )
}

async fn monitoring_bytes(app: &TestApp, t: &str, id: &str) -> i64 {
    let (s, v) = app.api("GET", "/api/v1/monitoring", t, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["installation_id"] == id)
        .unwrap()["storage_used_bytes"]
        .as_i64()
        .unwrap()
}

async fn create(app: &TestApp, id: &str, token: &str) {
    let r = call(
        app,
        "POST",
        &format!("/repo/{id}/?create=true"),
        Some((id, token)),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn post(app: &TestApp, id: &str, token: &str, path: &str, data: &[u8]) -> Resp {
    call(
        app,
        "POST",
        &format!("/repo/{id}/{path}"),
        Some((id, token)),
        &[],
        Some(data.to_vec()),
    )
    .await
}

/// restic against the installation's repository.
async fn restic(app: &TestApp, id: &str, token: &str, args: &[&str]) -> std::process::Output {
    let port = app.base.rsplit(':').next().unwrap();
    tokio::process::Command::new("/usr/bin/restic")
        .args(["--no-cache"])
        .args(args)
        .env(
            "RESTIC_REPOSITORY",
            format!("rest:http://{id}:{token}@127.0.0.1:{port}/repo/{id}/"),
        )
        .env("RESTIC_PASSWORD", "customer key, not the token")
        .env("HOME", app.data.path())
        .output()
        .await
        .unwrap()
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "restic {what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tree with nested folders, empty files, a few MB of noise, non-ASCII
/// names and a symlink.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    std::fs::create_dir_all(root.join("tyhjä kansio")).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("a/b/c/empty too"), b"").unwrap();
    std::fs::write(root.join("a/big.bin"), noise(3 * 1024 * 1024 + 17, 7)).unwrap();
    std::fs::write(root.join("a/b/päivä.txt"), "hyvää päivää\n").unwrap();
    std::fs::write(root.join("a/b/c/日本語 ファイル.txt"), "こんにちは").unwrap();
    for i in 0..20 {
        std::fs::write(
            root.join(format!("a/b/small-{i}.txt")),
            format!("{i}\n").repeat(i),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink("a/b/päivä.txt", root.join("link")).unwrap();
}

/// Every name, file content and link target of `a` is in `b`, and back.
fn same_tree(a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(a), names(b), "names in {}", a.display());
    for n in names(a) {
        let (pa, pb) = (a.join(&n), b.join(&n));
        let (ma, mb) = (
            std::fs::symlink_metadata(&pa).unwrap(),
            std::fs::symlink_metadata(&pb).unwrap(),
        );
        if ma.file_type().is_symlink() {
            assert!(mb.file_type().is_symlink(), "{}", pb.display());
            assert_eq!(
                std::fs::read_link(&pa).unwrap(),
                std::fs::read_link(&pb).unwrap()
            );
        } else if ma.is_dir() {
            assert!(mb.is_dir(), "{}", pb.display());
            same_tree(&pa, &pb);
        } else {
            assert_eq!(
                std::fs::read(&pa).unwrap(),
                std::fs::read(&pb).unwrap(),
                "{}",
                pa.display()
            );
        }
    }
}

fn snapshot_files(app: &TestApp, id: &str) -> Vec<PathBuf> {
    std::fs::read_dir(repo_dir(app, id).join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

fn age(path: &Path, days: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400))
        .unwrap();
}

#[tokio::test]
async fn restic_backs_up_restores_checks_and_prunes() {
    if !require_tool("restic", "/usr/bin/restic") {
        return;
    }
    let app = TestApp::spawn().await;
    let (t, _, id, token) = setup(&app).await;
    ok(&restic(&app, &id, &token, &["init"]).await, "init");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src);
    let src_arg = src.display().to_string();
    ok(
        &restic(&app, &id, &token, &["backup", "--json", &src_arg]).await,
        "backup 1",
    );
    std::fs::write(src.join("a/b/new.txt"), "a file of the second run").unwrap();
    std::fs::write(src.join("a/b/päivä.txt"), "muutettu\n").unwrap();
    std::fs::remove_file(src.join("a/b/small-3.txt")).unwrap();
    ok(
        &restic(&app, &id, &token, &["backup", "--json", &src_arg]).await,
        "backup 2",
    );
    let out = restic(&app, &id, &token, &["snapshots", "--json"]).await;
    ok(&out, "snapshots");
    let snaps: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 2, "{snaps}");
    let target = work.path().join("restored");
    let target_arg = target.display().to_string();
    ok(
        &restic(
            &app,
            &id,
            &token,
            &["restore", "latest", "--target", &target_arg],
        )
        .await,
        "restore",
    );
    same_tree(&src, &target.join(src.strip_prefix("/").unwrap()));
    ok(
        &restic(&app, &id, &token, &["check", "--read-data"]).await,
        "check",
    );

    // Storage used is the bytes stored, everywhere.
    let disk = bytes_on_disk(&repo_dir(&app, &id));
    assert!(disk > 3_000_000, "{disk}");
    assert_eq!(db_bytes(&app, &id).await, (disk, disk));
    assert_eq!(monitoring_bytes(&app, &t, &id).await, disk);
    // A report does not overwrite it.
    let now = time::OffsetDateTime::now_utc();
    let f = &time::format_description::well_known::Rfc3339;
    let (s, v, _) = app
        .api_with_headers("POST", "/client/v1/reports", Some(&token), Some(json!({"started_at": (now - time::Duration::minutes(1)).format(f).unwrap(), "finished_at": now.format(f).unwrap(), "status": "success", "bytes_total": 5, "bytes_uploaded": 5, "files_total": 1, "files_changed": 1, "message": ""})))
        .await;
    assert!(s.is_success(), "{v}");
    assert_eq!(monitoring_bytes(&app, &t, &id).await, disk);

    // Young snapshots cannot be forgotten by the client.
    let out = restic(
        &app,
        &id,
        &token,
        &["forget", "--keep-last", "1", "--prune"],
    )
    .await;
    assert!(
        !out.status.success(),
        "forget of a young snapshot must fail"
    );
    assert_eq!(snapshot_files(&app, &id).len(), 2);
    // Old ones can, and prune gives the space back.
    for p in snapshot_files(&app, &id) {
        age(&p, 31);
    }
    ok(&restic(&app, &id, &token, &["unlock"]).await, "unlock");
    ok(
        &restic(
            &app,
            &id,
            &token,
            &["forget", "--keep-last", "1", "--prune"],
        )
        .await,
        "forget --prune",
    );
    assert_eq!(snapshot_files(&app, &id).len(), 1);
    let after = bytes_on_disk(&repo_dir(&app, &id));
    assert_eq!(db_bytes(&app, &id).await, (after, after));
    assert_eq!(monitoring_bytes(&app, &t, &id).await, after);
    ok(
        &restic(&app, &id, &token, &["check"]).await,
        "check after prune",
    );
    let lic_bytes = app
        .count(&format!(
            "SELECT l.repo_bytes FROM licenses l JOIN installations n ON n.license_id = l.id WHERE n.id = '{id}'"
        ))
        .await;
    assert_eq!(lic_bytes, after);
    app.finish().await;
}

#[tokio::test]
async fn other_installations_are_not_found_and_bad_credentials_unauthorized() {
    let app = TestApp::spawn().await;
    let (t, lid, a, a_token) = setup(&app).await;
    let (b, b_token) = installation(&app, &t, &lid, "other").await;
    create(&app, &b, &b_token).await;
    let data = b"some pack".to_vec();
    let name = sha(&data);
    assert_eq!(
        post(&app, &b, &b_token, &format!("data/{name}"), &data)
            .await
            .status,
        StatusCode::OK
    );
    let routes: Vec<(&str, String, Option<Vec<u8>>)> = vec![
        ("POST", format!("/repo/{b}/?create=true"), None),
        ("DELETE", format!("/repo/{b}/"), None),
        ("HEAD", format!("/repo/{b}/config"), None),
        ("GET", format!("/repo/{b}/config"), None),
        ("POST", format!("/repo/{b}/config"), Some(b"x".to_vec())),
        ("DELETE", format!("/repo/{b}/config"), None),
        ("GET", format!("/repo/{b}/data/"), None),
        ("GET", format!("/repo/{b}/keys/"), None),
        ("HEAD", format!("/repo/{b}/data/{name}"), None),
        ("GET", format!("/repo/{b}/data/{name}"), None),
        ("POST", format!("/repo/{b}/data/{name}"), Some(data.clone())),
        ("DELETE", format!("/repo/{b}/data/{name}"), None),
        ("DELETE", format!("/repo/{b}/snapshots/{name}"), None),
    ];
    for (m, path, body) in &routes {
        let r = call(&app, m, path, Some((&a, &a_token)), &[], body.clone()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {path} with A's token");
        // B's user with A's token is no credential at all.
        let r = call(&app, m, path, Some((&b, &a_token)), &[], body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{m} {path}, B's user, A's token"
        );
        let r = call(&app, m, path, Some((&b, "wrong-token")), &[], body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{m} {path} wrong password"
        );
        assert_eq!(
            r.headers["www-authenticate"], "Basic realm=\"command-center\"",
            "{m} {path}"
        );
        let r = call(&app, m, path, None, &[], body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{m} {path} anonymous");
    }
    assert!(
        repo_dir(&app, &b)
            .join("data")
            .join(&name[..2])
            .join(&name)
            .exists()
    );
    assert!(!repo_dir(&app, &a).exists(), "A's calls created nothing");
    // A deactivated installation's token opens nothing; its repository
    // and its counts stay.
    let (s, v) = app
        .api(
            "POST",
            &format!("/api/v1/installations/{b}/deactivate"),
            &t,
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
    let r = call(
        &app,
        "GET",
        &format!("/repo/{b}/data/"),
        Some((&b, &b_token)),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        repo_dir(&app, &b)
            .join("data")
            .join(&name[..2])
            .join(&name)
            .exists()
    );
    assert_eq!(
        db_bytes(&app, &b).await,
        (data.len() as i64, data.len() as i64)
    );
    let _ = a;
    app.finish().await;
}

#[tokio::test]
async fn a_client_cannot_erase_config_keys_or_young_snapshots() {
    let app = TestApp::spawn().await;
    let (_, _, id, token) = setup(&app).await;
    create(&app, &id, &token).await;
    assert_eq!(
        post(&app, &id, &token, "config", b"the config")
            .await
            .status,
        StatusCode::OK
    );
    let r = post(&app, &id, &token, "config", b"another config").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "config is never replaced");
    let key = b"a key".to_vec();
    let snap = b"a snapshot".to_vec();
    let pack = b"a pack".to_vec();
    for (kind, d) in [("keys", &key), ("snapshots", &snap), ("data", &pack)] {
        assert_eq!(
            post(&app, &id, &token, &format!("{kind}/{}", sha(d)), d)
                .await
                .status,
            StatusCode::OK
        );
    }
    let del = |path: String| {
        let (app, id, token) = (&app, id.clone(), token.clone());
        async move {
            call(
                app,
                "DELETE",
                &format!("/repo/{id}/{path}"),
                Some((&id, &token)),
                &[],
                None,
            )
            .await
        }
    };
    let r = del("config".into()).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (StatusCode::FORBIDDEN, json!("forbidden"))
    );
    let r = del(format!("keys/{}", sha(&key))).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (StatusCode::FORBIDDEN, json!("forbidden"))
    );
    let r = call(
        &app,
        "DELETE",
        &format!("/repo/{id}/"),
        Some((&id, &token)),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the repository stays");
    let r = del(format!("snapshots/{}", sha(&snap))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], "retention_protected", "{}", r.json());
    // 29 days old is still young with the default 30 days.
    let snap_path = repo_dir(&app, &id).join("snapshots").join(sha(&snap));
    age(&snap_path, 29);
    assert_eq!(
        del(format!("snapshots/{}", sha(&snap))).await.status,
        StatusCode::FORBIDDEN
    );
    age(&snap_path, 31);
    assert_eq!(
        del(format!("snapshots/{}", sha(&snap))).await.status,
        StatusCode::OK
    );
    assert!(!snap_path.exists());
    assert_eq!(
        del(format!("snapshots/{}", sha(&snap))).await.status,
        StatusCode::NOT_FOUND
    );
    // Data may go (prune needs it).
    assert_eq!(
        del(format!("data/{}", sha(&pack))).await.status,
        StatusCode::OK
    );
    let stored = (b"the config".len() + key.len()) as i64;
    assert_eq!(db_bytes(&app, &id).await, (stored, stored));
    assert_eq!(bytes_on_disk(&repo_dir(&app, &id)), stored);
    app.finish().await;
}

#[tokio::test]
async fn names_are_checked_against_content_ranges_and_listings_served() {
    let app = TestApp::spawn().await;
    let (_, _, id, token) = setup(&app).await;
    let auth = Some((id.as_str(), token.as_str()));
    // Nothing before the repository exists.
    let r = call(&app, "GET", &format!("/repo/{id}/data/"), auth, &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    create(&app, &id, &token).await;
    create(&app, &id, &token).await; // idempotent
    let r = call(&app, "HEAD", &format!("/repo/{id}/config"), auth, &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A name that is not the content's SHA-256: 400, nothing stored.
    let data = noise(1000, 3);
    let wrong = sha(b"something else");
    let r = post(&app, &id, &token, &format!("data/{wrong}"), &data).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json());
    assert_eq!(bytes_on_disk(&repo_dir(&app, &id)), 0);
    assert_eq!(db_bytes(&app, &id).await, (0, 0));
    // Names that are not names.
    for bad in ["data/xyz", "data/ABCDEF", "other/00", "config/00"] {
        let r = post(&app, &id, &token, bad, &data).await;
        assert!(
            r.status == StatusCode::BAD_REQUEST
                || r.status == StatusCode::NOT_FOUND
                || r.status == StatusCode::METHOD_NOT_ALLOWED,
            "{bad}: {}",
            r.status
        );
    }
    let upper = sha(&data).to_uppercase();
    assert_eq!(
        post(&app, &id, &token, &format!("data/{upper}"), &data)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = post(&app, &id, &token, "data/%2e%2e%2f%2e%2e%2fconfig", &data).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Chunked without a Content-Length (as rustic sends): checked and
    // counted after it arrived — a wrong name is still refused.
    let name = sha(&data);
    let chunked = |name: String| {
        format!(
            "POST /repo/{id}/data/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            basic(&id, &token)
        )
    };
    let status = raw_http(&app, &chunked(name.clone()), b"5\r\nhello\r\n0\r\n\r\n").await;
    assert_eq!(status, 400);
    let status = raw_http(&app, &chunked(sha(b"hello")), b"5\r\nhello\r\n0\r\n\r\n").await;
    assert_eq!(status, 200);
    assert_eq!(
        db_bytes(&app, &id).await,
        (5, 5),
        "a chunked upload is counted"
    );
    let r = call(
        &app,
        "DELETE",
        &format!("/repo/{id}/data/{}", sha(b"hello")),
        Some((&id, &token)),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    assert_eq!(
        post(&app, &id, &token, &format!("data/{name}"), &data)
            .await
            .status,
        StatusCode::OK
    );
    assert!(
        repo_dir(&app, &id)
            .join("data")
            .join(&name[..2])
            .join(&name)
            .exists()
    );
    // The same upload again (a retry) changes nothing.
    assert_eq!(
        post(&app, &id, &token, &format!("data/{name}"), &data)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(db_bytes(&app, &id).await, (1000, 1000));

    let path = format!("/repo/{id}/data/{name}");
    let r = call(&app, "HEAD", &path, auth, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-length"], "1000");
    let r = call(&app, "GET", &path, auth, &[], None).await;
    assert_eq!((r.status, &r.body), (StatusCode::OK, &data));
    let r = call(&app, "GET", &path, auth, &[("range", "bytes=10-19")], None).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers["content-range"], "bytes 10-19/1000");
    assert_eq!(r.body, data[10..20]);
    let r = call(&app, "GET", &path, auth, &[("range", "bytes=990-")], None).await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::PARTIAL_CONTENT, &data[990..])
    );
    let r = call(&app, "GET", &path, auth, &[("range", "bytes=-5")], None).await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::PARTIAL_CONTENT, &data[995..])
    );
    for bad in ["bytes=1000-", "bytes=20-10", "bytes=0-1,5-6", "lines=1-2"] {
        let r = call(&app, "GET", &path, auth, &[("range", bad)], None).await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        assert_eq!(r.headers["content-range"], "bytes */1000");
    }
    let missing = sha(b"missing");
    let r = call(
        &app,
        "GET",
        &format!("/repo/{id}/data/{missing}"),
        auth,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Listings: v1 names, v2 names and sizes with the v2 content type.
    let list = format!("/repo/{id}/data/");
    let r = call(&app, "GET", &list, auth, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!([name]));
    let r = call(
        &app,
        "GET",
        &list,
        auth,
        &[("accept", "application/vnd.x.restic.rest.v2")],
        None,
    )
    .await;
    assert_eq!(
        r.headers["content-type"],
        "application/vnd.x.restic.rest.v2"
    );
    assert_eq!(r.json(), json!([{"name": name, "size": 1000}]));
    let r = call(
        &app,
        "GET",
        &format!("/repo/{id}/locks/"),
        auth,
        &[("accept", "application/vnd.x.restic.rest.v2")],
        None,
    )
    .await;
    assert_eq!(r.json(), json!([]));
    app.finish().await;
}

#[tokio::test]
async fn client_limit_and_total_space_are_enforced_under_concurrency() {
    let app = TestApp::spawn().await;
    let (_, lid, id, token) = setup(&app).await;
    create(&app, &id, &token).await;
    // Client limit 1 GB: an upload announcing more is refused before a
    // byte is read.
    app.exec(&format!(
        "UPDATE licenses SET client_limit_gb = 1 WHERE id = '{lid}'"
    ))
    .await;
    let name = sha(b"whatever");
    let head = |len: u64| {
        format!(
            "POST /repo/{id}/data/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
            basic(&id, &token)
        )
    };
    // One request carries at most 256 MiB (413, whatever the space).
    assert_eq!(raw_http(&app, &head(300 * 1024 * 1024), b"").await, 413);
    // 900 MB stored (a figure set for the test): 200 MB more pass the
    // client limit.
    app.exec(&format!(
        "UPDATE installations SET repo_bytes = 900000000 WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(raw_http(&app, &head(200_000_000), b"").await, 507);
    assert_eq!(db_bytes(&app, &id).await, (900_000_000, 0));
    assert_eq!(bytes_on_disk(&repo_dir(&app, &id)), 0);

    // Parallel uploads that together pass the client limit: exactly as
    // many pass as fit.
    app.exec(&format!(
        "UPDATE installations SET repo_bytes = 1000000000 - 2500 WHERE id = '{id}'"
    ))
    .await;
    let results = parallel_uploads(&app, &id, &token, 8, 1).await;
    let passed = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(passed, 2, "{results:?}");
    for (s, code) in &results {
        assert!(
            *s == StatusCode::OK
                || (*s == StatusCode::INSUFFICIENT_STORAGE && code == "client_limit_exceeded"),
            "{s} {code}"
        );
    }
    assert_eq!(db_bytes(&app, &id).await, (1_000_000_000 - 500, 2000));
    assert_eq!(bytes_on_disk(&repo_dir(&app, &id)), 2000);

    // The same for the license's Total space (5 × 10 GB + 1 × 25 GB).
    app.exec(&format!("UPDATE licenses SET client_limit_gb = 0, repo_bytes = 75000000000 - 3500 WHERE id = '{lid}'")).await;
    let results = parallel_uploads(&app, &id, &token, 8, 2).await;
    let passed = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(passed, 3, "{results:?}");
    for (s, code) in &results {
        assert!(
            *s == StatusCode::OK
                || (*s == StatusCode::INSUFFICIENT_STORAGE && code == "total_space_exceeded"),
            "{s} {code}"
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT repo_bytes FROM licenses WHERE id = '{lid}'"
        ))
        .await,
        75_000_000_000 - 500
    );
    assert_eq!(bytes_on_disk(&repo_dir(&app, &id)), 5000);
    // The same file uploaded four times at once (a retry racing the
    // original): all succeed, one file, counted once.
    app.exec(&format!(
        "UPDATE licenses SET repo_bytes = 0 WHERE id = '{lid}'"
    ))
    .await;
    let same: Vec<Vec<u8>> = (0..4).map(|_| noise(1000, 4242)).collect();
    let results = parallel_bodies(&app, &id, &token, same).await;
    assert!(
        results.iter().all(|(s, _)| *s == StatusCode::OK),
        "{results:?}"
    );
    assert_eq!(bytes_on_disk(&repo_dir(&app, &id)), 6000);
    assert_eq!(
        app.count(&format!(
            "SELECT repo_bytes FROM licenses WHERE id = '{lid}'"
        ))
        .await,
        1000
    );
    assert_eq!(db_bytes(&app, &id).await.1, 6000);
    app.exec(&format!(
        "UPDATE licenses SET repo_bytes = 75000000000 - 500 WHERE id = '{lid}'"
    ))
    .await;
    let r = post(
        &app,
        &id,
        &token,
        &format!("data/{}", sha(&noise(1000, 99))),
        &noise(1000, 99),
    )
    .await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE);
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("75000000000"), "{detail}");
    app.finish().await;
}

/// `n` different 1000-byte uploads released at the same moment; answers
/// (status, problem code) each.
async fn parallel_uploads(
    app: &TestApp,
    id: &str,
    token: &str,
    n: usize,
    round: u64,
) -> Vec<(StatusCode, String)> {
    let bodies = (0..n)
        .map(|i| noise(1000, round * 1000 + i as u64))
        .collect();
    parallel_bodies(app, id, token, bodies).await
}

/// These uploads released at the same moment; answers (status, problem
/// code) each.
async fn parallel_bodies(
    app: &TestApp,
    id: &str,
    token: &str,
    bodies: Vec<Vec<u8>>,
) -> Vec<(StatusCode, String)> {
    let n = bodies.len();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(n)
        .build()
        .unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut set = tokio::task::JoinSet::new();
    for data in bodies {
        let url = app.url(&format!("/repo/{id}/data/{}", sha(&data)));
        let (client, barrier, id, token) = (
            client.clone(),
            barrier.clone(),
            id.to_string(),
            token.to_string(),
        );
        set.spawn(async move {
            barrier.wait().await;
            let r = client
                .post(url)
                .basic_auth(id, Some(token))
                .body(data)
                .send()
                .await
                .unwrap();
            let s = r.status();
            let v: Value = r.json().await.unwrap_or_default();
            (s, v["code"].as_str().unwrap_or("").to_string())
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

/// The reference agent (its CLI, as a customer runs it) backs up through
/// the console, twice, and restores both times' files; stock restic opens
/// the same repository with the customer's key and sees the same
/// snapshots; the report carries the real figures and storage used is the
/// bytes on disk.
// The agent runs as a child process while the server serves: threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_backs_up_through_the_console_and_restores() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    let inv = invites(&app, &t, &lid, 1, "standard", "pc").await;
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("agent.json");
    let agent = |args: Vec<String>| {
        let state = state.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_command-center"))
                .arg("agent")
                .arg("--state")
                .arg(&state)
                .args(&args)
                .output()
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "agent {args:?}: {text}");
            text
        }
    };
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    agent(s(&[
        "activate",
        "--server",
        &app.base,
        "--username",
        &inv[0].0,
        "--code",
        &inv[0].1,
        "--hostname",
        "office-pc",
    ]))
    .await;
    let tree = work.path().join("documents");
    make_tree(&tree);
    let first = work.path().join("first-copy");
    copy_tree(&tree, &first);
    agent(s(&["backup", tree.to_str().unwrap()])).await;
    // Change, add and delete, then back up again.
    std::fs::write(tree.join("a/b/päivä.txt"), "hyvää iltaa\n").unwrap();
    std::fs::write(tree.join("uusi.txt"), noise(100_000, 3)).unwrap();
    std::fs::remove_file(tree.join("a/b/small-3.txt")).unwrap();
    agent(s(&["backup", tree.to_str().unwrap()])).await;
    let listed = agent(s(&["snapshots"])).await;
    assert!(listed.contains("office-pc"), "{listed}");

    // Both snapshots come back: the latest, and the first by its id.
    let latest = work.path().join("restore-latest");
    agent(s(&[
        "restore",
        "--snapshot",
        "latest",
        "--target",
        latest.to_str().unwrap(),
    ]))
    .await;
    same_tree(&tree, &latest.join(tree.strip_prefix("/").unwrap()));

    // Stock restic: same snapshots, the customer's key opens them.
    let state_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let id = state_json["installation_id"].as_str().unwrap().to_string();
    let token = state_json["token"].as_str().unwrap().to_string();
    let (_, key) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{cid}/encryption-key/reveal"),
            &t,
            None,
        )
        .await;
    let key = key["encryption_key"].as_str().unwrap().to_string();
    let port = app.base.rsplit(':').next().unwrap();
    let stock = |args: Vec<String>| {
        let (id, token, key) = (id.clone(), token.clone(), key.clone());
        let home = work.path().to_path_buf();
        let port = port.to_string();
        async move {
            let out = tokio::process::Command::new("/usr/bin/restic")
                .arg("--no-cache")
                .args(&args)
                .env(
                    "RESTIC_REPOSITORY",
                    format!("rest:http://{id}:{token}@127.0.0.1:{port}/repo/{id}/"),
                )
                .env("RESTIC_PASSWORD", key)
                .env("HOME", home)
                .output()
                .await
                .unwrap();
            ok(&out, &format!("{args:?}"));
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    };
    let snaps: Value = serde_json::from_str(&stock(s(&["snapshots", "--json"])).await).unwrap();
    let snaps = snaps.as_array().unwrap();
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let first_id = snaps
        .iter()
        .min_by_key(|s| s["time"].as_str().unwrap().to_string())
        .unwrap()["short_id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_restic = work.path().join("restore-restic-first");
    stock(s(&[
        "restore",
        &first_id,
        "--target",
        by_restic.to_str().unwrap(),
    ]))
    .await;
    same_tree(&first, &by_restic.join(tree.strip_prefix("/").unwrap()));
    let by_agent = work.path().join("restore-agent-first");
    agent(s(&[
        "restore",
        "--snapshot",
        &first_id,
        "--target",
        by_agent.to_str().unwrap(),
    ]))
    .await;
    same_tree(&first, &by_agent.join(tree.strip_prefix("/").unwrap()));
    stock(s(&["check"])).await;

    // The console saw real runs, and counts the bytes it stores.
    let (_, list) = app
        .api(
            "GET",
            &format!("/api/v1/installations?license_id={lid}"),
            &t,
            None,
        )
        .await;
    assert_eq!(list["items"][0]["last_backup_status"], "success", "{list}");
    assert_eq!(
        monitoring_bytes(&app, &t, &id).await,
        bytes_on_disk(&repo_dir(&app, &id)),
        "storage used is the bytes on disk"
    );
    app.finish().await;
}

/// Copies a tree (files, folders, symlinks as links).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let m = std::fs::symlink_metadata(&src).unwrap();
        if m.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if m.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// An operator deletes a deactivated computer's backups for good: only
/// after deactivation, only with its name typed exactly; the files go, the
/// counts go back to zero (installation and license), and it is audited.
/// In the console: a confirmation page with a labelled field.
#[tokio::test]
async fn an_operator_deletes_a_deactivated_computers_backups() {
    let app = TestApp::spawn().await;
    let (t, lid, id, token) = setup(&app).await;
    create(&app, &id, &token).await;
    let data = noise(4000, 11);
    let name = sha(&data);
    assert_eq!(
        post(&app, &id, &token, &format!("data/{name}"), &data)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(db_bytes(&app, &id).await, (4000, 4000));
    let path = format!("/api/v1/installations/{id}/delete-backup-data");
    // A live installation keeps its backups.
    let (s, v) = app
        .api("POST", &path, &t, Some(json!({"confirm_hostname": "h"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "installation_active");
    let (s, _) = app
        .api(
            "POST",
            &format!("/api/v1/installations/{id}/deactivate"),
            &t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, inst) = app
        .api("GET", &format!("/api/v1/installations/{id}"), &t, None)
        .await;
    let host = inst["hostname"].as_str().unwrap().to_string();
    // The console asks for the name, with a label.
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (s, html) = b.get(&format!("/installations/{id}/delete-backup")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<label for=\"confirm_hostname\""), "{html}");
    // A wrong name changes nothing.
    let csrf = csrf_of(&html);
    let (s, html, _) = b
        .post(
            &format!("/installations/{id}/delete-backup"),
            &[("_csrf", csrf.as_str()), ("confirm_hostname", "not-it")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("confirm_hostname-error"), "{html}");
    assert_eq!(db_bytes(&app, &id).await, (4000, 4000));
    assert!(repo_dir(&app, &id).exists());
    // The right name: gone.
    let (s, v) = app
        .api("POST", &path, &t, Some(json!({"confirm_hostname": host})))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["storage_used_bytes"], 0);
    assert_eq!(db_bytes(&app, &id).await, (0, 0));
    assert_eq!(
        app.count(&format!(
            "SELECT repo_bytes FROM licenses WHERE id = '{lid}'"
        ))
        .await,
        0
    );
    assert!(!repo_dir(&app, &id).exists());
    assert!(
        std::fs::read_dir(repo_dir(&app, &id).parent().unwrap())
            .unwrap()
            .all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".deleted-")),
        "nothing set aside remains"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'installation.delete_backup_data'"
        )
        .await,
        1
    );
    app.finish().await;
}

/// Runs the agent CLI with a state file; panics with its output on failure.
async fn agent_cli(state: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_command-center"))
        .arg("agent")
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "agent {args:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_computer_takes_over_the_backups_and_the_seat() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    let work = tempfile::tempdir().unwrap();
    let old_state = work.path().join("old.json");
    let new_state = work.path().join("new.json");

    // The old computer backs up.
    let inv = invites(&app, &t, &lid, 1, "standard", "old").await;
    agent_cli(
        &old_state,
        &[
            "activate",
            "--server",
            &app.base,
            "--username",
            &inv[0].0,
            "--code",
            &inv[0].1,
            "--hostname",
            "old-pc",
        ],
    )
    .await;
    let old: Value = serde_json::from_str(&std::fs::read_to_string(&old_state).unwrap()).unwrap();
    let old_id = old["installation_id"].as_str().unwrap().to_string();
    let tree = work.path().join("documents");
    make_tree(&tree);
    agent_cli(&old_state, &["backup", tree.to_str().unwrap()]).await;
    let stored = monitoring_bytes(&app, &t, &old_id).await;
    assert!(stored > 0);

    // Every seat is in use now; the replacement needs none of its own.
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{lid}"),
            &t,
            Some(json!({"standard_seats": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = app
        .api("POST", &format!("/api/v1/licenses/{lid}/invites"), &t, Some(json!({"username": "new0", "email": "new0@example.com", "software_type": "server", "replaces_installation_id": old_id})))
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another software type: {v}"
    );
    assert_eq!(v["errors"][0]["field"], "replaces_installation_id", "{v}");
    let (s, v) = app
        .api("POST", &format!("/api/v1/licenses/{lid}/invites"), &t, Some(json!({"username": "new0", "email": "new0@example.com", "software_type": "standard", "replaces_installation_id": old_id})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["replaces_installation_id"], old_id.as_str());
    let code = v["activation_code"].as_str().unwrap().to_string();
    agent_cli(
        &new_state,
        &[
            "activate",
            "--server",
            &app.base,
            "--username",
            "new0",
            "--code",
            &code,
            "--hostname",
            "new-pc",
        ],
    )
    .await;
    let new: Value = serde_json::from_str(&std::fs::read_to_string(&new_state).unwrap()).unwrap();
    let new_id = new["installation_id"].as_str().unwrap().to_string();

    // The old computer is deactivated and its token refused; one seat in use.
    let (s, _, _) = app
        .api_with_headers(
            "GET",
            "/client/v1/policy",
            Some(old["token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, o) = app
        .api("GET", &format!("/api/v1/installations/{old_id}"), &t, None)
        .await;
    assert!(o["deactivated_at"].is_string(), "{o}");
    assert_eq!(o["replaced_by"], new_id.as_str(), "{o}");
    assert_eq!(o["storage_used_bytes"], 0, "{o}");
    let (_, l) = app
        .api("GET", &format!("/api/v1/licenses/{lid}"), &t, None)
        .await;
    assert_eq!(l["standard_used"], 1, "{l}");

    // The new computer restores the old one's files, then continues.
    let restored = work.path().join("restored");
    agent_cli(
        &new_state,
        &[
            "restore",
            "--snapshot",
            "latest",
            "--target",
            restored.to_str().unwrap(),
        ],
    )
    .await;
    same_tree(&tree, &restored.join(tree.strip_prefix("/").unwrap()));
    std::fs::write(tree.join("uusi.txt"), noise(50_000, 9)).unwrap();
    agent_cli(&new_state, &["backup", tree.to_str().unwrap()]).await;
    let listed = agent_cli(&new_state, &["snapshots"]).await;
    assert!(
        listed.contains("old-pc") && listed.contains("new-pc"),
        "{listed}"
    );
    assert_eq!(
        monitoring_bytes(&app, &t, &new_id).await,
        bytes_on_disk(&repo_dir(&app, &old_id)),
        "the new installation counts the repository it continues"
    );
    let (repo_bytes, _) = db_bytes(&app, &new_id).await;
    let license_bytes = app
        .count(&format!(
            "SELECT repo_bytes FROM licenses WHERE id = '{lid}'"
        ))
        .await;
    assert_eq!(license_bytes, repo_bytes, "the license's count stays whole");

    // The old computer's backups are the new one's: not deletable there,
    // and one computer is replaced once.
    let (s, v) = app
        .api(
            "POST",
            &format!("/api/v1/installations/{old_id}/delete-backup-data"),
            &t,
            Some(json!({"confirm_hostname": "old-pc"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "installation_replaced", "{v}");
    let (s, v) = app
        .api("POST", &format!("/api/v1/licenses/{lid}/invites"), &t, Some(json!({"username": "new1", "email": "new1@example.com", "software_type": "standard", "replaces_installation_id": old_id})))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // The API lists the snapshots each computer reported, with real ids.
    let (s, v) = app
        .api(
            "GET",
            &format!("/api/v1/installations/{new_id}/snapshots"),
            &t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let snap = &v["items"][0];
    assert_eq!(snap["id"].as_str().unwrap().len(), 64, "{v}");
    assert!(snap["files_total"].as_i64().unwrap() > 0, "{v}");
    assert!(
        listed.contains(&snap["id"].as_str().unwrap()[..8]),
        "{listed}"
    );

    // The pages say so, and list the snapshots the clients reported.
    let web = Browserless::new(&app);
    assert_eq!(
        web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = web.get(&format!("/installations/{new_id}")).await;
    assert!(page.contains("id=\"continues\""), "{page}");
    assert!(page.contains("id=\"snapshots\""), "{page}");
    let (_, page) = web.get(&format!("/installations/{old_id}")).await;
    assert!(page.contains("id=\"replaced-by\""), "{page}");
    assert!(
        page.contains("id=\"snapshots\""),
        "the old computer's snapshot is listed: {page}"
    );
    assert!(!page.contains("/delete-backup\""), "{page}");
    let (_, page) = web
        .get(&format!("/licenses/{cid}/invites?license={lid}"))
        .await;
    assert!(page.contains("name=\"replaces_installation_id\""), "{page}");
    app.finish().await;
}
