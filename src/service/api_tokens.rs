//! Scoped API tokens (#16): made in the console or by the API, listed
//! and revoked. A token acts as its creator (so it is bound to the
//! creator's vendor) and its scopes narrow what the creator's role allows.

use super::{Actor, Result, Scope, ServiceError, Services};
use crate::domain::api_token::{Scopes, parse_days};
use crate::domain::{FieldError, Secret, TokenId, now_millis, rfc3339, text};
use crate::store;
use crate::store::sessions::Origin;

/// What the caller asks for.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_in_days: Option<i64>,
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiTokenView {
    pub id: String,
    /// None for a token made by signing in with e-mail and password.
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub vendor_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
}

impl From<store::sessions::ApiTokenRow> for ApiTokenView {
    fn from(r: store::sessions::ApiTokenRow) -> Self {
        ApiTokenView {
            id: r.id,
            name: r.name,
            scopes: Scopes::from_db(&r.scopes)
                .names()
                .into_iter()
                .map(String::from)
                .collect(),
            created_by: r.creator_email,
            vendor_id: r.vendor_id.map(|v| v.to_db()),
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            last_used_at: r.last_used_at.map(rfc3339),
            last_used_ip: r.last_used_ip,
        }
    }
}

impl Services {
    /// Makes a token; it is returned once and stored only as a keyed hash.
    /// The scopes may not exceed what the caller holds: `write` needs a
    /// role that writes, `admin` an administrator, and a token cannot
    /// make a token with more scopes than its own.
    pub async fn create_scoped_token(
        &self,
        actor: &Actor,
        req: &NewToken,
        origin: &Origin,
    ) -> Result<(ApiTokenView, Secret<String>)> {
        let (name, scopes, days) = match (
            text("name", &req.name, 100, true),
            Scopes::parse("scopes", &req.scopes),
            parse_days("expires_in_days", req.expires_in_days),
        ) {
            (Ok(n), Ok(s), Ok(d)) => (n, s, d),
            (n, s, d) => {
                let errors: Vec<FieldError> =
                    [n.err(), s.err(), d.err()].into_iter().flatten().collect();
                return Err(ServiceError::Invalid(errors));
            }
        };
        if (scopes.write && !actor.role.can_write()) || (scopes.admin && !actor.is_admin()) {
            return Err(ServiceError::invalid(
                "scopes",
                "error.token_scopes_not_allowed",
            ));
        }
        if !scopes.within(&actor.scopes()) {
            return Err(ServiceError::InsufficientScope(if scopes.admin {
                crate::domain::api_token::TokenScope::Admin
            } else {
                crate::domain::api_token::TokenScope::Write
            }));
        }
        let now = now_millis();
        let token = crate::keys::new_api_token()?;
        let hash = self.key.lookup_hash("api", token.expose());
        let expires_at = now + days * 24 * 3600 * 1000;
        let id = TokenId::new();
        let scopes_db = scopes.to_db();
        let mut tx = self.store.begin().await?;
        store::sessions::insert_api_token(
            &mut tx,
            &store::sessions::NewApiToken {
                id,
                token_hash: &hash,
                operator: actor.operator_id,
                name: Some(&name),
                scopes: &scopes_db,
                origin,
                now,
                expires_at,
            },
        )
        .await?;
        let row = store::sessions::get_api_token(&mut tx, &id.to_db(), now)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the token just made is not there"))?;
        super::audit(
            &mut tx,
            actor,
            now,
            actor.vendor_id,
            "api_token.create",
            "api_token",
            Some(id.to_db()),
            None,
            Some(serde_json::json!({
                "name": name,
                "scopes": scopes.names(),
                "expires_at": rfc3339(expires_at),
            })),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok((row.into(), token))
    }

    /// Live tokens the actor may see: their vendor's, or every one for an
    /// administrator.
    pub async fn list_scoped_tokens(&self, actor: &Actor) -> Result<Vec<ApiTokenView>> {
        let vendor = match actor.scope() {
            Scope::All => None,
            Scope::Vendor(v) => Some(v),
        };
        let mut c = self.store.read().await?;
        let rows = store::sessions::list_api_tokens(&mut c, vendor, now_millis()).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Revokes a token at once (every instance looks tokens up in the
    /// shared database on each request). Its creator may; so may anyone
    /// who writes in its vendor, or an administrator. Another vendor's
    /// token is "not found".
    pub async fn revoke_scoped_token(&self, actor: &Actor, id: &str) -> Result<()> {
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let row = store::sessions::get_api_token(&mut tx, id, now)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let visible = match (actor.scope(), row.vendor_id) {
            (Scope::All, _) => true,
            (Scope::Vendor(v), Some(owner)) => v == owner,
            (Scope::Vendor(_), None) => false,
        };
        if !visible {
            return Err(ServiceError::NotFound);
        }
        if row.operator_id != actor.operator_id {
            actor.require_write()?;
        }
        store::sessions::revoke_api_token_id(&mut tx, id, now).await?;
        super::audit(
            &mut tx,
            actor,
            now,
            row.vendor_id,
            "api_token.revoke",
            "api_token",
            Some(id.to_string()),
            Some(serde_json::json!({"name": row.name, "created_by": row.creator_email})),
            None,
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }
}
