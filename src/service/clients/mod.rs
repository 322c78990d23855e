//! Backup clients, by purpose: activation (and its group-commit writer),
//! reports (and theirs), trials, the installations operators manage, and
//! the client token. What they share lives here: the types clients and
//! operators are shown, the policy, the audit row of a client's act.

mod activation;
mod activation_writer;
mod batching;
mod installations;
mod report_writer;
mod reports;
mod tokens;
mod trials;

pub use activation::ACTIVATION_FAILURES;
pub use activation_writer::{ActivationJob, ActivationSink};
pub use batching::Writers;
pub use report_writer::{ReportSink, Reports};
pub use tokens::{ClientCache, ClientSession, TOKEN_CACHE_TTL};

use super::{Actor, Result, ServiceError, Services};
use crate::domain::invite::SoftwareType;
use command_center_wire as wire;

use crate::domain::license::{self as lic, LicenseState};
use crate::domain::{
    Conflict, CustomerId, InstallationId, LicenseId, Millis, VendorId, now_millis, rfc3339,
};
use crate::store::{self, StoreError, installations::InstallationRow};

pub use command_center_wire::{ActivateRequest, Activated, Policy, ReportInput, TrialRequest};

/// An installation as operators see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Installation {
    pub id: InstallationId,
    pub license_id: LicenseId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub username: String,
    pub software_type: SoftwareType,
    pub hostname: String,
    pub os: String,
    pub client_version: String,
    pub trial_email: Option<String>,
    pub activated_at: String,
    pub deactivated_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub last_backup_at: Option<String>,
    #[schema(value_type = Option<command_center_wire::RunStatus>)]
    pub last_backup_status: Option<String>,
    pub storage_used_bytes: i64,
    /// The installation that replaced this computer (its backups went along).
    pub replaced_by: Option<String>,
}

fn err(c: Conflict) -> ServiceError {
    ServiceError::conflict(c)
}

impl Services {
    /// The policy a client is sent, with the customer's encryption key.
    fn policy_of(&self, n: &InstallationRow) -> Result<Policy> {
        let key = match &n.encryption_key_enc {
            Some(enc) => Some(wire::Secret::new(self.key.decrypt(enc)?.into_inner())),
            None => None,
        };
        Ok(Policy {
            encryption_key: key,
            ..self.policy_terms(n)?
        })
    }

    /// The same policy without the encryption key (never decrypted here):
    /// what operators are shown of it.
    pub(super) fn policy_terms(&self, n: &InstallationRow) -> Result<Policy> {
        let valid_to = lic::parse_date("valid_to", &n.valid_to)
            .map_err(|_| anyhow::anyhow!("corrupt valid_to"))?;
        Ok(Policy {
            installation_id: n.id.0,
            username: n.username.clone(),
            software_type: n.software_type.into(),
            store_deleted_days: n.store_deleted_days,
            client_limit_bytes: n.client_limit_gb.saturating_mul(1_000_000_000),
            total_space_bytes: lic::total_space_gb(
                self.seat_space(),
                n.standard_seats,
                n.server_seats,
                n.extra_space_gb,
            )
            .saturating_mul(1_000_000_000),
            license_type: n.license_type.into(),
            license_state: LicenseState::effective(n.license_state, valid_to, lic::today()).into(),
            valid_to: n.valid_to.clone(),
            encryption_key: None,
            repository_url: Some(format!("rest:{}/repo/{}/", self.config.public_url, n.id)),
        })
    }

    pub(super) fn installation_view(&self, n: InstallationRow) -> Result<Installation> {
        let ts = |v: Option<i64>| v.map(rfc3339);
        Ok(Installation {
            id: n.id,
            license_id: n.license_id,
            customer_id: n.customer_id,
            customer_name: n.customer_name,
            username: n.username,
            software_type: n.software_type,
            hostname: n.hostname,
            os: n.os,
            client_version: n.client_version,
            trial_email: n.trial_email,
            activated_at: rfc3339(n.activated_at),
            deactivated_at: ts(n.deactivated_at),
            last_seen_at: ts(n.last_seen_at),
            last_backup_at: ts(n.last_backup_at),
            last_backup_status: n.last_backup_status,
            storage_used_bytes: n.storage_used_bytes,
            replaced_by: n.replaced_by,
        })
    }

    /// The client's policy (and a sign of life).
    pub async fn client_policy(&self, n: &InstallationRow) -> Result<Policy> {
        let mut tx = self.store.begin().await?;
        store::installations::touch(&mut tx, n.id, now_millis()).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.policy_of(n)
    }
}

/// An installation the actor may see; another vendor's is "not found".
pub(super) async fn visible_installation(
    conn: &mut store::Conn,
    actor: &Actor,
    id: InstallationId,
) -> Result<InstallationRow> {
    let n = store::installations::get(conn, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if !actor.can_see(n.vendor_id) {
        return Err(ServiceError::NotFound);
    }
    Ok(n)
}

#[allow(clippy::too_many_arguments)]
async fn client_audit(
    tx: &mut store::Conn,
    now: Millis,
    vendor: VendorId,
    label: &str,
    action: &str,
    id: &InstallationId,
    after: serde_json::Value,
    ip: Option<String>,
) -> Result<()> {
    store::audit::insert(
        tx,
        &client_audit_row(now, vendor, label, action, id, after, ip),
    )
    .await?;
    Ok(())
}

/// The audit row of something a client did to its installation.
fn client_audit_row<'a>(
    now: Millis,
    vendor: VendorId,
    label: &'a str,
    action: &'a str,
    id: &InstallationId,
    after: serde_json::Value,
    ip: Option<String>,
) -> store::audit::NewAudit<'a> {
    store::audit::NewAudit {
        at: now,
        actor_kind: "client",
        actor_id: Some(id.to_db()),
        actor_label: label,
        vendor_id: Some(vendor),
        action,
        target_kind: "installation",
        target_id: Some(id.to_db()),
        before: None,
        after: Some(after),
        ip,
    }
}
