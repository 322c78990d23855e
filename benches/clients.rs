//! Client API throughput with wrk: activations and reports per second, p50
//! and p99, next to the same server's /healthz (the ceiling) in the same
//! run. The server runs in this process, wrk in another; both share the
//! machine's cores.
//!
//!     cargo bench --bench clients                        # SQLite (synchronous=FULL)
//!     CC_TEST_DATABASE=postgres cargo bench --bench clients
//!
//! Needs `wrk` (Debian package wrk).

#[path = "../tests/it/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::io::Write;
use std::process::Command;

use command_center::domain::invite::normalize_code;
use command_center::domain::{InviteId, LicenseId};
use command_center::service::clients::ActivateRequest;
use command_center::store;
use harness::*;

const CONNECTIONS: &str = "64";
const DURATION: &str = "10s";

struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    requests: u64,
}

fn ms(s: &str) -> f64 {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("us") {
        v.parse::<f64>().unwrap_or(0.0) / 1000.0
    } else if let Some(v) = s.strip_suffix("ms") {
        v.parse().unwrap_or(0.0)
    } else if let Some(v) = s.strip_suffix('s') {
        v.parse::<f64>().unwrap_or(0.0) * 1000.0
    } else {
        0.0
    }
}

fn wrk(url: &str, script: Option<&std::path::Path>) -> WrkResult {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c", CONNECTIONS, "-d", DURATION, "--latency"]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut r = WrkResult {
        rps: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        non_2xx: 0,
        requests: 0,
    };
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = l.strip_prefix("50%") {
            r.p50_ms = ms(v);
        } else if let Some(v) = l.strip_prefix("99%") {
            r.p99_ms = ms(v);
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse().unwrap_or(0);
        } else if l.contains("requests in") {
            r.requests = l
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    r
}

fn print(name: &str, r: &WrkResult, ceiling: f64) {
    println!(
        "{name:<12} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:>5.1}% of /healthz  ({} requests, {} non-2xx)",
        r.rps,
        r.p50_ms,
        r.p99_ms,
        100.0 * r.rps / ceiling,
        r.requests,
        r.non_2xx
    );
}

#[tokio::main]
async fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (apt-get install wrk)");
        std::process::exit(1);
    }
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SQLITE_SYNCHRONOUS", "full"),
        ("CC_LOG", "error"),
    ])
    .await;
    let services = app.running.as_ref().unwrap().services.clone();
    let backend = if postgres() {
        "PostgreSQL"
    } else {
        "SQLite (WAL, synchronous=FULL)"
    };
    println!(
        "backend: {backend}; wrk -t2 -c{CONNECTIONS} -d{DURATION}; server and wrk share {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    let ceiling = wrk(&app.url("/healthz"), None);
    print("/healthz", &ceiling, ceiling.rps);

    // A license with room for everyone, and invites written in one go.
    let t = app.admin_token().await;
    let (_, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(serde_json::json!({"name": "Bench Oy"})),
        )
        .await;
    let (_, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{}/licenses", c["id"].as_str().unwrap()),
            &t,
            Some(serde_json::json!({"standard_seats": 1000000})),
        )
        .await;
    let lid: LicenseId = l["id"].as_str().unwrap().parse().unwrap();
    let invites = 150_000usize;
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.txt");
    {
        let mut f = std::fs::File::create(&pairs).unwrap();
        let mut tx = services.store.begin().await.unwrap();
        let now = command_center::domain::now_millis();
        for i in 0..invites {
            let code = format!(
                "BNCH-{:04}-{:04}-{:04}",
                i / 100_000_000,
                (i / 10_000) % 10_000,
                i % 10_000
            )
            .replace('0', "A")
            .replace('1', "B");
            let username = format!("bench{i}");
            store::invites::insert(
                &mut tx,
                &store::invites::NewInviteRow {
                    id: InviteId::new(),
                    license_id: lid,
                    username: &username,
                    email: "bench@example.com",
                    software_type: "standard",
                    store_deleted_days: 30,
                    code_enc: &services.key.encrypt(&code).unwrap(),
                    code_hash: &services
                        .key
                        .lookup_hash("activation", &normalize_code(&code)),
                    expires_at: now + 86_400_000,
                    replaces: None,
                },
                now,
            )
            .await
            .unwrap();
            writeln!(f, "{username} {code}").unwrap();
        }
        tx.commit().await.unwrap();
    }
    let lua = dir.path().join("activate.lua");
    std::fs::write(
        &lua,
        format!(
            r#"
local pairs_ = {{}}
for line in io.lines("{}") do
  local u, c = line:match("(%S+) (%S+)")
  pairs_[#pairs_ + 1] = {{u, c}}
end
local threads = 0
function setup(thread) threads = threads + 1; thread:set("first", threads) end
local n = nil
request = function()
  if n == nil then n = first end
  local p = pairs_[n]
  n = n + 2
  if p == nil then p = pairs_[1] end
  local body = '{{"username":"' .. p[1] .. '","activation_code":"' .. p[2] .. '","hostname":"bench","os":"linux","client_version":"1"}}'
  return wrk.format("POST", "/client/v1/activate", {{["Content-Type"] = "application/json"}}, body)
end
"#,
            pairs.display()
        ),
    )
    .unwrap();
    let act = wrk(&app.url("/client/v1/activate"), Some(&lua));
    print("activate", &act, ceiling.rps);
    let used = app
        .count(&format!(
            "SELECT standard_used FROM licenses WHERE id = '{lid}'"
        ))
        .await;
    println!(
        "             seats taken: {used}; non-2xx would mean the invites ran out (increase `invites`)"
    );

    // Reports: 1,000 clients, each report a new row plus its summary.
    let mut tokens = Vec::new();
    let spare = app
        .count("SELECT COUNT(*) FROM invites WHERE used_at IS NULL")
        .await;
    assert!(spare > 1000, "invites left for report clients");
    let mut c = services.store.read().await.unwrap();
    let unused: Vec<String> = sqlx::query_scalar(
        "SELECT username FROM invites WHERE used_at IS NULL ORDER BY username LIMIT 1000",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap();
    drop(c);
    let codes: std::collections::HashMap<String, String> = std::fs::read_to_string(&pairs)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(u, c)| (u.to_string(), c.to_string()))
        })
        .collect();
    for u in unused {
        // wrk's last in-flight activations may still take an invite here.
        let Ok(a) = services
            .activate(
                &ActivateRequest {
                    username: u.clone(),
                    activation_code: command_center_wire::Secret::new(codes[&u].clone()),
                    hostname: "r".into(),
                    os: "linux".into(),
                    client_version: "1".into(),
                },
                None,
            )
            .await
        else {
            continue;
        };
        tokens.push(a.token.into_inner());
    }
    assert!(tokens.len() > 900, "report clients activated");
    let toks = dir.path().join("tokens.txt");
    std::fs::write(&toks, tokens.join("\n")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let f = &time::format_description::well_known::Rfc3339;
    let body = serde_json::json!({"started_at": (now - time::Duration::minutes(5)).format(f).unwrap(), "finished_at": now.format(f).unwrap(), "status": "success", "bytes_total": 5000000000i64, "bytes_uploaded": 1000000, "files_total": 1000, "files_changed": 10, "message": ""}).to_string();
    let lua = dir.path().join("report.lua");
    std::fs::write(
        &lua,
        format!(
            r#"
local toks = {{}}
for line in io.lines("{}") do toks[#toks + 1] = line end
local n = 0
local body = '{}'
request = function()
  n = n + 1
  local t = toks[(n % #toks) + 1]
  return wrk.format("POST", "/client/v1/reports", {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. t}}, body)
end
"#,
            toks.display(),
            body
        ),
    )
    .unwrap();
    let rep = wrk(&app.url("/client/v1/reports"), Some(&lua));
    print("report", &rep, ceiling.rps);
    println!(
        "             reports stored: {}",
        app.count("SELECT COUNT(*) FROM reports").await
    );
    // How the group commits went (batch sizes and times, from /metrics).
    let metrics = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in metrics.lines().filter(|l| {
        (l.starts_with("cc_report_batch") || l.starts_with("cc_activation_batch"))
            && (l.contains("quantile=\"0.5\"")
                || l.contains("quantile=\"0.99\"")
                || l.contains("_sum")
                || l.contains("_count"))
    }) {
        println!("             {line}");
    }
    app.finish().await;
}
