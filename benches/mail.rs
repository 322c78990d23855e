//! Mail throughput: invitations (10,000 unless `BENCH_INVITES` says) through
//! the real outbox worker to a local SMTP server. Prints messages per second
//! from the first send request to the last accepted message.
//!
//!     cargo bench --bench mail                       # SQLite, aiosmtpd
//!     CC_TEST_DATABASE=postgres cargo bench --bench mail
//!     BENCH_SMTP=smtp-sink cargo bench --bench mail  # Postfix's smtp-sink
//!     BENCH_SMTP_URL=smtp://127.0.0.1:2525 cargo bench --bench mail
//!                           # a server already running
//!
//! The SMTP server, the app and this driver share the machine's cores.

#[path = "../tests/it/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use command_center::domain::Role;
use command_center::service::Actor;
use command_center::service::invites::NewInvite;
use harness::*;

fn n() -> usize {
    std::env::var("BENCH_INVITES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

#[tokio::main]
async fn main() {
    // aiosmtpd unless another server is named (smtp-sink counts nothing
    // we can read; the invites' states say what was accepted).
    let sink = std::env::var("BENCH_SMTP").ok().as_deref() == Some("smtp-sink");
    let mut sink_process = None;
    let mut other = std::env::var("BENCH_SMTP_URL").ok();
    if sink {
        // smtp-sink accepts and discards; the last number is its listen
        // backlog. As root it must be told whom to run as.
        let port = free_port();
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut args = Vec::new();
        if root {
            args.extend(["-u".to_string(), "nobody".to_string()]);
        }
        args.extend([format!("127.0.0.1:{port}"), "1024".to_string()]);
        let child = std::process::Command::new("smtp-sink")
            .args(&args)
            .spawn()
            .expect(
                "smtp-sink (Debian package postfix) must be installed for BENCH_SMTP=smtp-sink",
            );
        sink_process = Some(child);
        tokio::time::sleep(Duration::from_millis(300)).await;
        other = Some(format!("smtp://127.0.0.1:{port}"));
    }
    let smtp = match &other {
        Some(_) => None,
        None => match SmtpServer::start() {
            Some(s) => Some(s),
            None => return,
        },
    };
    let url = other
        .clone()
        .unwrap_or_else(|| smtp.as_ref().map(|s| s.url()).unwrap_or_default());
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &url),
        ("CC_SQLITE_SYNCHRONOUS", "full"),
        ("CC_LOG", "warn"),
    ])
    .await;
    let services = app.running.as_ref().unwrap().services.clone();
    let token = app.admin_token().await;
    let (_, lid) = {
        let (s, c) = app
            .api(
                "POST",
                "/api/v1/customers",
                &token,
                Some(serde_json::json!({"name": "Bench Oy", "language": "en"})),
            )
            .await;
        assert!(s.is_success());
        let cid = c["id"].as_str().unwrap().to_string();
        let (_, l) = app
            .api(
                "POST",
                &format!("/api/v1/customers/{cid}/licenses"),
                &token,
                Some(serde_json::json!({"standard_seats": 100000})),
            )
            .await;
        (cid, l["id"].as_str().unwrap().to_string())
    };
    let lid = lid.parse().unwrap();
    let (_, ops) = app.api("GET", "/api/v1/operators", &token, None).await;
    let actor = Actor {
        operator_id: ops["items"][0]["id"].as_str().unwrap().parse().unwrap(),
        email: ADMIN_EMAIL.into(),
        name: String::new(),
        role: Role::Admin,
        vendor_id: None,
        vendor_name: None,
        ip: None,
        token: None,
    };
    let total = n();
    let t0 = Instant::now();
    let mut ids = Vec::with_capacity(total);
    for i in 0..total {
        let input = NewInvite {
            username: format!("bench{i}"),
            email: format!("bench{i}@example.com"),
            software_type: "standard".into(),
            store_deleted_days: None,
            replaces_installation_id: None,
        };
        ids.push(
            services
                .create_invite(&actor, lid, &input)
                .await
                .unwrap()
                .0
                .id,
        );
    }
    let create_secs = t0.elapsed().as_secs_f64();
    println!(
        "created {total} invites in {create_secs:.1} s ({:.0}/s)",
        total as f64 / create_secs
    );
    let t1 = Instant::now();
    for chunk in ids.chunks(1000) {
        services.send_invites(&actor, chunk, false).await.unwrap();
    }
    let queue_secs = t1.elapsed().as_secs_f64();
    println!(
        "queued {total} in {} requests in {queue_secs:.2} s (delivery starts as the first returns)",
        total.div_ceil(1000)
    );
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut last = 0;
    while Instant::now() < deadline {
        let sent = app
            .count("SELECT COUNT(*) FROM invites WHERE delivery_state = 'sent'")
            .await as usize;
        if sent != last && sent % 2000 < 400 {
            println!("  {sent} sent after {:.1} s", t1.elapsed().as_secs_f64());
        }
        last = sent;
        if sent >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t1.elapsed().as_secs_f64();
    let received = smtp
        .as_ref()
        .map(|s| s.count().to_string())
        .unwrap_or_else(|| "-".into());
    println!(
        "backend={} smtp={} invites={total} delivered={last} received_by_smtp={received} seconds={secs:.1} messages_per_second={:.0}",
        if postgres() { "postgres" } else { "sqlite" },
        if sink {
            "smtp-sink"
        } else if other.is_some() {
            "other"
        } else {
            "aiosmtpd"
        },
        last as f64 / secs
    );
    app.finish().await;
    if let Some(mut c) = sink_process {
        let _ = c.kill();
        let _ = c.wait();
    }
}
