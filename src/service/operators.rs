//! Operators: admins list, create, edit and disable them.

use crate::domain::Conflict;
use serde_json::json;

use super::{Actor, Result, ServiceError, Services};
use crate::domain::{OperatorId, Role, VendorId, now_millis};
use crate::store::{self, operators::OperatorRow};

/// An operator as the faces show it (never the password hash).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Operator {
    pub id: OperatorId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
    pub vendor_name: Option<String>,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl TryFrom<OperatorRow> for Operator {
    type Error = ServiceError;
    fn try_from(r: OperatorRow) -> Result<Operator> {
        Ok(Operator {
            id: r.id,
            role: r.role,
            vendor_id: r.vendor_id,
            email: r.email,
            name: r.name,
            vendor_name: r.vendor_name,
            disabled: r.disabled_at.is_some(),
            created_at: crate::domain::rfc3339(r.created_at),
            updated_at: crate::domain::rfc3339(r.updated_at),
        })
    }
}

pub use crate::domain::operator::{NewOperator, OperatorChange, OperatorInput};

fn snapshot(o: &Operator) -> serde_json::Value {
    json!({"email": o.email, "name": o.name, "role": o.role, "vendor_id": o.vendor_id, "disabled": o.disabled})
}

impl Services {
    pub async fn list_operators(&self, actor: &Actor) -> Result<Vec<Operator>> {
        actor.require_admin()?;
        let mut c = self.store.read().await?;
        store::operators::list(&mut c, None)
            .await?
            .into_iter()
            .map(Operator::try_from)
            .collect()
    }

    pub async fn get_operator(&self, actor: &Actor, id: OperatorId) -> Result<Operator> {
        actor.require_admin()?;
        let mut c = self.store.read().await?;
        store::operators::get(&mut c, id)
            .await?
            .ok_or(ServiceError::NotFound)?
            .try_into()
    }

    /// Whether the vendor an input names exists (the one lookup its
    /// parse needs).
    async fn named_vendor_exists(&self, input: &OperatorInput) -> Result<Option<VendorId>> {
        let Some(id) = input.named_vendor() else {
            return Ok(None);
        };
        let mut conn = self.store.read().await?;
        Ok(store::vendors::get(&mut conn, id).await?.map(|_| id))
    }

    pub async fn create_operator(&self, actor: &Actor, input: &OperatorInput) -> Result<Operator> {
        actor.require_admin()?;
        let known = self.named_vendor_exists(input).await?;
        let NewOperator {
            email,
            name,
            password,
            role,
            vendor_id,
        } = NewOperator::parse(input, &|id| Some(id) == known).map_err(ServiceError::Invalid)?;
        let hash = super::auth::hash_password(&password).await?;
        let id = OperatorId::new();
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        store::operators::insert(
            &mut tx,
            &store::operators::NewOperatorRow {
                id,
                email: email.as_str(),
                name: &name,
                password_hash: &hash,
                role,
                vendor_id,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            store::StoreError::Unique(_) => ServiceError::Conflict {
                code: Conflict::EmailTaken,
                message: "An operator with this e-mail already exists.".into(),
            },
            e => e.into(),
        })?;
        let created: Operator = store::operators::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?
            .try_into()?;
        super::audit(
            &mut tx,
            actor,
            now,
            vendor_id,
            "operator.create",
            "operator",
            Some(id.to_db()),
            None,
            Some(snapshot(&created)),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(created)
    }

    /// Edits an operator. Disabling ends its sessions and tokens at once;
    /// so does a password change. The last enabled admin stays an admin.
    pub async fn update_operator(
        &self,
        actor: &Actor,
        id: OperatorId,
        input: &OperatorInput,
    ) -> Result<Operator> {
        actor.require_admin()?;
        let known = self.named_vendor_exists(input).await?;
        let OperatorChange {
            name,
            password,
            role,
            vendor_id,
            disabled,
        } = OperatorChange::parse(input, &|id| Some(id) == known).map_err(ServiceError::Invalid)?;
        let hash = match &password {
            Some(p) => Some(super::auth::hash_password(p).await?),
            None => None,
        };
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let before_row = store::operators::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let before: Operator = before_row.clone().try_into()?;
        let disabled = disabled.unwrap_or(before.disabled);
        let disabled_at = match (disabled, before_row.disabled_at) {
            (true, Some(t)) => Some(t),
            (true, None) => Some(now),
            (false, _) => None,
        };
        store::operators::update(
            &mut tx,
            id,
            &name,
            role,
            vendor_id,
            disabled_at,
            hash.as_deref(),
            now,
        )
        .await?;
        if before.role == Role::Admin
            && !before.disabled
            && store::operators::count_enabled_admins(&mut tx).await? == 0
        {
            return Err(ServiceError::Conflict {
                code: Conflict::LastAdmin,
                message: "The last enabled administrator cannot be disabled or demoted.".into(),
            });
        }
        if (disabled && !before.disabled)
            || hash.is_some()
            || role != before.role
            || vendor_id != before.vendor_id
        {
            store::sessions::revoke_all_for_operator(&mut tx, id, now).await?;
        }
        let after: Operator = store::operators::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?
            .try_into()?;
        let mut after_json = snapshot(&after);
        if hash.is_some() {
            after_json["password"] = json!("changed");
        }
        super::audit(
            &mut tx,
            actor,
            now,
            vendor_id.or(before.vendor_id),
            "operator.update",
            "operator",
            Some(id.to_db()),
            Some(snapshot(&before)),
            Some(after_json),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(after)
    }
}
