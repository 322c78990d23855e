//! Sign-in, sessions, API tokens, and the first administrator.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use super::{Actor, Result, ServiceError};
use crate::domain::{Email, Millis, OperatorId, Password, Role, Secret, TokenId, now_millis};
use crate::keys::{random_bytes, random_token};
use crate::store;
pub use crate::store::sessions::Origin;

use super::Services;

/// Sign-in failures allowed per account in one window.
pub const ACCOUNT_FAILURES: i64 = 5;
/// Sign-in failures allowed per client address in one window.
pub const ADDRESS_FAILURES: i64 = 20;
/// The rate-limit window.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a setup link lives.
const SETUP_TTL_MS: i64 = 24 * 3600 * 1000;

/// How long a half signed-in session (between password and code) lives.
const PENDING_TTL_MS: i64 = 10 * 60 * 1000;
/// How often a session's or token's "last used" is written at most.
const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// The rate-limit key of an account.
pub(crate) fn account_key(email: &str) -> String {
    format!("signin:account:{}", email.trim().to_lowercase())
}

pub(crate) fn address_key(ip: &Option<String>) -> String {
    format!("signin:address:{}", ip.as_deref().unwrap_or("-"))
}

pub(crate) fn actor_of(r: &store::operators::OperatorRow, ip: Option<String>) -> Actor {
    Actor {
        operator_id: r.id,
        email: r.email.clone(),
        name: r.name.clone(),
        role: r.role,
        vendor_id: r.vendor_id,
        vendor_name: r.vendor_name.clone(),
        ip,
        token: None,
    }
}

/// Where a sign-in stands after the password.
#[derive(Debug)]
pub enum SignedIn {
    /// Signed in.
    Done(Actor),
    /// The password was right; a TOTP or recovery code is needed.
    NeedsCode(Actor),
    /// The password was right; two factors are required and none is set up.
    NeedsEnrolment(Actor),
}

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
pub(crate) async fn verify_password(pw: &str, hash: &str) -> Result<bool> {
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
        let token = p.token_scopes.as_deref().map(|s| super::TokenGrant {
            id: p.handle.clone(),
            name: p.token_name.clone(),
            scopes: crate::domain::api_token::Scopes::from_db(s),
        });
        Ok(Actor {
            operator_id: p.operator_id,
            email: p.email,
            name: p.name,
            role: p.role,
            vendor_id: p.vendor_id,
            vendor_name: p.vendor_name,
            ip,
            token,
        })
    }

    /// Writes the audit row of a sign-in refused for too many attempts.
    async fn audit_lockout(&self, email_key: &str, ip: Option<String>) -> Result<()> {
        let mut tx = self.store.begin().await?;
        store::audit::insert(
            &mut tx,
            &store::audit::NewAudit {
                at: now_millis(),
                actor_kind: "anonymous",
                actor_id: None,
                actor_label: email_key,
                vendor_id: None,
                action: "signin.lockout",
                target_kind: "operator",
                target_id: None,
                before: None,
                after: None,
                ip,
            },
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }

    /// Reserves one sign-in attempt for the account and the address; a
    /// refusal (429) is audited as a lockout.
    /// The operator behind a half signed-in session waiting for its second
    /// factor (a code or a passkey), and the session's lookup hash.
    pub(crate) async fn at_second_step(
        &self,
        pending_token: &str,
    ) -> Result<(String, store::operators::OperatorRow)> {
        let hash = self.key.lookup_hash("session", pending_token);
        let mut c = self.store.read().await?;
        let (op, stage) = store::sessions::find_pending_session(&mut c, &hash, now_millis())
            .await?
            .ok_or(ServiceError::InvalidCredentials)?;
        if stage != "totp" {
            return Err(ServiceError::InvalidCredentials);
        }
        let row = store::operators::get(&mut c, op)
            .await?
            .ok_or(ServiceError::InvalidCredentials)?;
        Ok((hash, row))
    }

    /// Reserves one sign-in attempt for the account and the address (see
    /// [`ACCOUNT_FAILURES`], [`ADDRESS_FAILURES`]); a lockout is audited.
    pub(crate) async fn reserve_sign_in(&self, email_key: &str, ip: &Option<String>) -> Result<()> {
        let account = account_key(email_key);
        let address = address_key(ip);
        // Counted before the password or code is checked: a burst of
        // parallel guesses gets at most the limit evaluated.
        let r = self
            .reserve_attempts(
                &[
                    (account.as_str(), ACCOUNT_FAILURES),
                    (address.as_str(), ADDRESS_FAILURES),
                ],
                WINDOW_MS,
            )
            .await;
        if let Err(ServiceError::RateLimited { .. }) = &r {
            self.audit_lockout(email_key, ip.clone()).await?;
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit_sign_in(
        &self,
        tx: &mut store::Conn,
        action: &str,
        label: &str,
        operator: Option<&store::operators::OperatorRow>,
        after: Option<serde_json::Value>,
        ip: Option<String>,
    ) -> Result<()> {
        let ok = action == "signin.success" || action == "recovery_code.used";
        store::audit::insert(
            tx,
            &store::audit::NewAudit {
                at: now_millis(),
                actor_kind: if ok { "operator" } else { "anonymous" },
                actor_id: if ok {
                    operator.map(|r| r.id.to_db())
                } else {
                    None
                },
                actor_label: label,
                vendor_id: operator.and_then(|r| r.vendor_id),
                action,
                target_kind: "operator",
                target_id: operator.map(|r| r.id.to_db()),
                before: None,
                after,
                ip,
            },
        )
        .await?;
        Ok(())
    }

    /// Signs in with e-mail, password and — for an operator with TOTP on —
    /// a second factor (`code`: a TOTP code or a recovery code). Unknown
    /// e-mail and wrong password give the same error; every attempt is
    /// reserved against the limits per account and address before any
    /// secret is checked, and only a full success gives it back.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
        ip: Option<String>,
    ) -> Result<SignedIn> {
        let email_key = email.trim().to_lowercase();
        self.reserve_sign_in(&email_key, &ip).await?;
        let account = account_key(&email_key);
        let address = address_key(&ip);
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
        let r = match (usable, row) {
            (true, Some(r)) => r,
            (_, row) => {
                // The attempt stays counted: it was reserved above.
                self.audit_sign_in(
                    &mut tx,
                    "signin.failure",
                    &email_key,
                    row.as_ref(),
                    None,
                    ip,
                )
                .await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                return Err(ServiceError::InvalidCredentials);
            }
        };
        let tf = store::two_factor::get(&mut tx, r.id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let actor = actor_of(&r, ip.clone());
        let mut after = None;
        // A passkey is a second factor too: with one (and no TOTP) the
        // password leads to the second step, where only a passkey answers.
        let has_passkey = self.passkey_count(&mut tx, r.id).await? > 0;
        if tf.totp_secret.is_some() || has_passkey {
            let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
                // A right password alone is neither a failure nor a
                // success: the attempt is given back, not the counter
                // cleared (else a known password would reset the count
                // of wrong codes).
                store::ratelimit::release(&mut tx, &account).await?;
                store::ratelimit::release(&mut tx, &address).await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                return Ok(SignedIn::NeedsCode(actor));
            };
            match self.check_second_factor(&mut tx, r.id, &tf, code).await? {
                Some(f) => {
                    if f == super::two_factor::Factor::Recovery {
                        self.audit_sign_in(
                            &mut tx,
                            "recovery_code.used",
                            &r.email,
                            Some(&r),
                            None,
                            ip.clone(),
                        )
                        .await?;
                    }
                    after = Some(serde_json::json!({"second_factor": f.as_str()}));
                }
                None => {
                    self.audit_sign_in(
                        &mut tx,
                        "signin.failure",
                        &email_key,
                        Some(&r),
                        Some(serde_json::json!({"reason": "second_factor"})),
                        ip,
                    )
                    .await?;
                    tx.commit().await.map_err(store::StoreError::from)?;
                    return Err(ServiceError::SecondFactorInvalid);
                }
            }
        } else if self.two_factor_required(&mut tx, &tf).await? {
            store::ratelimit::release(&mut tx, &account).await?;
            store::ratelimit::release(&mut tx, &address).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            return Ok(SignedIn::NeedsEnrolment(actor));
        }
        store::ratelimit::clear(&mut tx, &account).await?;
        store::ratelimit::release(&mut tx, &address).await?;
        self.audit_sign_in(&mut tx, "signin.success", &r.email, Some(&r), after, ip)
            .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(SignedIn::Done(actor))
    }

    /// The second step of a console sign-in: the operator behind a half
    /// signed-in session gives a TOTP or recovery code. Counted against
    /// the same limits as the password. On success the half session is
    /// gone and the caller creates a full one.
    pub async fn sign_in_second_step(
        &self,
        pending_token: &str,
        code: &str,
        ip: Option<String>,
    ) -> Result<Actor> {
        let (hash, r) = self.at_second_step(pending_token).await?;
        let op = r.id;
        let email_key = r.email.trim().to_lowercase();
        self.reserve_sign_in(&email_key, &ip).await?;
        let mut tx = self.store.begin().await?;
        let tf = store::two_factor::get(&mut tx, op)
            .await?
            .ok_or(ServiceError::InvalidCredentials)?;
        match self.check_second_factor(&mut tx, op, &tf, code).await? {
            Some(f) => {
                if f == super::two_factor::Factor::Recovery {
                    self.audit_sign_in(
                        &mut tx,
                        "recovery_code.used",
                        &r.email,
                        Some(&r),
                        None,
                        ip.clone(),
                    )
                    .await?;
                }
                store::sessions::delete_session(&mut tx, &hash).await?;
                store::ratelimit::clear(&mut tx, &account_key(&email_key)).await?;
                store::ratelimit::release(&mut tx, &address_key(&ip)).await?;
                self.audit_sign_in(
                    &mut tx,
                    "signin.success",
                    &r.email,
                    Some(&r),
                    Some(serde_json::json!({"second_factor": f.as_str()})),
                    ip.clone(),
                )
                .await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                Ok(actor_of(&r, ip))
            }
            None => {
                self.audit_sign_in(
                    &mut tx,
                    "signin.failure",
                    &email_key,
                    Some(&r),
                    Some(serde_json::json!({"reason": "second_factor"})),
                    ip,
                )
                .await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                Err(ServiceError::SecondFactorInvalid)
            }
        }
    }

    /// The operator behind a half signed-in session and its stage
    /// (`totp` or `enrol`), if it is live.
    pub async fn pending_actor(
        &self,
        pending_token: &str,
        ip: Option<String>,
    ) -> Result<Option<(Actor, String)>> {
        let hash = self.key.lookup_hash("session", pending_token);
        let mut c = self.store.read().await?;
        let Some((op, stage)) =
            store::sessions::find_pending_session(&mut c, &hash, now_millis()).await?
        else {
            return Ok(None);
        };
        let Some(r) = store::operators::get(&mut c, op).await? else {
            return Ok(None);
        };
        if r.vendor_disabled_at.is_some() {
            return Ok(None);
        }
        Ok(Some((actor_of(&r, ip), stage)))
    }

    /// Ends enrolment at sign-in: once the operator behind an `enrol`
    /// session has TOTP on or a passkey, the half session is gone (the caller creates a
    /// full one) and the sign-in is audited.
    pub async fn finish_enrolment_sign_in(&self, pending_token: &str, actor: &Actor) -> Result<()> {
        let hash = self.key.lookup_hash("session", pending_token);
        let mut tx = self.store.begin().await?;
        let tf = store::two_factor::get(&mut tx, actor.operator_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        // TOTP confirmed, or a passkey registered (it counts as much).
        let factor = if tf.totp_secret.is_some() {
            "totp"
        } else if self.passkey_count(&mut tx, actor.operator_id).await? > 0 {
            "passkey"
        } else {
            return Err(ServiceError::InvalidCredentials);
        };
        if !store::sessions::delete_session(&mut tx, &hash).await? {
            return Err(ServiceError::InvalidCredentials);
        }
        super::audit(
            &mut tx,
            actor,
            now_millis(),
            actor.vendor_id,
            "signin.success",
            "operator",
            Some(actor.operator_id.to_db()),
            None,
            Some(serde_json::json!({"second_factor": factor, "enrolled": true})),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }

    /// Creates a server-side session for a signed-in operator.
    pub async fn create_session(
        &self,
        operator: OperatorId,
        origin: &Origin,
    ) -> Result<NewSession> {
        let hours = i64::from(self.config.session_hours);
        self.insert_session(operator, "full", hours * 3600 * 1000, origin)
            .await
    }

    /// Creates a half signed-in session (`totp` or `enrol`): it opens no
    /// page but sign-in's second step, and lives ten minutes.
    pub async fn create_pending_session(
        &self,
        operator: OperatorId,
        stage: &'static str,
        origin: &Origin,
    ) -> Result<NewSession> {
        self.insert_session(operator, stage, PENDING_TTL_MS, origin)
            .await
    }

    async fn insert_session(
        &self,
        operator: OperatorId,
        stage: &str,
        ttl_ms: i64,
        origin: &Origin,
    ) -> Result<NewSession> {
        let now = now_millis();
        let token = random_token()?;
        let csrf = random_token()?.into_inner();
        let id: String = random_bytes::<16>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expires_at = now + ttl_ms;
        let hash = self.key.lookup_hash("session", token.expose());
        let mut tx = self.store.begin().await?;
        store::sessions::delete_expired(&mut tx, now).await?;
        store::sessions::insert_session(
            &mut tx,
            &store::sessions::NewSessionRow {
                id: &id,
                token_hash: &hash,
                operator,
                csrf_token: &csrf,
                stage,
                origin,
                now,
                expires_at,
            },
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(NewSession {
            token,
            csrf,
            expires_at,
        })
    }

    /// Ends a half signed-in session (a new sign-in replaces it).
    pub async fn end_pending_session(&self, pending_token: &str) -> Result<()> {
        let hash = self.key.lookup_hash("session", pending_token);
        let mut tx = self.store.begin().await?;
        if let Some((_, stage)) =
            store::sessions::find_pending_session(&mut tx, &hash, now_millis()).await?
            && stage != "full"
        {
            store::sessions::delete_session(&mut tx, &hash).await?;
        }
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }

    /// The actor and CSRF token behind a session cookie, if it is live.
    /// Also its id (`.2`); when it was last noted as used more than a
    /// minute ago, now is noted.
    pub async fn session_actor(
        &self,
        token: &str,
        ip: Option<String>,
    ) -> Result<Option<(Actor, String, String)>> {
        let hash = self.key.lookup_hash("session", token);
        let now = now_millis();
        let found = {
            let mut c = self.store.read().await?;
            store::sessions::find_session(&mut c, &hash, now).await?
        };
        match found {
            Some(p) => {
                if p.last_used_at.is_none_or(|t| t < now - TOUCH_EVERY_MS) {
                    let mut tx = self.store.begin().await?;
                    store::sessions::touch_session(&mut tx, &hash, now).await?;
                    tx.commit().await.map_err(store::StoreError::from)?;
                }
                let csrf = p.csrf_token.clone();
                let handle = p.handle.clone();
                Ok(Some((self.principal_to_actor(p, ip)?, csrf, handle)))
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
    /// With TOTP on, `totp` (a code or a recovery code) is needed too;
    /// an operator who must have two factors and has none gets none.
    pub async fn issue_api_token(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
        origin: &Origin,
    ) -> Result<(Secret<String>, Millis)> {
        let actor = match self
            .sign_in(email, password, totp, origin.ip.clone())
            .await?
        {
            SignedIn::Done(a) => a,
            SignedIn::NeedsCode(_) => return Err(ServiceError::SecondFactorRequired),
            SignedIn::NeedsEnrolment(_) => {
                return Err(ServiceError::SecondFactorEnrolmentRequired);
            }
        };
        let id = actor.operator_id;
        let now = now_millis();
        let token = crate::keys::new_api_token()?;
        let hash = self.key.lookup_hash("api", token.expose());
        let expires_at = now + i64::from(self.config.api_token_days) * 24 * 3600 * 1000;
        let token_id = TokenId::new();
        let mut tx = self.store.begin().await?;
        let scopes = crate::domain::api_token::Scopes::FULL.to_db();
        store::sessions::insert_api_token(
            &mut tx,
            &store::sessions::NewApiToken {
                id: token_id,
                token_hash: &hash,
                operator: id,
                name: None,
                scopes: &scopes,
                origin,
                now,
                expires_at,
            },
        )
        .await?;
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
        let now = now_millis();
        let found = {
            let mut c = self.store.read().await?;
            store::sessions::find_api_token(&mut c, &hash, now).await?
        };
        match found {
            Some(p) => {
                if p.last_used_at.is_none_or(|t| t < now - TOUCH_EVERY_MS) {
                    let mut tx = self.store.begin().await?;
                    store::sessions::touch_api_token(&mut tx, &hash, now, ip.as_deref()).await?;
                    tx.commit().await.map_err(store::StoreError::from)?;
                }
                Ok(Some(self.principal_to_actor(p, ip)?))
            }
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
        service_name: &str,
        ip: Option<String>,
    ) -> Result<OperatorId> {
        // Every field's error at once: the admin's and the service name's.
        let admin = crate::domain::operator::FirstAdmin::parse(email, name, password);
        let service_name = crate::domain::vendor::parse_service_name("service_name", service_name);
        let (admin, service_name) = match (admin, service_name) {
            (Ok(a), Ok(n)) => (a, n),
            (a, n) => {
                let mut errors = a.err().unwrap_or_default();
                errors.extend(n.err());
                return Err(ServiceError::Invalid(errors));
            }
        };
        let crate::domain::operator::FirstAdmin {
            email,
            name,
            password,
        } = admin;
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
        if let Some(v) = store::vendors::get_default(&mut tx).await?
            && v.name != service_name
        {
            super::vendors::rename_default(&mut tx, &v, &service_name, now, None, email.as_str())
                .await?;
        }
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
