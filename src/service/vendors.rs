//! Vendors: admins list, create, edit and disable them.

use crate::domain::Conflict;
use serde_json::json;

use super::{Actor, Result, ServiceError, Services};
use crate::domain::vendor::PLACEHOLDER_NAME;
use crate::domain::{Email, Millis, VendorId, now_millis};
use crate::store::{self, vendors::VendorRow};

/// A vendor as the faces show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Vendor {
    pub id: VendorId,
    pub name: String,
    pub alert_email: Option<String>,
    /// The language of alert e-mails to `alert_email`: en or fi.
    pub alert_language: String,
    /// Alerts as one e-mail a day instead of as they happen.
    pub alert_digest: bool,
    /// Where the previous month's usage CSV is e-mailed on the 1st.
    pub billing_email: Option<String>,
    pub is_default: bool,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl TryFrom<VendorRow> for Vendor {
    type Error = ServiceError;
    fn try_from(r: VendorRow) -> Result<Vendor> {
        Ok(Vendor {
            id: r.id,
            name: r.name,
            alert_email: r.alert_email,
            alert_language: r.alert_language,
            alert_digest: r.alert_digest != 0,
            billing_email: r.billing_email,
            is_default: r.is_default != 0,
            disabled: r.disabled_at.is_some(),
            created_at: crate::domain::rfc3339(r.created_at),
            updated_at: crate::domain::rfc3339(r.updated_at),
        })
    }
}

pub use crate::domain::vendor::{NewVendor, VendorInput};

/// The row to store: what was sent over what is saved (or a new vendor's
/// defaults: English, no digest).
fn fields<'a>(v: &'a NewVendor, before: Option<&'a VendorRow>) -> store::vendors::VendorFields<'a> {
    store::vendors::VendorFields {
        name: &v.name,
        alert_email: v.alert_email.as_ref().map(Email::as_str),
        alert_language: v
            .alert_language
            .as_deref()
            .or(before.map(|b| b.alert_language.as_str()))
            .unwrap_or("en"),
        alert_digest: v
            .alert_digest
            .unwrap_or(before.is_some_and(|b| b.alert_digest != 0)),
        billing_email: match &v.billing_email {
            Some(e) => e.as_ref().map(Email::as_str),
            None => before.and_then(|b| b.billing_email.as_deref()),
        },
    }
}

fn name_taken() -> ServiceError {
    ServiceError::Conflict {
        code: Conflict::VendorNameTaken,
        message: "A vendor with this name already exists.".into(),
    }
}

fn snapshot(f: &store::vendors::VendorFields<'_>, disabled: bool) -> serde_json::Value {
    json!({"name": f.name, "alert_email": f.alert_email, "alert_language": f.alert_language,
           "alert_digest": f.alert_digest, "billing_email": f.billing_email, "disabled": disabled})
}

/// Renames the default vendor to the service's name, with its audit row
/// (by `actor`, or by the system at start), in the caller's transaction.
pub(crate) async fn rename_default(
    tx: &mut store::Conn,
    v: &VendorRow,
    name: &str,
    now: Millis,
    actor: Option<&Actor>,
    system_label: &str,
) -> Result<()> {
    store::vendors::rename(tx, v.id, name, now)
        .await
        .map_err(|e| match e {
            store::StoreError::Unique(_) => {
                ServiceError::invalid("service_name", "error.vendor_name_taken")
            }
            e => e.into(),
        })?;
    let before = Some(json!({"name": v.name}));
    let after = Some(json!({"name": name}));
    match actor {
        Some(a) => {
            super::audit(
                tx,
                a,
                now,
                Some(v.id),
                "service.rename",
                "vendor",
                Some(v.id.to_db()),
                before,
                after,
            )
            .await
        }
        None => {
            store::audit::insert(
                tx,
                &store::audit::NewAudit {
                    at: now,
                    actor_kind: "system",
                    actor_id: None,
                    actor_label: system_label,
                    vendor_id: Some(v.id),
                    action: "service.rename",
                    target_kind: "vendor",
                    target_id: Some(v.id.to_db()),
                    before,
                    after,
                    ip: None,
                },
            )
            .await?;
            Ok(())
        }
    }
}

impl Services {
    /// Creates the default vendor on first start (idempotent), named
    /// after the service when `CC_SERVICE_NAME` is set; names a still
    /// unnamed default vendor from it on a later start.
    pub async fn ensure_default_vendor(&self) -> Result<VendorId> {
        let service_name = match self.config.service_name.as_deref() {
            Some(n) => Some(
                crate::domain::vendor::parse_service_name("CC_SERVICE_NAME", n)
                    .map_err(ServiceError::from)?,
            ),
            None => None,
        };
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        if let Some(v) = store::vendors::get_default(&mut tx).await? {
            if let Some(name) = service_name.filter(|_| v.name == PLACEHOLDER_NAME) {
                rename_default(&mut tx, &v, &name, now, None, "CC_SERVICE_NAME").await?;
                tx.commit().await.map_err(store::StoreError::from)?;
            }
            return Ok(v.id);
        }
        let id = VendorId::new();
        let name = service_name.as_deref().unwrap_or(PLACEHOLDER_NAME);
        let fields = store::vendors::VendorFields {
            name,
            alert_email: None,
            alert_language: "en",
            alert_digest: false,
            billing_email: None,
        };
        store::vendors::insert(&mut tx, id, &fields, true, now).await?;
        store::audit::insert(
            &mut tx,
            &store::audit::NewAudit {
                at: now,
                actor_kind: "system",
                actor_id: None,
                actor_label: "first start",
                vendor_id: Some(id),
                action: "vendor.create",
                target_kind: "vendor",
                target_id: Some(id.to_db()),
                before: None,
                after: Some(json!({"name": name, "is_default": true})),
                ip: None,
            },
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(id)
    }

    /// The service's name (the default vendor's), or None while it is
    /// still unnamed.
    pub async fn service_name(&self) -> Result<Option<String>> {
        let mut c = self.store.read().await?;
        Ok(store::vendors::get_default(&mut c)
            .await?
            .map(|v| v.name)
            .filter(|n| n != PLACEHOLDER_NAME))
    }

    /// Names the service (admins, from Settings): the default vendor's
    /// name, which customers see in their e-mail.
    pub async fn set_service_name(&self, actor: &Actor, raw: &str) -> Result<String> {
        actor.require_admin()?;
        let name = crate::domain::vendor::parse_service_name("service_name", raw)?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let v = store::vendors::get_default(&mut tx)
            .await?
            .ok_or(ServiceError::NotFound)?;
        rename_default(&mut tx, &v, &name, now, Some(actor), "").await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(name)
    }

    /// Vendors the actor may see: all for admins, its own otherwise.
    pub async fn list_vendors(&self, actor: &Actor) -> Result<Vec<Vendor>> {
        let mut c = self.store.read().await?;
        let rows = store::vendors::list(&mut c).await?;
        rows.into_iter()
            .filter(|r| actor.can_see(r.id))
            .map(Vendor::try_from)
            .collect()
    }

    pub async fn get_vendor(&self, actor: &Actor, id: VendorId) -> Result<Vendor> {
        if !actor.can_see(id) {
            return Err(ServiceError::NotFound);
        }
        let mut c = self.store.read().await?;
        store::vendors::get(&mut c, id)
            .await?
            .ok_or(ServiceError::NotFound)?
            .try_into()
    }

    pub async fn create_vendor(&self, actor: &Actor, input: &VendorInput) -> Result<Vendor> {
        actor.require_admin()?;
        let v = NewVendor::parse(input).map_err(ServiceError::Invalid)?;
        let id = VendorId::new();
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let fields = fields(&v, None);
        store::vendors::insert(&mut tx, id, &fields, false, now)
            .await
            .map_err(|e| match e {
                store::StoreError::Unique(_) => name_taken(),
                e => e.into(),
            })?;
        super::audit(
            &mut tx,
            actor,
            now,
            Some(id),
            "vendor.create",
            "vendor",
            Some(id.to_db()),
            None,
            Some(snapshot(&fields, false)),
        )
        .await?;
        let row = store::vendors::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(store::StoreError::from)?;
        row.try_into()
    }

    /// Edits a vendor; disabling it ends its operators' sessions and tokens.
    pub async fn update_vendor(
        &self,
        actor: &Actor,
        id: VendorId,
        input: &VendorInput,
    ) -> Result<Vendor> {
        actor.require_admin()?;
        let v = NewVendor::parse(input).map_err(ServiceError::Invalid)?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let before = store::vendors::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let was_disabled = before.disabled_at.is_some();
        let disabled = v.disabled.unwrap_or(was_disabled);
        if disabled && before.is_default != 0 {
            return Err(ServiceError::invalid(
                "disabled",
                "error.default_vendor_disable",
            ));
        }
        let disabled_at: Option<Millis> = match (disabled, before.disabled_at) {
            (true, Some(t)) => Some(t),
            (true, None) => Some(now),
            (false, _) => None,
        };
        let fields = fields(&v, Some(&before));
        store::vendors::update(&mut tx, id, &fields, disabled_at, now)
            .await
            .map_err(|e| match e {
                store::StoreError::Unique(_) => name_taken(),
                e => e.into(),
            })?;
        if disabled && !was_disabled {
            store::sessions::revoke_all_for_vendor(&mut tx, id, now).await?;
        }
        let before_json = json!({"name": before.name, "alert_email": before.alert_email,
            "alert_language": before.alert_language, "alert_digest": before.alert_digest != 0,
            "billing_email": before.billing_email, "disabled": was_disabled});
        super::audit(
            &mut tx,
            actor,
            now,
            Some(id),
            "vendor.update",
            "vendor",
            Some(id.to_db()),
            Some(before_json),
            Some(snapshot(&fields, disabled)),
        )
        .await?;
        let row = store::vendors::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(store::StoreError::from)?;
        row.try_into()
    }
}
