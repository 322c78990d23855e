//! The reference backup client of Command Center: activates with a
//! username and code, keeps its token in a state file, fetches its policy,
//! sends simulated backup reports, deactivates. It speaks only the client
//! API (HTTP, the types of `command-center-wire`) — demos, tests and
//! benchmarks use it, and a real client's authors can read it as the
//! worked example. `command-center agent …` and `command-center-agent …`
//! run the same commands ([`cli`]).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cli;

use std::path::{Path, PathBuf};
use std::time::Duration;

use command_center_wire::{
    ActivateRequest, Activated, Policy, Problem, ReportInput, Secret, TrialRequest,
};
use serde::{Deserialize, Serialize};

/// What the agent remembers between runs (the token is a secret: the file
/// is created 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
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
        };
        save(&p, &s).unwrap();
        assert_eq!(load(&p).unwrap().token, "t");
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
