//! The reference backup client of Command Center: activates with a
//! username and code, keeps its token in a state file, fetches its policy,
//! backs up for real into the installation's restic repository
//! ([`engine`]) and reports what it did — or sends simulated reports for
//! demos and benchmarks — and deactivates. It speaks only the client
//! API (HTTP, the types of `command-center-wire`) — demos, tests and
//! benchmarks use it, and a real client's authors can read it as the
//! worked example. `command-center agent …` and `command-center-agent …`
//! run the same commands ([`cli`]).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cli;
pub mod engine;

use std::path::{Path, PathBuf};
use std::time::Duration;

use command_center_wire::{
    ActivateRequest, Activated, Policy, Problem, ReportInput, Secret, TrialRequest,
};
use serde::{Deserialize, Serialize};

/// What the agent remembers between runs (the token and the key are
/// secrets: the file is created 0600, `Debug` hides them).
#[derive(Clone, Serialize, Deserialize)]
pub struct State {
    pub server: String,
    pub installation_id: String,
    pub token: String,
    pub username: String,
    pub hostname: String,
    /// Simulated data size, grows a little with each run.
    #[serde(default)]
    pub bytes_total: i64,
    #[serde(default)]
    pub files_total: i64,
    /// The encryption key the repository opened with last time: when the
    /// policy names another one, the agent moves the repository to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_key: Option<String>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("server", &self.server)
            .field("installation_id", &self.installation_id)
            .field("token", &"***")
            .field("username", &self.username)
            .field("hostname", &self.hostname)
            .field(
                "repository_key",
                &self.repository_key.as_ref().map(|_| "***"),
            )
            .finish_non_exhaustive()
    }
}

/// The agent's HTTP client.
pub struct Agent {
    http: reqwest::Client,
}

/// An answer that was not a success: status and the problem document.
#[derive(Debug)]
pub struct AgentError {
    pub status: u16,
    pub code: String,
    pub detail: String,
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

impl std::error::Error for AgentError {}

async fn check(resp: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body: Problem = resp.json().await.unwrap_or_default();
    Err(AgentError {
        status,
        code: if body.code.is_empty() {
            "error".into()
        } else {
            body.code
        },
        detail: body.detail,
    }
    .into())
}

fn now_rfc3339(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).ok()?;
    Some(b)
}

/// This machine's name, for activation.
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Default for Agent {
    fn default() -> Self {
        Self::new()
    }
}

impl Agent {
    pub fn new() -> Agent {
        Agent {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Activates and returns the new state (not yet saved).
    pub async fn activate(
        &self,
        server: &str,
        username: &str,
        code: &str,
        hostname: &str,
    ) -> anyhow::Result<State> {
        let server = server.trim_end_matches('/').to_string();
        let resp = self
            .http
            .post(format!("{server}/client/v1/activate"))
            .json(&ActivateRequest {
                username: username.into(),
                activation_code: Secret::new(code),
                hostname: hostname.into(),
                os: std::env::consts::OS.into(),
                client_version: env!("CARGO_PKG_VERSION").into(),
            })
            .send()
            .await?;
        let a: Activated = check(resp).await?.json().await?;
        Ok(State {
            server,
            installation_id: a.installation_id.to_string(),
            token: a.token.into_inner(),
            username: username.to_string(),
            hostname: hostname.to_string(),
            bytes_total: 0,
            files_total: 0,
            repository_key: None,
        })
    }

    /// Starts a trial without an invite.
    pub async fn trial(
        &self,
        server: &str,
        email: &str,
        software_type: &str,
        hostname: &str,
    ) -> anyhow::Result<State> {
        let server = server.trim_end_matches('/').to_string();
        let resp = self
            .http
            .post(format!("{server}/client/v1/trial"))
            .json(&TrialRequest {
                email: email.into(),
                hostname: hostname.into(),
                os: std::env::consts::OS.into(),
                software_type: software_type.into(),
                client_version: env!("CARGO_PKG_VERSION").into(),
            })
            .send()
            .await?;
        let a: Activated = check(resp).await?.json().await?;
        Ok(State {
            server,
            installation_id: a.installation_id.to_string(),
            token: a.token.into_inner(),
            username: a.policy.username,
            hostname: hostname.to_string(),
            bytes_total: 0,
            files_total: 0,
            repository_key: None,
        })
    }

    pub async fn policy(&self, s: &State) -> anyhow::Result<Policy> {
        let resp = self
            .http
            .get(format!("{}/client/v1/policy", s.server))
            .bearer_auth(&s.token)
            .send()
            .await?;
        Ok(check(resp).await?.json().await?)
    }

    /// Sends one simulated backup run and updates the simulated sizes.
    pub async fn report(&self, s: &mut State, status: &str) -> anyhow::Result<()> {
        if s.bytes_total == 0 {
            s.bytes_total = 40_000_000_000
                + i64::from(random_bytes::<2>().map(u16::from_le_bytes).unwrap_or(0)) * 1_000_000;
            s.files_total = 120_000;
        }
        let changed = 50 + i64::from(random_bytes::<1>().map(|b| b[0]).unwrap_or(0));
        let uploaded = changed * 2_000_000;
        s.bytes_total += uploaded / 4;
        s.files_total += changed / 10;
        let body = ReportInput {
            started_at: now_rfc3339(-600),
            finished_at: now_rfc3339(0),
            status: status.into(),
            bytes_total: s.bytes_total,
            bytes_uploaded: uploaded,
            files_total: s.files_total,
            files_changed: changed,
            message: if status == "failed" {
                "simulated failure: disk not reachable".into()
            } else {
                String::new()
            },
            simulated: true,
            ..Default::default()
        };
        let resp = self
            .http
            .post(format!("{}/client/v1/reports", s.server))
            .bearer_auth(&s.token)
            .json(&body)
            .send()
            .await?;
        check(resp).await?;
        Ok(())
    }

    /// Posts one report.
    pub async fn send_report(&self, s: &State, body: &ReportInput) -> anyhow::Result<()> {
        let resp = self
            .http
            .post(format!("{}/client/v1/reports", s.server))
            .bearer_auth(&s.token)
            .json(body)
            .send()
            .await?;
        check(resp).await?;
        Ok(())
    }

    /// A real backup: policy, repository (moved to a new key if the
    /// operator changed it), snapshot of `paths`, retention
    /// (`store_deleted_days`, then prune), and a report with the real
    /// figures — also when the backup failed. The state file records the
    /// key in use.
    pub async fn backup(
        &self,
        state_path: &Path,
        paths: &[PathBuf],
        progress: bool,
    ) -> anyhow::Result<BackupDone> {
        let mut s = load(state_path)?;
        let policy = self.policy(&s).await?;
        let started_at = now_rfc3339(0);
        let engine = self.engine(&s, &policy, state_path, progress)?;
        let key = policy_key(&policy)?;
        let stored = s.repository_key.clone();
        let days = policy.store_deleted_days;
        let paths = paths.to_vec();
        // Snapshots carry the computer's name as the console knows it.
        let settings = engine::SnapshotSettings {
            host: Some(s.hostname.clone()).filter(|h| !h.is_empty()),
            ..Default::default()
        };
        let (key_in_use, result) = tokio::task::spawn_blocking(move || {
            let (key_in_use, repo) = engine.open_with_key(stored.as_deref(), &key);
            let result = repo.and_then(|mut repo| {
                let outcome = repo.backup(&paths, &settings)?;
                let forgotten = repo.forget_outside(days)?;
                Ok((outcome, forgotten))
            });
            (key_in_use, result)
        })
        .await?;
        if key_in_use != s.repository_key {
            s.repository_key = key_in_use;
            save(state_path, &s)?;
        }
        let secrets = [s.token.as_str(), s.repository_key.as_deref().unwrap_or("")];
        let report = match &result {
            Ok((o, _)) => ReportInput {
                started_at,
                finished_at: now_rfc3339(0),
                status: if o.unreadable.is_empty() {
                    "success".into()
                } else {
                    "warning".into()
                },
                bytes_total: clamp(o.bytes_total),
                bytes_uploaded: clamp(o.bytes_added),
                files_total: clamp(o.files_total),
                files_changed: clamp(o.files_changed),
                files_new: Some(clamp(o.files_new)),
                snapshot_id: Some(o.snapshot_id.clone()),
                message: unreadable_message(&o.unreadable),
                simulated: false,
            },
            Err(e) => ReportInput {
                started_at,
                finished_at: now_rfc3339(0),
                status: "failed".into(),
                message: failure_message(&engine::redact(&format!("{e:#}"), &secrets)),
                ..Default::default()
            },
        };
        let sent = self.send_report(&s, &report).await;
        match result {
            Ok((outcome, forgotten)) => Ok(BackupDone {
                outcome,
                forgotten,
                report,
                report_error: sent.err().map(|e| e.to_string()),
                store_deleted_days: days,
            }),
            Err(e) => {
                let reason = engine::redact(&format!("{e:#}"), &secrets);
                match sent {
                    Ok(()) => anyhow::bail!("backup failed (reported): {reason}"),
                    Err(r) => anyhow::bail!("backup failed: {reason}; the report failed too: {r}"),
                }
            }
        }
    }

    /// The repository's snapshots, oldest first.
    pub async fn snapshots(&self, state_path: &Path) -> anyhow::Result<Vec<engine::SnapshotInfo>> {
        self.with_repository(state_path, false, |repo| repo.snapshots())
            .await
    }

    /// Restores a snapshot (`latest` or an id) into `target`, optionally
    /// only some paths. Returns the number of files written.
    pub async fn restore(
        &self,
        state_path: &Path,
        snapshot: &str,
        target: &Path,
        only: &[PathBuf],
        progress: bool,
    ) -> anyhow::Result<u64> {
        let snapshot = snapshot.to_string();
        let target = target.to_path_buf();
        let only = only.to_vec();
        self.with_repository(state_path, progress, move |repo| {
            repo.restore(&snapshot, &target, &only)
        })
        .await
    }

    async fn with_repository<T: Send + 'static>(
        &self,
        state_path: &Path,
        progress: bool,
        f: impl FnOnce(&mut engine::Repo) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let mut s = load(state_path)?;
        let policy = self.policy(&s).await?;
        let engine = self.engine(&s, &policy, state_path, progress)?;
        let key = policy_key(&policy)?;
        let stored = s.repository_key.clone();
        let (key_in_use, result) = tokio::task::spawn_blocking(move || {
            let (key_in_use, repo) = engine.open_with_key(stored.as_deref(), &key);
            (key_in_use, repo.and_then(|mut repo| f(&mut repo)))
        })
        .await?;
        if key_in_use != s.repository_key {
            s.repository_key = key_in_use;
            save(state_path, &s)?;
        }
        let secrets = [s.token.as_str(), s.repository_key.as_deref().unwrap_or("")];
        result.map_err(|e| anyhow::anyhow!(engine::redact(&format!("{e:#}"), &secrets)))
    }

    /// The engine for this installation's repository: the policy's REST
    /// URL with HTTP Basic credentials (installation id, client token), a
    /// cache next to the state file.
    fn engine(
        &self,
        s: &State,
        policy: &Policy,
        state_path: &Path,
        progress: bool,
    ) -> anyhow::Result<engine::Engine> {
        let url = policy.repository_url.as_deref().ok_or_else(|| {
            anyhow::anyhow!("the policy names no repository (repository_url): the server does not store backups yet")
        })?;
        let location = engine::Location::rest_with_credentials(url, &s.installation_id, &s.token)?;
        Ok(engine::Engine::new(location)
            .cache_dir(state_path.with_extension("cache"))
            .progress(progress))
    }

    pub async fn deactivate(&self, s: &State) -> anyhow::Result<()> {
        let resp = self
            .http
            .post(format!("{}/client/v1/deactivate", s.server))
            .bearer_auth(&s.token)
            .send()
            .await?;
        check(resp).await?;
        Ok(())
    }
}

/// What `backup` did and reported.
#[derive(Debug)]
pub struct BackupDone {
    pub outcome: engine::BackupOutcome,
    /// Snapshots forgotten by retention.
    pub forgotten: Vec<String>,
    pub report: ReportInput,
    /// The backup worked but the report did not reach the server.
    pub report_error: Option<String>,
    pub store_deleted_days: i64,
}

fn policy_key(policy: &Policy) -> anyhow::Result<String> {
    match &policy.encryption_key {
        Some(k) if !k.expose().is_empty() => Ok(k.expose().to_string()),
        _ => anyhow::bail!(
            "refusing to back up: the policy has no encryption key yet (the operator sets the customer's encryption key; it is the repository's password)"
        ),
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The report's message for a backup that skipped unreadable entries.
fn unreadable_message(unreadable: &[String]) -> String {
    if unreadable.is_empty() {
        return String::new();
    }
    let mut m = format!("{} entries could not be read: ", unreadable.len());
    m.push_str(
        &unreadable
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; "),
    );
    truncate(m)
}

/// The report's message for a failed backup; the space limit in words.
fn failure_message(reason: &str) -> String {
    let m = if reason.contains("507") {
        format!(
            "the server refused the upload: space limit reached (507 Insufficient Storage). {reason}"
        )
    } else {
        reason.to_string()
    };
    truncate(m)
}

fn truncate(mut m: String) -> String {
    const MAX: usize = 1000;
    if m.len() > MAX {
        let mut end = MAX;
        while !m.is_char_boundary(end) {
            end -= 1;
        }
        m.truncate(end);
        m.push('…');
    }
    m
}

/// Reads the state file.
pub fn load(path: &Path) -> anyhow::Result<State> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {} (activate first): {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Writes the state file, readable by its owner only.
pub fn save(path: &Path, s: &State) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp: PathBuf = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(serde_json::to_string_pretty(s)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Parses `5m`, `30s`, `1h`, or plain seconds.
pub fn parse_every(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--every takes e.g. 30s, 5m or 1h, not {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => anyhow::bail!("--every takes e.g. 30s, 5m or 1h, not {s:?}"),
    };
    if secs == 0 {
        anyhow::bail!("--every must be more than zero");
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_every("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_every("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_every("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_every("0s").is_err());
        assert!(parse_every("soon").is_err());
    }

    #[test]
    fn state_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.json");
        let s = State {
            server: "http://x".into(),
            installation_id: "i".into(),
            token: "t".into(),
            username: "u".into(),
            hostname: "h".into(),
            bytes_total: 1,
            files_total: 2,
            repository_key: Some("k".into()),
        };
        save(&p, &s).unwrap();
        assert_eq!(load(&p).unwrap().token, "t");
        assert_eq!(load(&p).unwrap().repository_key.as_deref(), Some("k"));
        assert!(!format!("{s:?}").contains("\"t\""));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
