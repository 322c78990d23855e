//! The client API's wire types: what a backup client sends to Command
//! Center (`/client/v1/…`) and what it gets back. The server and the
//! reference agent both use them, so the two cannot drift apart.
//!
//! Requests are lenient on the wire (missing text fields are empty) and
//! checked by the server, which answers every field error at once.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A secret on the wire (activation code, client token, encryption key):
/// sent and received as a plain string, never printed (`Debug` is `***`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Standard (workstation) or Server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SoftwareType {
    Standard,
    Server,
}

impl SoftwareType {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SoftwareType::Standard => "standard",
            SoftwareType::Server => "server",
        }
    }
}

/// Purchased or Trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LicenseType {
    Purchased,
    Trial,
}

impl LicenseType {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseType::Purchased => "purchased",
            LicenseType::Trial => "trial",
        }
    }
}

/// Active, Suspended or Expired (past Valid to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LicenseState {
    Active,
    Suspended,
    Expired,
}

impl LicenseState {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseState::Active => "active",
            LicenseState::Suspended => "suspended",
            LicenseState::Expired => "expired",
        }
    }
}

/// `POST /client/v1/activate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivateRequest {
    /// The invite's username (case-insensitive).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, min_length = 1, examples("acme-anna"))
    )]
    pub username: String,
    /// As typed by a person: case and the grouping dashes do not matter.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, min_length = 1, examples("ABCD-EFGH-JKMN-PQRS")))]
    pub activation_code: Secret,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, min_length = 1, max_length = 255)
    )]
    pub hostname: String,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, min_length = 1, max_length = 255)
    )]
    pub os: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub client_version: String,
}

/// `POST /client/v1/trial`: a trial without an invite.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrialRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub email: String,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, min_length = 1, max_length = 255)
    )]
    pub hostname: String,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, min_length = 1, max_length = 255)
    )]
    pub os: String,
    /// standard (default) or server.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = SoftwareType))]
    pub software_type: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub client_version: String,
}

/// What a backup client is told to do (`GET /client/v1/policy`, and in
/// the answer to an activation).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Policy {
    pub installation_id: Uuid,
    pub username: String,
    pub software_type: SoftwareType,
    /// Days deleted files are kept (the invite's Store deleted).
    pub store_deleted_days: i64,
    /// 0 = no per-client limit.
    pub client_limit_bytes: i64,
    pub total_space_bytes: i64,
    pub license_type: LicenseType,
    /// active, suspended or expired (past Valid to).
    pub license_state: LicenseState,
    /// ISO date.
    #[cfg_attr(feature = "openapi", schema(format = Date))]
    pub valid_to: String,
    /// The customer's encryption key, when one is set: the password of
    /// the restic repository.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub encryption_key: Option<Secret>,
    /// This installation's restic repository (restic's REST backend,
    /// `rest:https://console.example/repo/<installation_id>/`). No secret
    /// in it: authenticate with HTTP Basic, the installation id as user
    /// and the client token as password.
    #[serde(default)]
    pub repository_url: Option<String>,
}

/// A successful activation or trial: the client keeps the token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activated {
    pub installation_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: Secret,
    pub software_type: SoftwareType,
    pub policy: Policy,
}

/// How a backup run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Success,
    Warning,
    Failed,
}

/// `POST /client/v1/reports`: one backup run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportInput {
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub started_at: String,
    /// RFC 3339; not before `started_at`, at most a day ahead of the
    /// server's clock.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub finished_at: String,
    /// success, warning or failed.
    #[cfg_attr(feature = "openapi", schema(value_type = RunStatus))]
    pub status: String,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)
    )]
    pub bytes_total: i64,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)
    )]
    pub bytes_uploaded: i64,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub files_total: i64,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub files_changed: i64,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub message: String,
    /// The restic snapshot the run made (hex id), for real backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-fA-F]{8,64}$"))]
    pub snapshot_id: Option<String>,
    /// Files new since the previous snapshot (`files_changed` counts the
    /// changed ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub files_new: Option<i64>,
    /// A simulated run (demos, benchmarks): no data moved.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// The body of every error answer (RFC 9457 problem document).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub status: u16,
    /// Stable and machine-readable: `invalid_credentials`, `seats_exhausted`, …
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let r = ActivateRequest {
            activation_code: Secret::new("ABCD-EFGH"),
            ..Default::default()
        };
        assert!(!format!("{r:?}").contains("ABCD"));
    }

    #[test]
    fn enums_are_lower_case_words() {
        assert_eq!(
            serde_json::to_string(&SoftwareType::Server).unwrap(),
            "\"server\""
        );
        assert_eq!(
            serde_json::from_str::<LicenseState>("\"expired\"").unwrap(),
            LicenseState::Expired
        );
    }
}
