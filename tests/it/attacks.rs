//! Attacks that broke limits before, run as an attacker would: parallel
//! bursts of guesses, floods of sign-ins. Each asserts the limit held.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::clients::invites;
use crate::delivery_load::{server_env, spawn_server, wait_healthy};
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
    let env = server_env(data.path(), &db, &[("CC_TRUST_FORWARDED_FOR", "true")]);
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

/// Redirects after a language switch or sign-in stay on the console:
/// encoded tabs, line breaks and backslashes (which browsers drop or read
/// as `/`) lead home, not off-site.
#[tokio::test]
async fn redirects_never_leave_the_console() {
    let app = TestApp::spawn().await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for back in [
        "/%09/evil.example/x",
        "/%0a/evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "https://evil.example/",
        "/%00",
    ] {
        let r = c
            .get(app.url(&format!("/lang/en?back={back}")))
            .send()
            .await
            .unwrap();
        // Control characters are refused at the door (400); anything
        // else goes home, never off-site.
        if r.status() == StatusCode::BAD_REQUEST {
            assert!(back.contains('%') && back.contains("%0"), "{back}");
            continue;
        }
        assert!(r.status().is_redirection(), "{back}: {}", r.status());
        assert_eq!(r.headers()["location"], "/", "{back}");
    }
    let r = c
        .get(app.url("/lang/fi?back=/licenses%3Fq%3Dx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/licenses?q=x");
    // The sign-in page carries only a safe `next` into its form.
    let page = c
        .get(app.url("/login?next=/%09/evil.example"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("evil.example"), "{page}");
    app.finish().await;
}

/// Answers that carry activation codes or customers' data are never
/// stored by a browser; the CSP forbids plugins and a changed base.
#[tokio::test]
async fn responses_are_not_cached_and_the_csp_is_strict() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = customer_with_license(&app, &t, None).await;
    invites(&app, &t, &lid, 1, "standard", "nc").await;
    let r = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/licenses/{lid}/invites")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = reqwest::get(app.url("/login")).await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("object-src 'none'") && csp.contains("base-uri 'none'"),
        "{csp}"
    );
    app.finish().await;
}

/// Naming another vendor's (non-trial) installation in "Connect trial
/// client" says "not found", exactly like an id that does not exist.
#[tokio::test]
async fn connect_trial_does_not_reveal_another_vendors_installation() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.vendor(&admin, "Vendor A").await;
    let b = app.vendor(&admin, "Vendor B").await;
    app.operator(&admin, "op@a.example", "operator", Some(&a))
        .await;
    app.operator(&admin, "op@b.example", "operator", Some(&b))
        .await;
    let ta = app.token("op@a.example", PASSWORD).await;
    let tb = app.token("op@b.example", PASSWORD).await;
    let (_, la) = customer_with_license(&app, &ta, None).await;
    let inv = invites(&app, &ta, &la, 1, "standard", "a").await;
    let (s, act) = crate::clients::activate(&app, &inv[0].0, &inv[0].1).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, lb) = customer_with_license(&app, &tb, None).await;
    let (s, body) = app
        .api(
            "POST",
            &format!("/api/v1/licenses/{lb}/connect-trial"),
            &tb,
            Some(json!({"installation_id": act["installation_id"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    // Its own vendor's non-trial is still told apart.
    let (s, body) = app
        .api(
            "POST",
            &format!("/api/v1/licenses/{la}/connect-trial"),
            &ta,
            Some(json!({"installation_id": act["installation_id"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "not_a_trial");
    app.finish().await;
}

/// The data dir of a running console holds nothing others can read: the
/// database, its WAL, the key, mail files — 0600; folders 0700.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    let env: HashMap<String, String> = [
        ("CC_DATA_DIR", dir.display().to_string()),
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL.into()),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    // Some mail, so the outbox folder and a file exist.
    let c = client();
    let t: serde_json::Value = c
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = t["token"].as_str().unwrap();
    let r = c
        .post(format!("{}/api/v1/settings/test-email", server.base))
        .bearer_auth(t)
        .json(&json!({"to": "someone@example.com"}))
        .send()
        .await
        .unwrap();
    let _ = r.status();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = 0;
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            let mode = m.permissions().mode() & 0o777;
            if m.is_dir() {
                assert_eq!(mode, 0o700, "{}", e.path().display());
                stack.push(e.path());
            } else {
                assert_eq!(mode & 0o077, 0, "{} is {mode:o}", e.path().display());
            }
            seen += 1;
        }
    }
    assert!(seen >= 3, "the database, its WAL and the key at least");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// `/metrics` is not for everyone: an administrator's token on the main
/// address, or the address of CC_METRICS_LISTEN.
#[tokio::test]
async fn metrics_are_not_public() {
    let port = free_port();
    let at = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_METRICS_LISTEN", &at),
    ])
    .await;
    let r = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, op) = {
        let admin = app.admin_token().await;
        let v = app.vendor(&admin, "V").await;
        app.operator(&admin, "op@v.example", "operator", Some(&v))
            .await;
        (admin, app.token("op@v.example", PASSWORD).await)
    };
    let r = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "an operator is not enough"
    );
    let r = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("cc_http_requests_total"));
    app.finish().await;
}

/// A query string that does not parse is a problem document with a code;
/// another vendor's id in the alerts filter is "not found", as elsewhere.
#[tokio::test]
async fn query_errors_are_problems_and_alerts_hide_other_vendors() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/customers?limit=abc"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_query");
    let a = app.vendor(&admin, "Vendor A").await;
    let b = app.vendor(&admin, "Vendor B").await;
    app.operator(&admin, "op@a.example", "operator", Some(&a))
        .await;
    let ta = app.token("op@a.example", PASSWORD).await;
    let (s, _) = app
        .api("GET", &format!("/api/v1/alerts?vendor_id={b}"), &ta, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .api("GET", &format!("/api/v1/alerts?vendor_id={a}"), &ta, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    app.finish().await;
}

/// A client cannot switch alerts off for everyone with an absurd number:
/// it is refused (422), the largest sensible numbers from many clients
/// still sum, and the alert check and the Monitoring page keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_client_numbers_are_refused_and_alerts_keep_working() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    let inv = invites(&app, &t, &lid, 3, "standard", "big").await;
    let mut tokens = Vec::new();
    for (u, c) in &inv {
        let (s, a) = crate::clients::activate(&app, u, c).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        tokens.push(a["token"].as_str().unwrap().to_string());
    }
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = |bytes: i64| {
        json!({"started_at": at, "finished_at": at, "status": "success", "bytes_total": bytes,
            "bytes_uploaded": 0, "files_total": 1, "files_changed": 0})
    };
    let (s, v, _) = app
        .api_with_headers(
            "POST",
            "/client/v1/reports",
            Some(&tokens[0]),
            Some(body(i64::MAX)),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["field"], "bytes_total");
    // The largest accepted figure on every client: sums must not overflow.
    for tok in &tokens {
        crate::alerts::report(
            &app,
            tok,
            "success",
            command_center::domain::now_millis(),
            1_000_000_000_000_000,
        )
        .await;
    }
    let s = app.running.as_ref().unwrap().services.clone();
    let pass = s
        .evaluate_alerts(command_center::domain::now_millis())
        .await
        .unwrap();
    assert!(pass.opened >= 1, "the storage alert opens: {pass:?}");
    let (st, _) = app
        .api(
            "GET",
            &format!("/api/v1/monitoring?customer_id={cid}"),
            &t,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    app.finish().await;
}

/// Counters of long-closed rate-limit windows are pruned with old reports,
/// so the table does not grow by a row for every key that ever tried.
#[tokio::test]
async fn stale_rate_limit_counters_are_pruned() {
    let app = TestApp::spawn().await;
    let now = command_center::domain::now_millis();
    app.exec(&format!(
        "INSERT INTO rate_limits (key, window_start, failures) VALUES ('old:key', {}, 3), ('new:key', {now}, 1)",
        now - 2 * 86_400_000
    ))
    .await;
    let s = app.running.as_ref().unwrap().services.clone();
    s.prune_reports(now).await.unwrap();
    assert_eq!(
        app.count("SELECT COUNT(*) FROM rate_limits WHERE key = 'old:key'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM rate_limits WHERE key = 'new:key'")
            .await,
        1
    );
    app.finish().await;
}

/// Whether the server closed the connection within `within` (EOF or a
/// reset), reading and dropping whatever it answered first.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Slow connections: 300 that never finish their request head and 100
/// that send nothing are closed after the header timeout, a body that
/// stalls is abandoned after the body timeout, an idle kept-alive
/// connection is closed too — and the console keeps answering meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_connections_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(&[
        ("CC_HEADER_TIMEOUT_SECS", "1"),
        ("CC_BODY_TIMEOUT_SECS", "2"),
    ])
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for i in 0..400 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i < 300 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        slow.push(s);
    }
    // Served meanwhile.
    let r = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut open = 0;
    for s in &mut slow {
        if !closed_within(s, Duration::from_secs(2)).await {
            open += 1;
        }
    }
    eprintln!("slow connections: {open} of 400 still open after the header timeout");
    assert_eq!(open, 0, "every slow or silent connection was closed");

    // A body that stops after 10 of 100 bytes.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(6)).await,
        "a stalled body is abandoned"
    );
    eprintln!("stalled body abandoned after {:?}", started.elapsed());

    // A kept-alive connection that goes quiet after its request.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(4)).await,
        "an idle kept-alive connection is closed"
    );
    app.finish().await;
}

/// A NUL or another control character anywhere a caller can put one —
/// query strings, JSON fields, forms, the client API — is a clear 4xx,
/// never a 500 (PostgreSQL refuses NUL in text), and nothing is stored.
#[tokio::test]
async fn control_characters_are_refused_not_errors() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let http = client();
    let nul = "a\u{0}b";
    let mut seen = Vec::new();
    let mut check = |what: &str, status: StatusCode| {
        seen.push(format!("{what}: {status}"));
        assert!(status.is_client_error(), "{what}: {status}");
    };
    for path in [
        "/api/v1/customers?q=%00x",
        "/api/v1/customers?cursor=%00",
        "/api/v1/monitoring?q=a%00b",
        "/api/v1/monitoring?customer_id=%00",
        "/api/v1/installations?license_id=%00",
        "/api/v1/audit?q=%00",
    ] {
        let r = http
            .get(app.url(path))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        check(path, r.status());
    }
    for (path, body) in [
        ("/api/v1/auth/token", json!({"email": nul, "password": nul})),
        ("/api/v1/customers", json!({"name": nul, "language": "en"})),
        (
            "/api/v1/customers",
            json!({"name": "Rivi\nOy", "language": "en"}),
        ),
        (
            "/client/v1/activate",
            json!({"username": nul, "activation_code": nul, "hostname": nul, "os": "linux", "client_version": "1"}),
        ),
        (
            "/client/v1/trial",
            json!({"email": "x\u{0}@example.com", "hostname": "pc", "os": "linux", "client_version": "1"}),
        ),
    ] {
        let r = http
            .post(app.url(path))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        check(path, r.status());
    }
    let r = http
        .post(app.url("/login"))
        .form(&[("email", nul), ("password", nul)])
        .send()
        .await
        .unwrap();
    check("/login form", r.status());
    for path in [
        "/lang/en?back=/%00x",
        "/lang/en?back=/%0ax",
        "/login?next=%00",
    ] {
        let r = http.get(app.url(path)).send().await.unwrap();
        check(path, r.status());
    }
    let (_, list) = app.api("GET", "/api/v1/customers", &t, None).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing stored: {list}"
    );
    eprintln!("{}", seen.join("\n"));
    app.finish().await;
}
