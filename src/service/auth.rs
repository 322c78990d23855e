//! Sign-in, sessions, API tokens, and the first administrator.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use super::{Actor, Result, ServiceError};
use crate::domain::{Email, Millis, OperatorId, Password, Role, Secret, TokenId, now_millis};
use crate::keys::random_token;
use crate::store;

use super::Services;

/// Sign-in failures allowed per account in one window.
pub const ACCOUNT_FAILURES: i64 = 5;
/// Sign-in failures allowed per client address in one window.
pub const ADDRESS_FAILURES: i64 = 20;
/// The rate-limit window.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a setup link lives.
const SETUP_TTL_MS: i64 = 24 * 3600 * 1000;

/// A fresh session: the cookie value and its CSRF token.
#[derive(Debug)]
pub struct NewSession {
    pub token: Secret<String>,
    pub csrf: String,
    pub expires_at: Millis,
}

/// Hashes a password with argon2id off the async threads (~17 ms).
pub async fn hash_password(pw: &Password) -> Result<String> {
    let pw = pw.expose().to_string();
    super::limits::with_hashing(move || {
        Argon2::default()
            .hash_password(pw.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    })
    .await?
    .map_err(ServiceError::Internal)
}

/// Verifies a password against its hash; a busy hasher is a 429.
async fn verify_password(pw: &str, hash: &str) -> Result<bool> {
    let pw = pw.to_string();
    let hash = hash.to_string();
    super::limits::with_hashing(move || {
        Argon2::default()
            .verify_password(pw.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
}

/// A valid argon2id hash of a random string, verified against when the
/// e-mail is unknown so both answers take the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Oq3c0VmrGpSaTRT9yNCtnlpN93m3sD2n4ndIqXbsbX0";

impl Services {
    fn principal_to_actor(
        &self,
        p: store::sessions::PrincipalRow,
        ip: Option<String>,
    ) -> Result<Actor> {
        Ok(Actor {
            operator_id: p.operator_id,
            email: p.email,
            name: p.name,
            role: p.role,
            vendor_id: p.vendor_id,
            vendor_name: p.vendor_name,
            ip,
        })
    }

    /// Signs in with e-mail and password. Unknown e-mail and wrong password
    /// give the same error; failures are counted per account and address.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<(Actor, OperatorId)> {
        let now = now_millis();
        let email_key = email.trim().to_lowercase();
        let account_key = format!("signin:account:{email_key}");
        let address_key = format!("signin:address:{}", ip.as_deref().unwrap_or("-"));
        // Counted before the password is checked: a burst of parallel
        // guesses gets at most the limit evaluated.
        self.reserve_attempts(
            &[
                (account_key.as_str(), ACCOUNT_FAILURES),
                (address_key.as_str(), ADDRESS_FAILURES),
            ],
            WINDOW_MS,
        )
        .await?;
        let row = {
            let mut c = self.store.read().await?;
            store::operators::find_by_email(&mut c, &email_key).await?
        };
        let ok = match &row {
            Some(r) => verify_password(password, &r.password_hash).await?,
            None => {
                let _ = verify_password(password, DUMMY_HASH).await?;
                false
            }
        };
        let usable = ok
            && row
                .as_ref()
                .is_some_and(|r| r.disabled_at.is_none() && r.vendor_disabled_at.is_none());
        let mut tx = self.store.begin().await?;
        match (usable, row) {
            (true, Some(r)) => {
                let id = r.id;
                store::ratelimit::clear(&mut tx, &account_key).await?;
                store::ratelimit::release(&mut tx, &address_key).await?;
                store::audit::insert(
                    &mut tx,
                    &store::audit::NewAudit {
                        at: now,
                        actor_kind: "operator",
                        actor_id: Some(id.to_db()),
                        actor_label: &r.email,
                        vendor_id: r.vendor_id,
                        action: "signin.success",
                        target_kind: "operator",
                        target_id: Some(id.to_db()),
                        before: None,
                        after: None,
                        ip: ip.clone(),
                    },
                )
                .await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                let actor = Actor {
                    operator_id: id,
                    email: r.email.clone(),
                    name: r.name.clone(),
                    role: r.role,
                    vendor_id: r.vendor_id,
                    vendor_name: r.vendor_name.clone(),
                    ip,
                };
                Ok((actor, id))
            }
            (_, row) => {
                // The attempt stays counted: it was reserved above.
                store::audit::insert(
                    &mut tx,
                    &store::audit::NewAudit {
                        at: now,
                        actor_kind: "anonymous",
                        actor_id: None,
                        actor_label: &email_key,
                        vendor_id: row.as_ref().and_then(|r| r.vendor_id),
                        action: "signin.failure",
                        target_kind: "operator",
                        target_id: row.as_ref().map(|r| r.id.to_db()),
                        before: None,
                        after: None,
                        ip,
                    },
                )
                .await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                Err(ServiceError::InvalidCredentials)
            }
        }
    }

    /// Creates a server-side session for a signed-in operator.
    pub async fn create_session(&self, operator: OperatorId) -> Result<NewSession> {
        let now = now_millis();
        let token = random_token()?;
        let csrf = random_token()?.into_inner();
        let expires_at = now + i64::from(self.config.session_hours) * 3600 * 1000;
        let hash = self.key.lookup_hash("session", token.expose());
        let mut tx = self.store.begin().await?;
        store::sessions::delete_expired(&mut tx, now).await?;
        store::sessions::insert_session(&mut tx, &hash, operator, &csrf, now, expires_at).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(NewSession {
            token,
            csrf,
            expires_at,
        })
    }

    /// The actor and CSRF token behind a session cookie, if it is live.
    pub async fn session_actor(
        &self,
        token: &str,
        ip: Option<String>,
    ) -> Result<Option<(Actor, String)>> {
        let hash = self.key.lookup_hash("session", token);
        let mut c = self.store.read().await?;
        match store::sessions::find_session(&mut c, &hash, now_millis()).await? {
            Some(p) => {
                let csrf = p.csrf_token.clone();
                Ok(Some((self.principal_to_actor(p, ip)?, csrf)))
            }
            None => Ok(None),
        }
    }

    /// Ends a session (sign-out).
    pub async fn end_session(&self, token: &str, actor: Option<&Actor>) -> Result<()> {
        let hash = self.key.lookup_hash("session", token);
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        store::sessions::delete_session(&mut tx, &hash).await?;
        if let Some(a) = actor {
            super::audit(
                &mut tx,
                a,
                now,
                a.vendor_id,
                "signout",
                "operator",
                Some(a.operator_id.to_db()),
                None,
                None,
            )
            .await?;
        }
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }

    /// Issues an API bearer token after checking e-mail and password.
    pub async fn issue_api_token(
        &self,
        email: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<(Secret<String>, Millis)> {
        let (actor, id) = self.sign_in(email, password, ip).await?;
        let now = now_millis();
        let token = random_token()?;
        let hash = self.key.lookup_hash("api", token.expose());
        let expires_at = now + i64::from(self.config.api_token_days) * 24 * 3600 * 1000;
        let token_id = TokenId::new();
        let mut tx = self.store.begin().await?;
        store::sessions::insert_api_token(&mut tx, token_id, &hash, id, now, expires_at).await?;
        super::audit(
            &mut tx,
            &actor,
            now,
            actor.vendor_id,
            "api_token.create",
            "api_token",
            Some(token_id.to_db()),
            None,
            None,
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok((token, expires_at))
    }

    /// The actor behind a bearer token, if it is live.
    pub async fn token_actor(&self, token: &str, ip: Option<String>) -> Result<Option<Actor>> {
        let hash = self.key.lookup_hash("api", token);
        let mut c = self.store.read().await?;
        match store::sessions::find_api_token(&mut c, &hash, now_millis()).await? {
            Some(p) => Ok(Some(self.principal_to_actor(p, ip)?)),
            None => Ok(None),
        }
    }

    /// Revokes the bearer token the caller used.
    pub async fn revoke_api_token(&self, token: &str, actor: &Actor) -> Result<()> {
        let hash = self.key.lookup_hash("api", token);
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        store::sessions::revoke_api_token(&mut tx, &hash, now).await?;
        super::audit(
            &mut tx,
            actor,
            now,
            actor.vendor_id,
            "api_token.revoke",
            "api_token",
            None,
            None,
            None,
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }

    // --- the first administrator ---

    /// True while no operator exists (setup is still open).
    pub async fn needs_setup(&self) -> Result<bool> {
        let mut c = self.store.read().await?;
        Ok(store::operators::count(&mut c).await? == 0)
    }

    /// Creates a one-time setup link token; the caller prints the link.
    pub async fn create_setup_token(&self) -> Result<Secret<String>> {
        let now = now_millis();
        let token = random_token()?;
        let hash = self.key.lookup_hash("setup", token.expose());
        let mut tx = self.store.begin().await?;
        store::sessions::insert_setup_token(&mut tx, &hash, now, now + SETUP_TTL_MS).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(token)
    }

    pub async fn setup_token_valid(&self, token: &str) -> Result<bool> {
        let hash = self.key.lookup_hash("setup", token);
        let mut c = self.store.read().await?;
        Ok(store::sessions::setup_token_valid(&mut c, &hash, now_millis()).await?)
    }

    /// Uses a setup token to create the first administrator. The token
    /// works once; it is refused after any operator exists.
    pub async fn complete_setup(
        &self,
        token: &str,
        email: &str,
        name: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<OperatorId> {
        let crate::domain::operator::FirstAdmin {
            email,
            name,
            password,
        } = crate::domain::operator::FirstAdmin::parse(email, name, password)
            .map_err(ServiceError::Invalid)?;
        let hash = hash_password(&password).await?;
        let now = now_millis();
        let token_hash = self.key.lookup_hash("setup", token);
        let mut tx = self.store.begin().await?;
        if !store::sessions::use_setup_token(&mut tx, &token_hash, now).await?
            || store::operators::count(&mut tx).await? > 0
        {
            return Err(ServiceError::NotFound);
        }
        let id = self
            .insert_first_admin(&mut tx, &email, &name, &hash, now, ip)
            .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(id)
    }

    /// Creates the first admin from `CC_ADMIN_EMAIL`/`CC_ADMIN_PASSWORD`
    /// when no operator exists. Returns whether one was created.
    pub async fn bootstrap_admin(&self, email: &str, password: &Secret<String>) -> Result<bool> {
        let email = Email::parse("CC_ADMIN_EMAIL", email)?;
        let password = Password::parse("CC_ADMIN_PASSWORD", password.expose())?;
        let hash = hash_password(&password).await?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        if store::operators::count(&mut tx).await? > 0 {
            return Ok(false);
        }
        self.insert_first_admin(&mut tx, &email, "", &hash, now, None)
            .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(true)
    }

    async fn insert_first_admin(
        &self,
        tx: &mut store::Conn,
        email: &Email,
        name: &str,
        hash: &str,
        now: Millis,
        ip: Option<String>,
    ) -> Result<OperatorId> {
        let id = OperatorId::new();
        store::operators::insert(
            tx,
            &store::operators::NewOperatorRow {
                id,
                email: email.as_str(),
                name,
                password_hash: hash,
                role: Role::Admin,
                vendor_id: None,
            },
            now,
        )
        .await?;
        store::audit::insert(
            tx,
            &store::audit::NewAudit {
                at: now,
                actor_kind: "system",
                actor_id: None,
                actor_label: "setup",
                vendor_id: None,
                action: "operator.create",
                target_kind: "operator",
                target_id: Some(id.to_db()),
                before: None,
                after: Some(serde_json::json!({"email": email.as_str(), "role": "admin"})),
                ip,
            },
        )
        .await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dummy_hash_parses() {
        use argon2::PasswordVerifier;
        // The dummy must be a well-formed hash so verifying it costs as much
        // as verifying a real one.
        let r = argon2::Argon2::default().verify_password(b"x", super::DUMMY_HASH);
        assert!(
            matches!(r, Err(argon2::password_hash::Error::PasswordInvalid)),
            "{r:?}"
        );
    }
}
