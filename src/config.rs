//! Settings: command-line flags, then `CC_…` environment variables, then an
//! optional config file (`--config` / `CC_CONFIG`, lines of `CC_NAME=value`),
//! then defaults. Checked once at start; a bad value stops the start with a
//! message that names the setting.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::domain::Secret;

/// Every setting, after checking.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CC_LISTEN`: address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `CC_DATA_DIR`: SQLite database, server key and mail outbox (default `./data`).
    pub data_dir: PathBuf,
    /// `CC_METRICS_LISTEN`: an address (e.g. a private interface) where
    /// `/metrics` is served to anyone who can reach it; on the main
    /// address it needs an administrator's bearer token.
    pub metrics_listen: Option<SocketAddr>,
    /// `CC_REPOSITORY_DIR`: where the backup clients' restic repositories
    /// live, one folder per installation (default `DATA_DIR/repositories`).
    pub repository_dir: PathBuf,
    /// `CC_DATABASE_URL`: `sqlite://…` (default: `DATA_DIR/command-center.db`) or `postgres://…`.
    pub database_url: String,
    /// `CC_PUBLIC_URL`: the address people use to reach the console (links,
    /// `Secure` cookies when https; its host is the passkeys' WebAuthn
    /// relying party id, the URL their only origin). Default `http://LISTEN`.
    pub public_url: String,
    /// True when `public_url` was derived from `listen` (then the real bound
    /// address replaces it, e.g. for port 0; `install_url` with it).
    pub public_url_derived: bool,
    /// True when `install_url` was derived from `public_url`.
    pub install_url_derived: bool,
    /// `CC_SECRET_KEY`: 64 hex characters; default: `DATA_DIR/secret.key`, created on first start.
    pub secret_key: Option<Secret<String>>,
    /// `CC_SERVICE_NAME`: the service's name (the provider, e.g. "Nexetic
    /// Oy"), which customers see in their e-mail; names the default vendor
    /// on start while it is unnamed. The first-run setup page asks for it
    /// instead; Settings can change it.
    pub service_name: Option<String>,
    /// `CC_ADMIN_EMAIL` / `CC_ADMIN_PASSWORD`: create the first admin when none exists.
    pub admin_email: Option<String>,
    pub admin_password: Option<Secret<String>>,
    /// `CC_SMTP_URL`: `smtp://user:pass@host:port` or `smtps://…`; unset: `.eml` files in `DATA_DIR/outbox/`.
    pub smtp_url: Option<Secret<String>>,
    /// `CC_MAIL_FROM`: sender address of e-mail.
    pub mail_from: String,
    /// `CC_INSTALL_URL`: the installation link in invitation e-mails
    /// (default `PUBLIC_URL/install`, the console's own install page).
    pub install_url: String,
    /// `CC_MAIL_MAX_ATTEMPTS`: tries before a temporarily failing message is
    /// marked failed (default 8).
    pub mail_max_attempts: i64,
    /// `CC_MAIL_RETRY_SECS`: the first retry delay; each next one doubles,
    /// up to an hour, with ±20 % jitter (default 30).
    pub mail_retry_secs: i64,
    /// `CC_MAIL_LEASE_SECS`: how long a worker holds a message it is sending;
    /// a worker that dies releases its messages after this (default 120).
    pub mail_lease_secs: i64,
    /// `CC_OVERDUE_HOURS`: a client without a successful backup for this long
    /// is overdue (default 48).
    pub overdue_hours: i64,
    /// `CC_ALERT_INTERVAL_SECS`: how often alert conditions are checked (default 60).
    pub alert_interval_secs: u64,
    /// `CC_USAGE_SAMPLE_SECS`: how often this instance writes today's usage
    /// samples for billing (default 3600, at most 3600 so the current
    /// month always includes today; 0: this instance does not sample, e.g.
    /// when another instance on the same database does).
    pub usage_sample_secs: u64,
    /// `CC_HEADER_TIMEOUT_SECS`: a connection that has not sent a whole
    /// request head within this time (also an idle kept-alive one) is
    /// closed (default 10): slow connections cannot pile up.
    pub header_timeout_secs: u64,
    /// `CC_BODY_TIMEOUT_SECS`: a request body that sends nothing for this
    /// long is abandoned (default 30; a slow but moving upload goes on).
    pub body_timeout_secs: u64,
    /// `CC_ALERT_FAILED_RUNS`: failed runs in a row that raise an alert (default 3).
    pub alert_failed_runs: i64,
    /// `CC_ALERT_DIGEST_HOUR`: the hour (UTC, 0–23) daily digests go out (default 7).
    pub alert_digest_hour: i64,
    /// `CC_TRIAL_DAYS`: how long a trial license lasts (default 30).
    pub trial_days: i64,
    /// `CC_REPORT_RETENTION_DAYS`: backup reports received longer ago are
    /// deleted by a background task (default 400; 0 = keep forever). The
    /// installations' summaries (last backup, storage used…) are kept.
    pub report_retention_days: i64,
    /// `CC_INVITE_VALID_DAYS`: how long an invite can be used (default 90).
    pub invite_valid_days: i64,
    /// `CC_SESSION_HOURS`: how long a sign-in lasts (default 12).
    pub session_hours: u32,
    /// `CC_API_TOKEN_DAYS`: how long an API token lasts (default 30).
    pub api_token_days: u32,
    /// `CC_TRUST_FORWARDED_FOR`: believe `X-Forwarded-For` (only behind a proxy you run). Default false.
    pub trust_forwarded_for: bool,
    /// `CC_WEBHOOK_ALLOW_HTTP`: webhook URLs may be plain http.
    pub webhook_allow_http: bool,
    /// `CC_WEBHOOK_ALLOW_PRIVATE`: webhooks may go to loopback, private
    /// and link-local addresses (checked on the resolved address).
    pub webhook_allow_private: bool,
    /// `CC_WEBHOOK_RETRY_SECS`: the first retry's delay (it doubles).
    pub webhook_retry_secs: i64,
    /// `CC_WEBHOOK_DISABLE_AFTER_SECS`: an endpoint whose attempts have all
    /// failed for this long is disabled and its vendor e-mailed (default
    /// three days).
    pub webhook_disable_after_secs: i64,
    /// `CC_WEBHOOK_LEASE_SECS`: how long a claimed delivery is another
    /// instance's (or, after a crash, nobody's) before it is taken again
    /// (default 60; keep it above the 15 s request timeout).
    pub webhook_lease_secs: i64,
    /// `CC_WEBHOOK_ROTATION_GRACE_SECS`: after a secret is rotated, the old
    /// one keeps signing beside the new one this long (default 24 hours).
    pub webhook_rotation_grace_secs: i64,
    /// `CC_DB_MAX_CONNECTIONS`: pool size (default 10).
    pub db_max_connections: u32,
    /// `CC_SQLITE_SYNCHRONOUS`: `full` (default: a commit survives power loss) or `normal`.
    pub sqlite_synchronous: String,
    /// `CC_STANDARD_SEAT_GB` / `CC_SERVER_SEAT_GB`: space each seat brings (default 10 / 25).
    pub standard_seat_gb: i64,
    pub server_seat_gb: i64,
    /// `CC_LOG`: log filter, e.g. `info` or `command_center=debug` (default `info`).
    pub log: String,
    /// `CC_AGENT_BINARY`: the file `/install` offers as the backup
    /// program's download (`/install/command-center`); unset: the running
    /// executable, which is the agent too (`command-center agent …`).
    pub agent_binary: Option<PathBuf>,
    /// `CC_BACKUP_DIR`: where `serve` writes one archive of the console
    /// (database + server key, as `command-center backup`) a day; unset:
    /// no scheduled backups.
    pub backup_dir: Option<PathBuf>,
    /// `CC_BACKUP_KEEP`: how many daily archives are kept in `CC_BACKUP_DIR`;
    /// older ones are deleted after a successful backup (default 7).
    pub backup_keep: usize,
    /// `CC_BACKUP_HOUR`: the hour (UTC, 0–23) after which the day's backup
    /// is made (default 2).
    pub backup_hour: i64,
}

/// The flags `serve` and `migrate` take; each also reads its `CC_` variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Address to listen on [env: CC_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory [env: CC_DATA_DIR] [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Database URL [env: CC_DATABASE_URL] [default: SQLite in the data dir]
    #[arg(long)]
    pub database_url: Option<String>,
    /// Config file of CC_NAME=value lines [env: CC_CONFIG]
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The name of every setting. The config file may hold only these; an
/// unknown `CC_` name in the environment is logged (other programs may use
/// the prefix, so it does not stop the start).
pub const SETTINGS: &[&str] = &[
    "CC_LISTEN",
    "CC_DATA_DIR",
    "CC_DATABASE_URL",
    "CC_CONFIG",
    "CC_PUBLIC_URL",
    "CC_SECRET_KEY",
    "CC_ADMIN_EMAIL",
    "CC_ADMIN_PASSWORD",
    "CC_SERVICE_NAME",
    "CC_SMTP_URL",
    "CC_MAIL_FROM",
    "CC_INSTALL_URL",
    "CC_MAIL_MAX_ATTEMPTS",
    "CC_MAIL_RETRY_SECS",
    "CC_MAIL_LEASE_SECS",
    "CC_INVITE_VALID_DAYS",
    "CC_TRIAL_DAYS",
    "CC_OVERDUE_HOURS",
    "CC_ALERT_INTERVAL_SECS",
    "CC_USAGE_SAMPLE_SECS",
    "CC_HEADER_TIMEOUT_SECS",
    "CC_BODY_TIMEOUT_SECS",
    "CC_ALERT_FAILED_RUNS",
    "CC_ALERT_DIGEST_HOUR",
    "CC_REPORT_RETENTION_DAYS",
    "CC_SESSION_HOURS",
    "CC_API_TOKEN_DAYS",
    "CC_TRUST_FORWARDED_FOR",
    "CC_DB_MAX_CONNECTIONS",
    "CC_SQLITE_SYNCHRONOUS",
    "CC_STANDARD_SEAT_GB",
    "CC_SERVER_SEAT_GB",
    "CC_LOG",
    "CC_REPOSITORY_DIR",
    "CC_METRICS_LISTEN",
    "CC_BACKUP_DIR",
    "CC_AGENT_BINARY",
    "CC_BACKUP_KEEP",
    "CC_BACKUP_HOUR",
    "CC_WEBHOOK_ALLOW_HTTP",
    "CC_WEBHOOK_ALLOW_PRIVATE",
    "CC_WEBHOOK_RETRY_SECS",
    "CC_WEBHOOK_DISABLE_AFTER_SECS",
    "CC_WEBHOOK_LEASE_SECS",
    "CC_WEBHOOK_ROTATION_GRACE_SECS",
];

/// The Levenshtein distance: how many single-character inserts, deletes
/// and substitutions turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // One row of the table at a time: prev[j] is the distance between the
    // first i characters of a and the first j of b.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            row.push(substitute.min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

/// The setting a mistyped name most likely meant, if one is close: at most
/// a third of the characters after `CC_` differ (so `CC_FOO` suggests
/// nothing rather than `CC_LOG`).
fn closest_setting(name: &str) -> Option<&'static str> {
    let tail = name.strip_prefix("CC_").unwrap_or(name);
    SETTINGS
        .iter()
        .map(|s| (edit_distance(tail, &s[3..]), *s))
        .min()
        .filter(|(d, _)| *d <= (tail.chars().count() / 3).max(1))
        .map(|(_, s)| s)
}

/// The `CC_` names in the environment that are no setting, sorted, each
/// with the setting it most likely meant.
fn unknown_names(names: impl Iterator<Item = String>) -> Vec<(String, Option<&'static str>)> {
    let mut unknown: Vec<_> = names
        .filter(|k| k.starts_with("CC_") && !SETTINGS.contains(&k.as_str()))
        .map(|k| {
            let near = closest_setting(&k);
            (k, near)
        })
        .collect();
    unknown.sort();
    unknown
}

/// Logs a warning for each `CC_` environment variable that is no setting
/// (call it once logging is set up; a typo there is otherwise silently
/// ignored).
pub fn warn_unknown_env() {
    let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
    for (name, near) in unknown_names(names) {
        match near {
            Some(near) => tracing::warn!(
                "unknown setting {name} in the environment, ignored; did you mean {near}?"
            ),
            None => tracing::warn!("unknown setting {name} in the environment, ignored"),
        }
    }
}

/// Where values come from, in order.
struct Sources {
    env: HashMap<String, String>,
    file: HashMap<String, String>,
}

impl Sources {
    fn get(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .or_else(|| self.file.get(name))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e| anyhow::anyhow!("{name}={v:?} is not valid: {e}")),
        }
    }

    fn bool(&self, name: &str) -> anyhow::Result<bool> {
        match self.get(name).map(|s| s.to_lowercase()) {
            None => Ok(false),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => anyhow::bail!("{name}={v:?} is not valid: use true or false"),
        }
    }
}

fn read_config_file(path: &std::path::Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("{}:{}: expected CC_NAME=value", path.display(), n + 1)
        })?;
        let k = k.trim();
        if !k.starts_with("CC_") {
            anyhow::bail!(
                "{}:{}: unknown setting {k:?} (settings start with CC_)",
                path.display(),
                n + 1
            );
        }
        // A mistyped name would otherwise be ignored silently and its
        // default used: stop and say what was probably meant.
        if !SETTINGS.contains(&k) {
            let hint = match closest_setting(k) {
                Some(near) => format!("; did you mean {near}?"),
                None => " (the settings are listed in the README)".to_string(),
            };
            anyhow::bail!(
                "unknown setting {k} in {} line {}{hint}",
                path.display(),
                n + 1
            );
        }
        let v = v.trim().trim_matches('"');
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

impl Config {
    /// Reads the process environment and the flags.
    pub fn load(args: &ConfigArgs) -> anyhow::Result<Config> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("CC_"))
            .collect();
        Config::from_sources(args, env)
    }

    /// Builds a config from flags and a given environment (tests use this).
    pub fn from_sources(args: &ConfigArgs, env: HashMap<String, String>) -> anyhow::Result<Config> {
        let file_path = args
            .config
            .clone()
            .or_else(|| env.get("CC_CONFIG").map(PathBuf::from));
        let file = match file_path {
            Some(p) => read_config_file(&p)?,
            None => HashMap::new(),
        };
        let s = Sources { env, file };
        let listen_raw = args
            .listen
            .clone()
            .or_else(|| s.get("CC_LISTEN"))
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw.parse().map_err(|e| {
            anyhow::anyhow!("CC_LISTEN={listen_raw:?} is not an address like 127.0.0.1:8080: {e}")
        })?;
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| s.get("CC_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = match args
            .database_url
            .clone()
            .or_else(|| s.get("CC_DATABASE_URL"))
        {
            Some(u) => u,
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("command-center.db").display()
            ),
        };
        let public_url_derived = s.get("CC_PUBLIC_URL").is_none();
        let public_url = s
            .get("CC_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{listen}"));
        let parsed = url::Url::parse(&public_url)
            .map_err(|e| anyhow::anyhow!("CC_PUBLIC_URL={public_url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!("CC_PUBLIC_URL must start with http:// or https://");
        }
        let sqlite_synchronous = s
            .get("CC_SQLITE_SYNCHRONOUS")
            .unwrap_or_else(|| "full".into())
            .to_lowercase();
        if !["full", "normal"].contains(&sqlite_synchronous.as_str()) {
            anyhow::bail!("CC_SQLITE_SYNCHRONOUS must be full or normal");
        }
        let session_hours: u32 = s.parse("CC_SESSION_HOURS", 12)?;
        let api_token_days: u32 = s.parse("CC_API_TOKEN_DAYS", 30)?;
        if session_hours == 0 || api_token_days == 0 {
            anyhow::bail!("CC_SESSION_HOURS and CC_API_TOKEN_DAYS must be at least 1");
        }
        let standard_seat_gb: i64 = s.parse("CC_STANDARD_SEAT_GB", 10)?;
        let server_seat_gb: i64 = s.parse("CC_SERVER_SEAT_GB", 25)?;
        if standard_seat_gb < 0 || server_seat_gb < 0 {
            anyhow::bail!("CC_STANDARD_SEAT_GB and CC_SERVER_SEAT_GB cannot be negative");
        }
        let mail_max_attempts: i64 = s.parse("CC_MAIL_MAX_ATTEMPTS", 8)?;
        let mail_retry_secs: i64 = s.parse("CC_MAIL_RETRY_SECS", 30)?;
        let invite_valid_days: i64 = s.parse("CC_INVITE_VALID_DAYS", 90)?;
        let mail_lease_secs: i64 = s.parse("CC_MAIL_LEASE_SECS", 120)?;
        let trial_days: i64 = s.parse("CC_TRIAL_DAYS", 30)?;
        let overdue_hours: i64 = s.parse("CC_OVERDUE_HOURS", 48)?;
        if !(1..=24 * 365).contains(&overdue_hours) {
            anyhow::bail!("CC_OVERDUE_HOURS must be from 1 to 8760");
        }
        let alert_interval_secs: u64 = s.parse("CC_ALERT_INTERVAL_SECS", 60)?;
        let usage_sample_secs: u64 = s.parse("CC_USAGE_SAMPLE_SECS", 3600)?;
        if usage_sample_secs > 3600 {
            anyhow::bail!("CC_USAGE_SAMPLE_SECS must be from 0 to 3600");
        }
        let header_timeout_secs: u64 = s.parse("CC_HEADER_TIMEOUT_SECS", 10)?;
        let body_timeout_secs: u64 = s.parse("CC_BODY_TIMEOUT_SECS", 30)?;
        if !(1..=3600).contains(&header_timeout_secs) || !(1..=3600).contains(&body_timeout_secs) {
            anyhow::bail!("CC_HEADER_TIMEOUT_SECS and CC_BODY_TIMEOUT_SECS must be from 1 to 3600");
        }
        let alert_failed_runs: i64 = s.parse("CC_ALERT_FAILED_RUNS", 3)?;
        let alert_digest_hour: i64 = s.parse("CC_ALERT_DIGEST_HOUR", 7)?;
        if !(1..=86_400).contains(&alert_interval_secs) {
            anyhow::bail!("CC_ALERT_INTERVAL_SECS must be from 1 to 86400");
        }
        if !(1..=1000).contains(&alert_failed_runs) {
            anyhow::bail!("CC_ALERT_FAILED_RUNS must be from 1 to 1000");
        }
        if !(0..=23).contains(&alert_digest_hour) {
            anyhow::bail!("CC_ALERT_DIGEST_HOUR must be from 0 to 23");
        }
        let report_retention_days: i64 = s.parse("CC_REPORT_RETENTION_DAYS", 400)?;
        if !(0..=36_500).contains(&report_retention_days) {
            anyhow::bail!("CC_REPORT_RETENTION_DAYS must be from 0 (keep forever) to 36500");
        }
        if !(1..=3650).contains(&trial_days) {
            anyhow::bail!("CC_TRIAL_DAYS must be from 1 to 3650");
        }
        if mail_lease_secs < 1 {
            anyhow::bail!("CC_MAIL_LEASE_SECS must be at least 1");
        }
        if mail_max_attempts < 1 || mail_retry_secs < 1 || invite_valid_days < 1 {
            anyhow::bail!(
                "CC_MAIL_MAX_ATTEMPTS, CC_MAIL_RETRY_SECS and CC_INVITE_VALID_DAYS must be at least 1"
            );
        }
        let install_url = s.get("CC_INSTALL_URL");
        if let Some(u) = &install_url {
            url::Url::parse(u)
                .map_err(|e| anyhow::anyhow!("CC_INSTALL_URL={u:?} is not a URL: {e}"))?;
        }
        let service_name = s.get("CC_SERVICE_NAME");
        if let Some(n) = &service_name {
            crate::domain::vendor::parse_service_name("CC_SERVICE_NAME", n).map_err(|_| {
                anyhow::anyhow!(
                    "CC_SERVICE_NAME must be the service's real name (at most 200 characters), not {n:?}"
                )
            })?;
        }
        let admin_email = s.get("CC_ADMIN_EMAIL");
        let admin_password = s.get("CC_ADMIN_PASSWORD").map(Secret::new);
        if admin_email.is_some() != admin_password.is_some() {
            anyhow::bail!("set both CC_ADMIN_EMAIL and CC_ADMIN_PASSWORD, or neither");
        }
        let repository_dir = s
            .get("CC_REPOSITORY_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("repositories"));
        let metrics_listen = match s.get("CC_METRICS_LISTEN") {
            None => None,
            Some(raw) => Some(raw.parse::<SocketAddr>().map_err(|e| {
                anyhow::anyhow!(
                    "CC_METRICS_LISTEN={raw:?} is not an address like 127.0.0.1:9090: {e}"
                )
            })?),
        };
        let backup_dir = s.get("CC_BACKUP_DIR").map(PathBuf::from);
        let agent_binary = s.get("CC_AGENT_BINARY").map(PathBuf::from);
        let backup_keep: usize = s.parse("CC_BACKUP_KEEP", 7)?;
        if !(1..=3650).contains(&backup_keep) {
            anyhow::bail!("CC_BACKUP_KEEP must be from 1 to 3650");
        }
        let backup_hour: i64 = s.parse("CC_BACKUP_HOUR", 2)?;
        if !(0..=23).contains(&backup_hour) {
            anyhow::bail!("CC_BACKUP_HOUR must be from 0 to 23");
        }
        Ok(Config {
            agent_binary,
            backup_dir,
            backup_keep,
            backup_hour,
            listen,
            metrics_listen,
            repository_dir,
            data_dir,
            database_url,
            public_url: public_url.trim_end_matches('/').to_string(),
            public_url_derived,
            install_url_derived: s.get("CC_INSTALL_URL").is_none(),
            secret_key: s.get("CC_SECRET_KEY").map(Secret::new),
            service_name,
            admin_email,
            admin_password,
            smtp_url: s.get("CC_SMTP_URL").map(Secret::new),
            mail_from: s
                .get("CC_MAIL_FROM")
                .unwrap_or_else(|| "Command Center <command-center@localhost>".into()),
            install_url: install_url
                .unwrap_or_else(|| format!("{}/install", public_url.trim_end_matches('/'))),
            mail_max_attempts,
            mail_retry_secs,
            mail_lease_secs,
            trial_days,
            report_retention_days,
            overdue_hours,
            alert_interval_secs,
            usage_sample_secs,
            header_timeout_secs,
            body_timeout_secs,
            alert_failed_runs,
            alert_digest_hour,
            invite_valid_days,
            session_hours,
            api_token_days,
            trust_forwarded_for: s.bool("CC_TRUST_FORWARDED_FOR")?,
            webhook_allow_http: s.bool("CC_WEBHOOK_ALLOW_HTTP")?,
            webhook_allow_private: s.bool("CC_WEBHOOK_ALLOW_PRIVATE")?,
            webhook_retry_secs: s.parse::<i64>("CC_WEBHOOK_RETRY_SECS", 10)?.clamp(1, 3600),
            webhook_lease_secs: s.parse::<i64>("CC_WEBHOOK_LEASE_SECS", 60)?.clamp(1, 3600),
            webhook_disable_after_secs: s
                .parse::<i64>("CC_WEBHOOK_DISABLE_AFTER_SECS", 3 * 24 * 3600)?
                .clamp(1, 365 * 24 * 3600),
            webhook_rotation_grace_secs: s
                .parse::<i64>("CC_WEBHOOK_ROTATION_GRACE_SECS", 24 * 3600)?
                .clamp(0, 30 * 24 * 3600),
            db_max_connections: s.parse("CC_DB_MAX_CONNECTIONS", 10)?,
            sqlite_synchronous,
            standard_seat_gb,
            server_seat_gb,
            log: s.get("CC_LOG").unwrap_or_else(|| "info".into()),
        })
    }

    /// Whether cookies get the `Secure` flag.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = Config::from_sources(&ConfigArgs::default(), env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.starts_with("sqlite://"));
        assert_eq!((c.standard_seat_gb, c.server_seat_gb), (10, 25));
        assert_eq!(c.report_retention_days, 400);
        assert!(!c.secure_cookies());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Config::from_sources(&ConfigArgs::default(), env(&[("CC_LISTEN", "nope")]))
            .unwrap_err();
        assert!(e.to_string().contains("CC_LISTEN"), "{e}");
        let e = Config::from_sources(&ConfigArgs::default(), env(&[("CC_SESSION_HOURS", "x")]))
            .unwrap_err();
        assert!(e.to_string().contains("CC_SESSION_HOURS"), "{e}");
        let e = Config::from_sources(&ConfigArgs::default(), env(&[("CC_ADMIN_EMAIL", "a@b.fi")]))
            .unwrap_err();
        assert!(e.to_string().contains("CC_ADMIN_PASSWORD"), "{e}");
        let e = Config::from_sources(
            &ConfigArgs::default(),
            env(&[("CC_SERVICE_NAME", "Default vendor")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("CC_SERVICE_NAME"), "{e}");
        let e = Config::from_sources(
            &ConfigArgs::default(),
            env(&[("CC_REPORT_RETENTION_DAYS", "-1")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("CC_REPORT_RETENTION_DAYS"), "{e}");
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("URL", "URL"), 0);
        assert_eq!(edit_distance("URL", "ULR"), 2, "a swap is two edits");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("PASWORD", "PASSWORD"), 1);
        assert_eq!(edit_distance("flaw", "lawn"), 2);
        assert_eq!(edit_distance("äö", "ao"), 2, "characters, not bytes");
    }

    #[test]
    fn closest_setting_only_when_close() {
        assert_eq!(closest_setting("CC_SMTP_ULR"), Some("CC_SMTP_URL"));
        assert_eq!(
            closest_setting("CC_ADMIN_PASWORD"),
            Some("CC_ADMIN_PASSWORD")
        );
        assert_eq!(closest_setting("CC_SESION_HOURS"), Some("CC_SESSION_HOURS"));
        assert_eq!(closest_setting("CC_LOGG"), Some("CC_LOG"));
        assert_eq!(closest_setting("CC_FOO"), None);
        assert_eq!(closest_setting("CC_TEST_DATABASE"), None);
    }

    #[test]
    fn every_setting_read_is_in_the_list() {
        // The names this file reads, outside its tests: a new setting that
        // is not added to SETTINGS would be refused in the config file.
        let src = include_str!("config.rs");
        let code = &src[..src.find("#[cfg(test)]").unwrap()];
        let mut read: Vec<&str> = code
            .match_indices("(\"CC_")
            .filter_map(|(i, _)| {
                let rest = &code[i + 2..];
                let end = rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_'))?;
                // A name passed as an argument, not a message that starts with one.
                (end > 3 && rest[end..].starts_with('"')).then(|| &rest[..end])
            })
            .collect();
        read.sort();
        read.dedup();
        assert!(read.len() > 25, "{read:?}");
        for name in read {
            assert!(SETTINGS.contains(&name), "{name} is missing from SETTINGS");
        }
    }

    #[test]
    fn unknown_names_in_the_file_are_refused_with_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cc.conf");
        std::fs::write(&f, "CC_LISTEN=127.0.0.1:9000\n\nCC_SMTP_ULR=smtp://x\n").unwrap();
        let args = ConfigArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        let e = Config::from_sources(&args, env(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "unknown setting CC_SMTP_ULR in {} line 3; did you mean CC_SMTP_URL?",
                f.display()
            )
        );
        std::fs::write(&f, "CC_WHATEVER=1\n").unwrap();
        let e = Config::from_sources(&args, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("unknown setting CC_WHATEVER in "), "{e}");
        assert!(!e.contains("did you mean"), "{e}");
    }

    #[test]
    fn unknown_names_in_the_environment_are_listed_not_refused() {
        let names = [
            "CC_LISTEN",
            "CC_SMTP_ULR",
            "CC_TEST_DATABASE",
            "PATH",
            "CC_ADMIN_EMAIL",
        ]
        .map(String::from);
        assert_eq!(
            unknown_names(names.into_iter()),
            vec![
                ("CC_SMTP_ULR".to_string(), Some("CC_SMTP_URL")),
                ("CC_TEST_DATABASE".to_string(), None),
            ]
        );
        let c = Config::from_sources(
            &ConfigArgs::default(),
            env(&[("CC_SMTP_ULR", "smtp://x"), ("CC_LISTEN", "127.0.0.1:9002")]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9002);
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cc.conf");
        std::fs::write(
            &f,
            "# comment\nCC_LISTEN=127.0.0.1:9000\nCC_SESSION_HOURS=3\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        let c = Config::from_sources(&args, env(&[("CC_SESSION_HOURS", "5")])).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.session_hours, 5);
        let args = ConfigArgs {
            config: Some(f),
            listen: Some("127.0.0.1:9001".into()),
            ..Default::default()
        };
        assert_eq!(
            Config::from_sources(&args, env(&[])).unwrap().listen.port(),
            9001
        );
    }
}
