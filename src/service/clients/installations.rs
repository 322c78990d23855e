//! Installations as operators manage them (list, show, deactivate), and
//! a client's own deactivation.

use serde_json::json;

use super::{Installation, client_audit, err, visible_installation};
use crate::domain::{Conflict, InstallationId, LicenseId, now_millis};
use crate::service::{Actor, Result, ServiceError, Services};
use crate::store::{self, StoreError, installations::InstallationRow};

impl Services {
    /// The client leaves: its seat is freed.
    #[tracing::instrument(skip_all, fields(installation = %n.id))]
    pub async fn client_deactivate(&self, n: &InstallationRow, ip: Option<String>) -> Result<()> {
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        if store::installations::deactivate(&mut tx, n.id, now).await? {
            store::installations::release_seat(&mut tx, n.license_id, n.software_type).await?;
            let id = n.id;
            client_audit(
                &mut tx,
                now,
                n.vendor_id,
                &format!("{}@{}", n.username, n.hostname),
                "installation.deactivate",
                &id,
                json!({"by": "client"}),
                ip,
            )
            .await?;
            let data = json!({
                "installation_id": n.id.to_db(), "license_id": n.license_id.to_db(),
                "customer_id": n.customer_id.to_db(), "by": "client",
            });
            let path = format!("/installations/{}", n.id.to_db());
            self.emit(
                &mut tx,
                Some(n.vendor_id),
                "installation.deactivated",
                data,
                Some(&path),
                now,
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.client_cache.forget(n.id);
        Ok(())
    }

    /// An operator ends an installation (its seat is freed).
    pub async fn deactivate_installation(
        &self,
        actor: &Actor,
        id: InstallationId,
    ) -> Result<Installation> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let n = visible_installation(&mut tx, actor, id).await?;
        if !store::installations::deactivate(&mut tx, n.id, now).await? {
            return Err(err(Conflict::InstallationInactive));
        }
        store::installations::release_seat(&mut tx, n.license_id, n.software_type).await?;
        crate::service::audit(
            &mut tx,
            actor,
            now,
            Some(n.vendor_id),
            "installation.deactivate",
            "installation",
            Some(n.id.to_db()),
            Some(json!({"active": true})),
            Some(json!({"active": false})),
        )
        .await?;
        let data = json!({
            "installation_id": n.id.to_db(), "license_id": n.license_id.to_db(),
            "customer_id": n.customer_id.to_db(), "by": "operator",
        });
        let path = format!("/installations/{}", n.id.to_db());
        self.emit(
            &mut tx,
            Some(n.vendor_id),
            "installation.deactivated",
            data,
            Some(&path),
            now,
        )
        .await?;
        let row = store::installations::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(StoreError::from)?;
        self.client_cache.forget(row.id);
        self.installation_view(row)
    }

    /// A license's installations.
    pub async fn list_installations(
        &self,
        actor: &Actor,
        license: LicenseId,
    ) -> Result<Vec<Installation>> {
        self.get_license(actor, license).await?;
        let mut c = self.store.read().await?;
        store::installations::list_for_license(&mut c, license)
            .await?
            .into_iter()
            .map(|n| self.installation_view(n))
            .collect()
    }

    pub async fn get_installation(
        &self,
        actor: &Actor,
        id: InstallationId,
    ) -> Result<Installation> {
        let mut c = self.store.read().await?;
        let n = visible_installation(&mut c, actor, id).await?;
        self.installation_view(n)
    }
}
