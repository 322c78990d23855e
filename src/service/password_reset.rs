//! Password reset by e-mail: a request answers the same whether or not the
//! address belongs to an operator; an operator gets a single-use link
//! valid 30 minutes (through the outbox, rendered when sent so the outbox
//! holds no secret). Using it sets the new password and ends the
//! operator's sessions and API tokens; two-factor sign-in stays on.

use serde_json::json;

use super::auth::hash_password;
use super::{Result, ServiceError, Services};
use crate::domain::message::MessageKind;
use crate::domain::{Conflict, MessageId, Password, Secret, now_millis};
use crate::keys::random_token;
use crate::store::{self, StoreError};

/// How long a link works.
pub const RESET_VALID_MS: i64 = 30 * 60 * 1000;
/// Requests per address and per e-mail address in a window.
const PER_ADDRESS: i64 = 5;
const PER_EMAIL: i64 = 3;
const WINDOW_MS: i64 = 15 * 60 * 1000;

impl Services {
    /// Asks for a reset link for `email`. Ok whether or not an operator
    /// has that address (the answer reveals nothing); limited per address
    /// and per e-mail address.
    pub async fn request_password_reset(&self, email: &str, ip: Option<String>) -> Result<()> {
        let email_key = email.trim().to_lowercase();
        let by_address = format!("reset:addr:{}", ip.as_deref().unwrap_or("-"));
        let by_email = format!("reset:email:{email_key}");
        self.reserve_attempts(
            &[
                (by_address.as_str(), PER_ADDRESS),
                (by_email.as_str(), PER_EMAIL),
            ],
            WINDOW_MS,
        )
        .await?;
        let mut tx = self.store.begin().await?;
        let Some(op) = store::operators::find_by_email(&mut tx, &email_key).await? else {
            return Ok(());
        };
        if op.disabled_at.is_some() || op.vendor_disabled_at.is_some() {
            return Ok(());
        }
        let now = now_millis();
        let token = random_token()?;
        let id = MessageId::new().to_db();
        store::password_resets::insert(
            &mut tx,
            &store::password_resets::NewReset {
                id: &id,
                operator: op.id,
                token_hash: &self.key.lookup_hash("password_reset", token.expose()),
                token_enc: &self.key.encrypt(token.expose())?,
                expires_at: now + RESET_VALID_MS,
            },
            now,
        )
        .await?;
        store::outbox::enqueue(
            &mut tx,
            MessageId::new(),
            MessageKind::PasswordReset,
            None,
            &op.email,
            Some(&json!({ "reset_id": id }).to_string()),
            now,
        )
        .await?;
        store::audit::insert(
            &mut tx,
            &store::audit::NewAudit {
                at: now,
                actor_kind: "anonymous",
                actor_id: None,
                actor_label: &email_key,
                vendor_id: op.vendor_id,
                action: "password_reset.request",
                target_kind: "operator",
                target_id: Some(op.id.to_db()),
                before: None,
                after: None,
                ip,
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.mail_wakeup.notify_one();
        Ok(())
    }

    /// Sets a new password with a reset link's token: once, within 30
    /// minutes; every session and API token of the operator ends.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &Secret<String>,
        ip: Option<String>,
    ) -> Result<()> {
        let password = Password::parse("password", new_password.expose())
            .map_err(|e| ServiceError::Invalid(vec![e]))?;
        let hash = self.key.lookup_hash("password_reset", token.trim());
        let now = now_millis();
        let found = {
            let mut c = self.store.read().await?;
            store::password_resets::find_valid(&mut c, &hash, now).await?
        };
        let Some((id, operator)) = found else {
            return Err(ServiceError::conflict(Conflict::ResetLinkInvalid));
        };
        let password_hash = hash_password(&password).await?;
        let mut tx = self.store.begin().await?;
        if !store::password_resets::use_link(&mut tx, &id, operator, now).await? {
            return Err(ServiceError::conflict(Conflict::ResetLinkInvalid));
        }
        store::password_resets::set_password(&mut tx, operator, &password_hash, now).await?;
        store::sessions::revoke_all_for_operator(&mut tx, operator, now).await?;
        let op = store::operators::get(&mut tx, operator).await?;
        store::audit::insert(
            &mut tx,
            &store::audit::NewAudit {
                at: now,
                actor_kind: "anonymous",
                actor_id: None,
                actor_label: op.as_ref().map_or("", |o| o.email.as_str()),
                vendor_id: op.as_ref().and_then(|o| o.vendor_id),
                action: "password_reset.done",
                target_kind: "operator",
                target_id: Some(operator.to_db()),
                before: None,
                after: Some(json!({"sessions_and_tokens": "ended"})),
                ip,
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
