//! Reading the audit log.

use super::{Actor, Result, Services};
use crate::store;

/// One row of the audit log as shown.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub actor_kind: String,
    pub actor: String,
    pub vendor_id: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
}

impl Services {
    /// Newest first; admins see everything, others their vendor's rows.
    pub async fn list_audit(
        &self,
        actor: &Actor,
        action_prefix: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let vendor = match actor.scope() {
            super::Scope::All => None,
            super::Scope::Vendor(v) => Some(v),
        };
        let mut c = self.store.read().await?;
        let rows =
            store::audit::list(&mut c, vendor, action_prefix, before, limit.clamp(1, 500)).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                at: crate::domain::rfc3339(r.at),
                before: r
                    .before_json
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok()),
                after: r
                    .after_json
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok()),
                id: r.id.to_db(),
                actor_kind: r.actor_kind,
                actor: r.actor_label,
                vendor_id: r.vendor_id.map(|v| v.to_db()),
                action: r.action,
                target_kind: r.target_kind,
                target_id: r.target_id,
                ip: r.ip,
            })
            .collect())
    }
}
