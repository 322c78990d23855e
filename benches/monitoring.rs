//! The monitoring page at scale: 10,000 customers, 100,000 clients and
//! about 10,000,000 backup reports (the `demo` generator), then the
//! server-side render time of the page (first page, an operator's page, a
//! filter, a later page, a search, one customer with its summary), the
//! API's first page, and the latency of a backup report at that size.
//! Requests are sent one at a time by one client; the numbers are the
//! server's full answer times (render + database + HTTP on localhost).
//!
//!     cargo bench --bench monitoring                        # SQLite
//!     CC_TEST_DATABASE=postgres cargo bench --bench monitoring
//!
//! The data is generated once and kept (target/bench-monitoring/ and the
//! PostgreSQL database cc_bench_monitoring); delete them to start over.
//! CC_BENCH_CUSTOMERS / CC_BENCH_INSTALLATIONS / CC_BENCH_REPORTS change
//! the size (defaults 10000 / 100000 / 10000000); other sizes are kept
//! apart (their own directory and database, named after the size).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use command_center::config::{Config, ConfigArgs};
use command_center::demo::scale::{Scale, generate};
use serde_json::{Value, json};
use sqlx::Connection;

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const OPERATOR_PASSWORD: &str = "another long passphrase";
const RUNS: usize = 40;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn postgres() -> bool {
    std::env::var("CC_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

async fn database_url(data_dir: &std::path::Path, db: &str) -> String {
    if postgres() {
        let server = std::env::var("CC_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("PostgreSQL at CC_TEST_PG_URL");
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(db)
            .fetch_one(&mut c)
            .await
            .unwrap();
        if exists == 0 {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                .execute(&mut c)
                .await
                .unwrap();
        }
        format!("{server}/{db}")
    } else {
        format!("sqlite://{}?mode=rwc", data_dir.join("cc.db").display())
    }
}

struct Stats {
    p50: f64,
    p95: f64,
    bytes: usize,
}

/// Times `RUNS` sequential GETs after three warm-ups.
async fn time_get(client: &reqwest::Client, url: &str, bearer: Option<&str>) -> Stats {
    let mut times = Vec::new();
    let mut bytes = 0;
    for i in 0..RUNS + 3 {
        let mut req = client.get(url);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let started = Instant::now();
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        let took = started.elapsed();
        assert!(status.is_success(), "{url}: {status}");
        bytes = body.len();
        if i >= 3 {
            times.push(took);
        }
    }
    stats(times, bytes)
}

fn stats(mut times: Vec<Duration>, bytes: usize) -> Stats {
    times.sort();
    let at =
        |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    Stats {
        p50: at(0.5),
        p95: at(0.95),
        bytes,
    }
}

fn print(name: &str, s: &Stats) {
    println!(
        "{name:<58} p50 {:>7.1} ms  p95 {:>7.1} ms  ({} KB)",
        s.p50,
        s.p95,
        s.bytes / 1024
    );
}

fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"_csrf\" value=\"").expect("CSRF field") + 20;
    html[i..].split('"').next().unwrap().to_string()
}

async fn signed_in(base: &str, email: &str, password: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("_csrf", csrf_of(&html).as_str()),
            ("email", email),
            ("password", password),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER, "sign-in");
    c
}

async fn api(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let c = reqwest::Client::new();
    let mut req = c.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{method} {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::main]
async fn main() {
    let backend = if postgres() { "postgres" } else { "sqlite" };
    let scale = Scale {
        customers: env_u64("CC_BENCH_CUSTOMERS", 10_000),
        installations: env_u64("CC_BENCH_INSTALLATIONS", 100_000),
        reports: env_u64("CC_BENCH_REPORTS", 10_000_000),
    };
    // The default size keeps plain names; other sizes get their own.
    let suffix =
        if (scale.customers, scale.installations, scale.reports) == (10_000, 100_000, 10_000_000) {
            String::new()
        } else {
            format!(
                "_{}_{}_{}",
                scale.customers, scale.installations, scale.reports
            )
        };
    let data_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-monitoring")
        .join(format!("{backend}{suffix}"));
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("CC_LISTEN".into(), "127.0.0.1:0".into());
    env.insert("CC_DATA_DIR".into(), data_dir.display().to_string());
    env.insert(
        "CC_DATABASE_URL".into(),
        database_url(&data_dir, &format!("cc_bench_monitoring{suffix}")).await,
    );
    env.insert("CC_ADMIN_EMAIL".into(), ADMIN_EMAIL.into());
    env.insert("CC_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into());
    env.insert("CC_LOG".into(), "error".into());
    env.insert("CC_ALERT_INTERVAL_SECS".into(), "86400".into());
    let config = Config::from_sources(&ConfigArgs::default(), env).unwrap();
    {
        let services = command_center::open(&config).await.unwrap();
        services.ensure_default_vendor().await.unwrap();
        for line in generate(&services, scale).await.unwrap() {
            println!("{line}");
        }
        services.store.close().await;
    }
    let running = command_center::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let services = running.services.clone();
    {
        let mut c = services.store.read().await.unwrap();
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let n = count("SELECT COUNT(*) FROM installations WHERE deactivated_at IS NULL")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        let r = count("SELECT COUNT(*) FROM reports")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        println!(
            "backend: {}; {n} live clients, {r} reports; one client, sequential requests, {RUNS} runs each; server and client share {} cores",
            if postgres() {
                "PostgreSQL"
            } else {
                "SQLite (WAL, synchronous=FULL)"
            },
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        );
    }

    let admin = signed_in(&base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = api(
        "POST",
        &format!("{base}/api/v1/auth/token"),
        None,
        Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let vendors = api("GET", &format!("{base}/api/v1/vendors"), Some(&token), None).await;
    let vendor = vendors["items"]
        .as_array()
        .or(vendors.as_array())
        .unwrap()
        .iter()
        .find(|v| v["name"] == "Generated vendor 1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let op_email = "bench-operator@vendor1.example";
    let ops = api(
        "GET",
        &format!("{base}/api/v1/operators"),
        Some(&token),
        None,
    )
    .await;
    let has_op = ops["items"]
        .as_array()
        .or(ops.as_array())
        .is_some_and(|a| a.iter().any(|o| o["email"] == op_email));
    if !has_op {
        api(
            "POST",
            &format!("{base}/api/v1/operators"),
            Some(&token),
            Some(json!({"email": op_email, "password": OPERATOR_PASSWORD, "role": "operator", "vendor_id": vendor})),
        )
        .await;
    }
    let operator = signed_in(&base, op_email, OPERATOR_PASSWORD).await;

    let first = api(
        "GET",
        &format!("{base}/api/v1/monitoring?limit=50"),
        Some(&token),
        None,
    )
    .await;
    let customer = first["items"][0]["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut cursor = first["next_cursor"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let next = api(
            "GET",
            &format!("{base}/api/v1/monitoring?limit=50&cursor={cursor}"),
            Some(&token),
            None,
        )
        .await;
        cursor = next["next_cursor"].as_str().unwrap().to_string();
    }

    // Alert checks at this size: the first opens an alert for every client
    // and license in a condition (the generated vendors have no alert
    // address, so nothing is mailed); the next is the steady state.
    for round in ["first", "next"] {
        let started = Instant::now();
        let pass = services
            .evaluate_alerts(command_center::domain::now_millis())
            .await
            .unwrap();
        println!(
            "alert check ({round}): {:.0} ms, {} opened, {} closed",
            started.elapsed().as_secs_f64() * 1000.0,
            pass.opened,
            pass.closed
        );
    }

    let m = |q: &str| format!("{base}/monitoring{q}");
    print(
        "console /monitoring, admin, first page (all clients)",
        &time_get(&admin, &m(""), None).await,
    );
    print(
        "console /monitoring, operator of one vendor, first page",
        &time_get(&operator, &m(""), None).await,
    );
    print(
        "console /monitoring?health=overdue",
        &time_get(&admin, &m("?health=overdue"), None).await,
    );
    print(
        "console /monitoring?health=ok",
        &time_get(&admin, &m("?health=ok"), None).await,
    );
    print(
        "console /monitoring, 5th page (cursor)",
        &time_get(&admin, &m(&format!("?cursor={cursor}")), None).await,
    );
    print(
        "console /monitoring?q=host-099999 (search, one match)",
        &time_get(&admin, &m("?q=host-099999"), None).await,
    );
    print(
        "console /monitoring?customer_id=… (with the summary)",
        &time_get(&admin, &m(&format!("?customer_id={customer}")), None).await,
    );
    print(
        "API GET /api/v1/monitoring?limit=50",
        &time_get(
            &reqwest::Client::new(),
            &format!("{base}/api/v1/monitoring?limit=50"),
            Some(&token),
        )
        .await,
    );

    // A backup report at this size: a new client on a generated license.
    let (_, license) = {
        let mut c = services.store.read().await.unwrap();
        let row: (String, String) = sqlx::query_as(
            "SELECT l.customer_id, l.id FROM licenses l JOIN customers c ON c.id = l.customer_id \
             WHERE c.name = 'Generated customer 00002 Oy'",
        )
        .fetch_one(&mut *c)
        .await
        .unwrap();
        row
    };
    api(
        "PUT",
        &format!("{base}/api/v1/licenses/{license}"),
        Some(&token),
        Some(json!({"standard_seats": 100000})),
    )
    .await;
    let username = format!("bench{}", uuid::Uuid::new_v4().simple());
    let inv = api(
        "POST",
        &format!("{base}/api/v1/licenses/{license}/invites"),
        Some(&token),
        Some(json!({"username": username, "email": "bench@example.com", "software_type": "standard"})),
    )
    .await;
    let act = api(
        "POST",
        &format!("{base}/client/v1/activate"),
        None,
        Some(json!({"username": inv["username"], "activation_code": inv["activation_code"], "hostname": "bench", "os": "linux", "client_version": "1"})),
    )
    .await;
    let client_token = act["token"].as_str().unwrap().to_string();
    let c = reqwest::Client::new();
    let f = &time::format_description::well_known::Rfc3339;
    let mut times = Vec::new();
    for i in 0..200 {
        let now = time::OffsetDateTime::now_utc();
        let body = json!({"started_at": (now - time::Duration::minutes(10)).format(f).unwrap(), "finished_at": now.format(f).unwrap(),
            "status": "success", "bytes_total": 1_000_000 + i, "bytes_uploaded": 1000, "files_total": 10, "files_changed": 1, "message": ""});
        let started = Instant::now();
        let r = c
            .post(format!("{base}/client/v1/reports"))
            .bearer_auth(&client_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        times.push(started.elapsed());
    }
    print("POST /client/v1/reports, one at a time", &stats(times, 0));
    running.stop().await.unwrap();
}
