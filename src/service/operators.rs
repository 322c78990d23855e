//! Operators: admins list, create, edit and disable them.

use crate::domain::Conflict;
use serde_json::json;

use super::{Actor, Checks, Result, ServiceError, Services};
use crate::domain::{Email, OperatorId, Password, Role, VendorId, now_millis};
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

/// A create or edit request before checking. On edit, `email` is ignored
/// (an operator's e-mail is its identity) and an empty `password` keeps
/// the current one.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct OperatorInput {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<crate::domain::Secret<String>>,
    pub role: String,
    #[serde(default)]
    pub vendor_id: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

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

    /// Checks role and vendor together: admins have no vendor, everyone
    /// else must name an existing one.
    async fn check_role_vendor(
        &self,
        c: &mut Checks,
        conn: &mut store::Conn,
        input: &OperatorInput,
    ) -> Result<Option<(Role, Option<VendorId>)>> {
        let role = c.take(Role::parse("role", &input.role));
        let vendor = match input.vendor_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => match v.parse::<VendorId>() {
                Ok(id) if store::vendors::get(conn, id).await?.is_some() => Some(id),
                _ => {
                    c.push(crate::domain::FieldError::new(
                        "vendor_id",
                        "error.vendor_unknown",
                    ));
                    return Ok(None);
                }
            },
        };
        Ok(match role {
            Some(Role::Admin) => Some((Role::Admin, None)),
            Some(r) => match vendor {
                Some(v) => Some((r, Some(v))),
                None => {
                    c.push(crate::domain::FieldError::new(
                        "vendor_id",
                        "error.vendor_required",
                    ));
                    None
                }
            },
            None => None,
        })
    }

    pub async fn create_operator(&self, actor: &Actor, input: &OperatorInput) -> Result<Operator> {
        actor.require_admin()?;
        let mut c = Checks::default();
        let email = c.take(Email::parse("email", &input.email));
        let name = c.take(super::text("name", &input.name, 200, false));
        let password = c.take(Password::parse(
            "password",
            input
                .password
                .as_ref()
                .map(|p| p.expose().as_str())
                .unwrap_or(""),
        ));
        let role_vendor = {
            let mut conn = self.store.read().await?;
            self.check_role_vendor(&mut c, &mut conn, input).await?
        };
        c.finish()?;
        let (Some(email), Some(name), Some(password), Some((role, vendor_id))) =
            (email, name, password, role_vendor)
        else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "checks passed without values"
            )));
        };
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
        let mut c = Checks::default();
        let name = c.take(super::text("name", &input.name, 200, false));
        let password = match input.password.as_ref().map(|p| p.expose().as_str()) {
            None | Some("") => Some(None),
            Some(p) => c.take(Password::parse("password", p)).map(Some),
        };
        let role_vendor = {
            let mut conn = self.store.read().await?;
            self.check_role_vendor(&mut c, &mut conn, input).await?
        };
        c.finish()?;
        let (Some(name), Some(password), Some((role, vendor_id))) = (name, password, role_vendor)
        else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "checks passed without values"
            )));
        };
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
        let disabled = input.disabled.unwrap_or(before.disabled);
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
