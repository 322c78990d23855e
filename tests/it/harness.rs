//! Spawns the app for one test, with its own data dir and database.

use std::collections::HashMap;

use command_center::Running;
use command_center::config::{Config, ConfigArgs};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "another long passphrase";

/// Which backend this run tests.
pub fn postgres() -> bool {
    std::env::var("CC_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

fn pg_server_url() -> String {
    std::env::var("CC_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh database: a new PostgreSQL database, or a file in the data dir.
pub async fn fresh_database_url(data_dir: &std::path::Path) -> (String, Option<String>) {
    if postgres() {
        sqlx::any::install_default_drivers();
        let name = format!("cc_test_{}", uuid::Uuid::new_v4().simple());
        let mut c = sqlx::AnyConnection::connect(&format!("{}/postgres", pg_server_url()))
            .await
            .expect("PostgreSQL server (CC_TEST_PG_URL) must be reachable when CC_TEST_DATABASE=postgres");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        (format!("{}/{name}", pg_server_url()), Some(name))
    } else {
        (
            format!("sqlite://{}?mode=rwc", data_dir.join("cc.db").display()),
            None,
        )
    }
}

pub async fn drop_database(name: &str) {
    if let Ok(mut c) = sqlx::AnyConnection::connect(&format!("{}/postgres", pg_server_url())).await
    {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut c)
        .await;
    }
}

pub struct TestApp {
    pub base: String,
    pub running: Option<Running>,
    #[allow(dead_code)]
    pub data: tempfile::TempDir,
    pub database_url: String,
    db_name: Option<String>,
    pub env: HashMap<String, String>,
}

impl TestApp {
    /// The app with the first admin created from the environment.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[
            ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
            ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ])
        .await
    }

    /// The app with extra `CC_…` settings.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        if let Ok(filter) = std::env::var("CC_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let data = tempfile::tempdir().unwrap();
        let (database_url, db_name) = fresh_database_url(data.path()).await;
        let mut env: HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // A test may name its port (a passkey's origin must be known
        // before the server starts); port 0 otherwise.
        env.entry("CC_LISTEN".into())
            .or_insert_with(|| "127.0.0.1:0".into());
        env.insert("CC_DATA_DIR".into(), data.path().display().to_string());
        env.insert("CC_DATABASE_URL".into(), database_url.clone());
        env.entry("CC_SQLITE_SYNCHRONOUS".into())
            .or_insert_with(|| "normal".into());
        // Alert checks run when a test calls them, not behind its back.
        env.entry("CC_ALERT_INTERVAL_SECS".into())
            .or_insert_with(|| "86400".into());
        let mut app = TestApp {
            base: String::new(),
            running: None,
            data,
            database_url,
            db_name,
            env,
        };
        app.start().await.unwrap();
        app
    }

    /// Starts (or restarts) the server on the same data and database.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let config = Config::from_sources(&ConfigArgs::default(), self.env.clone())?;
        let running = command_center::start(config).await?;
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
        Ok(())
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
    }

    /// Stops the server and drops the test database.
    pub async fn finish(mut self) {
        self.stop().await;
        if let Some(name) = self.db_name.take() {
            drop_database(&name).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn setup_link(&self) -> Option<String> {
        self.running.as_ref().and_then(|r| r.setup_link.clone())
    }

    /// A bearer token for e-mail and password.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .api_anon(
                "POST",
                "/api/v1/auth/token",
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "token for {email}: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.token(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value, headers)
    }

    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, v, _) = self.send(method, path, Some(token), body).await;
        (s, v)
    }

    pub async fn api_with_headers(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.send(method, path, token, body).await
    }

    pub async fn api_anon(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, v, _) = self.send(method, path, None, body).await;
        (s, v)
    }

    /// Creates a vendor through the API and returns its id.
    pub async fn vendor(&self, admin: &str, name: &str) -> String {
        let (s, v) = self
            .api(
                "POST",
                "/api/v1/vendors",
                admin,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Creates an operator through the API and returns its id.
    pub async fn operator(
        &self,
        admin: &str,
        email: &str,
        role: &str,
        vendor_id: Option<&str>,
    ) -> String {
        let (s, v) = self
            .api("POST", "/api/v1/operators", admin, Some(json!({"email": email, "password": PASSWORD, "role": role, "vendor_id": vendor_id})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Runs a statement straight on the database (to set up states the
    /// API has no way to make yet, or to move time).
    pub async fn exec(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&self.database_url)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }

    /// Counts rows in a table, straight from the database.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&self.database_url)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        n
    }
}

/// A cookie-keeping client that acts like a browser without JavaScript.
pub struct Browserless {
    pub client: reqwest::Client,
    pub base: String,
}

impl Browserless {
    pub fn new(app: &TestApp) -> Browserless {
        Browserless {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status(), r.text().await.unwrap(), loc)
    }

    /// Signs in through the form; returns the status of the POST.
    pub async fn sign_in(&self, email: &str, password: &str) -> StatusCode {
        let (_, html) = self.get("/login").await;
        let csrf = csrf_of(&html);
        let (s, _, _) = self
            .post(
                "/login",
                &[
                    ("_csrf", &csrf),
                    ("email", email),
                    ("password", password),
                    ("next", "/"),
                ],
            )
            .await;
        s
    }

    /// The CSRF token of a signed-in page.
    pub async fn csrf(&self, path: &str) -> String {
        let (s, html) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {html}");
        csrf_of(&html)
    }
}

/// The value of the first `_csrf` hidden field in a page.
pub fn csrf_of(html: &str) -> String {
    let i = html
        .find("name=\"_csrf\" value=\"")
        .expect("page has a CSRF field")
        + "name=\"_csrf\" value=\"".len();
    html[i..].split('"').next().unwrap().to_string()
}

/// Whether a test that needs an outside tool must fail (CI) or may skip.
pub fn require_tool(name: &str, path: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} ({path}) is required under CI=true");
    }
    eprintln!("SKIPPED: {name} not found at {path}; install it to run this test");
    false
}

/// A real SMTP server (aiosmtpd) writing to a Maildir, in its own process.
pub struct SmtpServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<std::process::Child>,
    delay_ms: u64,
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn smtp_script() -> String {
    format!("{}/tests/smtp_server.py", env!("CARGO_MANIFEST_DIR"))
}

/// A received message, decoded by Python's e-mail package.
#[derive(Debug, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    #[allow(dead_code)]
    pub message_id: String,
    pub text: String,
    pub html: String,
    /// Attached files (name, MIME type, content as UTF-8 text).
    #[serde(default)]
    pub attachments: Vec<MailAttachment>,
}

/// A file attached to a received message.
#[derive(Debug, serde::Deserialize)]
pub struct MailAttachment {
    pub filename: String,
    pub content_type: String,
    pub content: String,
}

impl SmtpServer {
    /// Starts one on a free port; None (skipped loudly) when aiosmtpd is
    /// missing outside CI.
    pub fn start() -> Option<SmtpServer> {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Option<SmtpServer> {
        Self::start_with_delay(port, 0)
    }

    /// One that takes `delay_ms` to accept each message (to keep mail in
    /// flight long enough to crash in the middle of it).
    pub fn start_with_delay(port: u16, delay_ms: u64) -> Option<SmtpServer> {
        let ok = std::process::Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("aiosmtpd is required under CI=true (pip install aiosmtpd)");
            }
            eprintln!("SKIPPED: aiosmtpd is not installed (pip install aiosmtpd)");
            return None;
        }
        let mut s = SmtpServer {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
            delay_ms,
        };
        s.restart();
        Some(s)
    }

    /// (Re)starts the server process on the same port and Maildir.
    pub fn restart(&mut self) {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args([
                smtp_script(),
                "serve".into(),
                self.port.to_string(),
                self.dir.path().display().to_string(),
            ])
            .env("SMTP_DELAY_MS", self.delay_ms.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "SMTP server did not start");
        self.child = Some(child);
    }

    /// Stops it at once (kill -9).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How many messages arrived (cheap: counts Maildir files).
    pub fn count(&self) -> usize {
        ["new", "cur"]
            .iter()
            .map(|d| {
                std::fs::read_dir(self.dir.path().join(d))
                    .map(|r| r.count())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Everything received so far.
    pub fn messages(&self) -> Vec<Mail> {
        let out = std::process::Command::new("python3")
            .args([
                smtp_script(),
                "dump".into(),
                self.dir.path().display().to_string(),
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("dump: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    }

    /// Waits (up to `secs`) until at least `n` messages arrived.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Mail> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let m = self.messages();
            if m.len() >= n || std::time::Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.kill();
    }
}
