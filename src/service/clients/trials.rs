//! Trials: a client without an invite gets its own trial license, and
//! "Connect trial client" moves it onto a purchased license.

use serde_json::json;

use super::{Activated, Installation, TrialRequest, client_audit, err};
use crate::domain::client::{Machine, NewTrial};
use crate::domain::invite::SoftwareType;
use crate::domain::license::{self as lic, LicenseType};
use crate::domain::{Conflict, CustomerId, InstallationId, LicenseId, Millis, now_millis};
use crate::keys::random_token;
use crate::service::{Actor, Result, ServiceError, Services};
use crate::store::{self, StoreError};

impl Services {
    /// Starts a trial: a client without an invite gets its own trial
    /// license (1 seat, CC_TRIAL_DAYS) under the default vendor's "Trial
    /// clients" customer.
    #[tracing::instrument(skip_all)]
    pub async fn start_trial(&self, req: &TrialRequest, ip: Option<String>) -> Result<Activated> {
        let NewTrial {
            email,
            software_type,
            machine,
        } = NewTrial::parse(
            &req.email,
            &req.software_type,
            &req.hostname,
            &req.os,
            &req.client_version,
        )
        .map_err(ServiceError::Invalid)?;
        let Machine {
            hostname,
            os,
            client_version: version,
        } = machine;
        // Trials are counted, successful or not: a trial creates a license.
        let key = format!("trial:addr:{}", ip.as_deref().unwrap_or("-"));
        let now = now_millis();
        let today = lic::today();
        let valid_to = today + time::Duration::days(self.config.trial_days);
        let mut tx = self.store.begin().await?;
        if let Some(retry_after_secs) = crate::service::limits::reserve_in(
            &mut tx,
            &[(key.as_str(), super::ACTIVATION_FAILURES)],
            super::activation::WINDOW_MS,
            now,
        )
        .await?
        {
            return Err(ServiceError::RateLimited { retry_after_secs });
        }
        let holder = self.trial_holder(&mut tx, now).await?;
        let license_id = LicenseId::new();
        let (std_seats, srv_seats) = match software_type {
            SoftwareType::Standard => (1, 0),
            SoftwareType::Server => (0, 1),
        };
        store::licenses::insert(
            &mut tx,
            license_id,
            holder,
            &store::licenses::LicenseFields {
                r#type: crate::domain::license::LicenseType::Trial,
                state: crate::domain::license::LicenseState::Active,
                standard_seats: std_seats,
                server_seats: srv_seats,
                extra_space_gb: 0,
                client_limit_gb: 0,
                created: lic::format_date(today),
                valid_to: lic::format_date(valid_to),
                comments: &format!("Trial for {email}"),
            },
            now,
        )
        .await?;
        if !store::installations::take_seat(&mut tx, license_id, software_type).await? {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "a new trial license had no seat"
            )));
        }
        let token = random_token()?;
        let id = InstallationId::new();
        let username = format!("trial-{}", &id.to_string()[24..]);
        store::installations::insert(
            &mut tx,
            &store::installations::NewInstallationRow {
                id,
                license_id,
                invite_id: None,
                username: &username,
                software_type,
                hostname: &hostname,
                os: &os,
                client_version: &version,
                store_deleted_days: 30,
                token_hash: &self.key.lookup_hash("client", token.expose()),
                trial_email: Some(&email.key()),
            },
            now,
        )
        .await?;
        let owner = store::customers::get(&mut tx, holder)
            .await?
            .ok_or(ServiceError::NotFound)?;
        client_audit(&mut tx, now, owner.vendor_id, &format!("{}@{hostname}", email.as_str()), "installation.trial", &id, json!({"email": email.as_str(), "hostname": hostname, "software_type": software_type, "license_id": license_id}), ip).await?;
        let data = json!({
            "installation_id": id.to_db(), "license_id": license_id.to_db(),
            "customer_id": holder.to_db(), "username": username, "hostname": hostname,
            "os": os, "client_version": version, "software_type": software_type, "trial": true,
        });
        let path = format!("/installations/{}", id.to_db());
        self.emit(
            &mut tx,
            Some(owner.vendor_id),
            "installation.activated",
            data,
            Some(&path),
            now,
        )
        .await?;
        let row = store::installations::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(StoreError::from)?;
        let policy = self.policy_of(&row)?;
        Ok(Activated {
            installation_id: id.0,
            token: command_center_wire::Secret::new(token.into_inner()),
            software_type: software_type.into(),
            policy,
        })
    }

    /// The customer that holds trial licenses (created on first use).
    async fn trial_holder(&self, tx: &mut store::Conn, now: Millis) -> Result<CustomerId> {
        if let Some(id) = store::settings::get(tx, "trial_customer_id").await?
            && let Ok(id) = id.parse::<CustomerId>()
            && store::customers::get(tx, id).await?.is_some()
        {
            return Ok(id);
        }
        let vendor = store::vendors::get_default(tx)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no default vendor"))?
            .id;
        let id = CustomerId::new();
        let trial_key = self.key.encrypt(crate::keys::random_token()?.expose())?;
        store::customers::insert(
            tx,
            id,
            &store::customers::CustomerFields {
                vendor_id: vendor,
                name: "Trial clients",
                vat_id: "",
                street_address: "",
                postal_code: "",
                postal_area: "",
                country: "FI",
                language: "en",
                contact_email: None,
                // Trial clients back up too: their repositories need a key.
                encryption_key_enc: Some(&trial_key),
                username_prefix: None,
            },
            now,
        )
        .await?;
        store::settings::set(tx, "trial_customer_id", &id.to_db()).await?;
        Ok(id)
    }

    /// Live trial clients whose e-mail or hostname starts with `text`
    /// (case-insensitive).
    pub async fn find_trial_clients(&self, actor: &Actor, text: &str) -> Result<Vec<Installation>> {
        actor.require_write()?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.store.read().await?;
        store::installations::find_trials(&mut c, text)
            .await?
            .into_iter()
            .map(|n| self.installation_view(n))
            .collect()
    }

    /// "Connect trial client": moves a trial installation onto the
    /// customer's license if a seat of its type is free; the trial license
    /// is closed. One transaction, audited.
    pub async fn connect_trial(
        &self,
        actor: &Actor,
        installation: InstallationId,
        license: LicenseId,
    ) -> Result<Installation> {
        actor.require_write()?;
        let target = self.get_license(actor, license).await?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let n = store::installations::get(&mut tx, installation)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if n.trial_email.is_none()
            || n.license_type != LicenseType::Trial
            || n.deactivated_at.is_some()
        {
            // Trials belong to nobody until connected; any other
            // installation of a vendor the actor cannot see does not exist
            // for it (404, not a hint that the id is real).
            if !actor.can_see(n.vendor_id) {
                return Err(ServiceError::NotFound);
            }
            return Err(err(Conflict::NotATrial));
        }
        if !store::installations::take_seat(&mut tx, license, n.software_type).await? {
            return Err(ServiceError::Conflict {
                code: Conflict::SeatsExhausted,
                message: "No free seat of the trial client's type on this license.".into(),
            });
        }
        store::installations::release_seat(&mut tx, n.license_id, n.software_type).await?;
        // Its repository's bytes count on the purchased license from now on.
        store::repositories::move_license(&mut tx, n.id, n.license_id, license).await?;
        store::installations::move_to_license(&mut tx, n.id, license, now).await?;
        store::installations::close_license(
            &mut tx,
            n.license_id,
            &lic::format_date(lic::today()),
            now,
        )
        .await?;
        crate::service::audit(
            &mut tx,
            actor,
            now,
            Some(target.vendor_id),
            "installation.connect_trial",
            "installation",
            Some(n.id.to_db()),
            Some(json!({"license_id": n.license_id, "trial_email": n.trial_email})),
            Some(json!({"license_id": license})),
        )
        .await?;
        let row = store::installations::get(&mut tx, installation)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(StoreError::from)?;
        self.client_cache.forget(row.id);
        self.installation_view(row)
    }
}
