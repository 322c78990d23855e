//! Two-factor sign-in: TOTP enrolment (start, confirm, turn off), checking
//! a second factor (a TOTP code once, or a recovery code once), who must
//! have two factors, and an operator's sessions and API tokens.

use super::{Actor, Result, ServiceError, Services};
use crate::domain::conflict::Conflict;
use crate::domain::{OperatorId, VendorId, now_millis, totp};
use crate::keys::random_bytes;
use crate::store::{self, StoreError};

/// Confirmation attempts of one operator per window (a wrong code in
/// enrolment is a guess at a code, like one at sign-in).
const CONFIRM_ATTEMPTS: i64 = 10;

/// What the console shows about an operator's second factor.
#[derive(Debug, Clone)]
pub struct TotpStatus {
    pub enabled: bool,
    /// While set-up is under way: the secret (base32) and its otpauth URL.
    pub pending: Option<(String, String)>,
    pub recovery_codes_left: i64,
    /// Two factors are required of this operator (by everyone's setting
    /// or their vendor's).
    pub required: bool,
}

/// A fresh secret for the authenticator app.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// Base32 (RFC 4648, no padding): what one types into an app by hand.
    pub secret: String,
    /// `otpauth://totp/…`: what the QR code holds.
    pub otpauth_url: String,
}

/// How the second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    Recovery,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::Recovery => "recovery_code",
        }
    }
}

/// A signed-in session or live API token, for its owner.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: String,
    /// `session` (console) or `api_token`.
    pub kind: String,
    /// Browser and system, from the User-Agent.
    pub device: String,
    pub ip: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: String,
    /// The session this request came with.
    pub current: bool,
}

impl Services {
    /// The issuer shown in authenticator apps.
    fn totp_issuer(&self) -> String {
        "Command Center".to_string()
    }

    fn secret_bytes(&self, stored: &str) -> Result<Vec<u8>> {
        let b32 = self.key.decrypt(stored).map_err(ServiceError::Internal)?;
        totp::base32_decode(b32.expose()).ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("stored TOTP secret is not base32"))
        })
    }

    fn enrolment_of(&self, actor_email: &str, stored: &str) -> Result<TotpEnrolment> {
        let b32 = self.key.decrypt(stored).map_err(ServiceError::Internal)?;
        Ok(TotpEnrolment {
            otpauth_url: totp::otpauth_url(&self.totp_issuer(), actor_email, b32.expose()),
            secret: b32.into_inner(),
        })
    }

    /// Whether two factors are required of an operator of `vendor`.
    pub(crate) async fn two_factor_required(
        &self,
        conn: &mut store::Conn,
        row: &store::two_factor::TwoFactorRow,
    ) -> Result<bool> {
        Ok(row.vendor_requires == 1 || store::two_factor::required_for_all(conn).await?)
    }

    /// The actor's second-factor state, for their own page.
    pub async fn totp_status(&self, actor: &Actor) -> Result<TotpStatus> {
        let mut c = self.store.read().await?;
        let row = store::two_factor::get(&mut c, actor.operator_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let required = self.two_factor_required(&mut c, &row).await?;
        let pending = match (&row.totp_secret, &row.totp_pending) {
            (None, Some(p)) => {
                let e = self.enrolment_of(&actor.email, p)?;
                Some((e.secret, e.otpauth_url))
            }
            _ => None,
        };
        Ok(TotpStatus {
            enabled: row.totp_secret.is_some(),
            pending,
            recovery_codes_left: store::two_factor::recovery_codes_left(&mut c, actor.operator_id)
                .await?,
            required,
        })
    }

    /// Starts TOTP enrolment: a new secret, kept (encrypted) until it is
    /// confirmed with a code. Refused while one is active.
    pub async fn start_totp(&self, actor: &Actor) -> Result<TotpEnrolment> {
        let secret = totp::base32_encode(&random_bytes::<20>()?);
        let stored = self.key.encrypt(&secret)?;
        let mut tx = self.store.begin().await?;
        let row = store::two_factor::get(&mut tx, actor.operator_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if row.totp_secret.is_some() {
            return Err(ServiceError::conflict(Conflict::TotpAlreadyEnabled));
        }
        store::two_factor::set_pending(&mut tx, actor.operator_id, &stored).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(TotpEnrolment {
            otpauth_url: totp::otpauth_url(&self.totp_issuer(), &actor.email, &secret),
            secret,
        })
    }

    /// Confirms enrolment with a code from the app: TOTP is on from now,
    /// and ten recovery codes are made — returned here, once, and stored
    /// only as keyed hashes.
    pub async fn confirm_totp(&self, actor: &Actor, code: &str) -> Result<Vec<String>> {
        let key = format!("totp:confirm:{}", actor.operator_id.to_db());
        self.reserve_attempts(&[(key.as_str(), CONFIRM_ATTEMPTS)], super::auth::WINDOW_MS)
            .await?;
        let now = now_millis();
        let row = {
            let mut c = self.store.read().await?;
            store::two_factor::get(&mut c, actor.operator_id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        if row.totp_secret.is_some() {
            return Err(ServiceError::conflict(Conflict::TotpAlreadyEnabled));
        }
        let Some(pending) = row.totp_pending else {
            return Err(ServiceError::conflict(Conflict::TotpNotStarted));
        };
        let secret = self.secret_bytes(&pending)?;
        let step = totp::parse_code(code)
            .and_then(|c| totp::matching_step(&secret, &c, now, None))
            .ok_or_else(|| ServiceError::invalid("code", "error.totp_code"))?;
        let mut codes = Vec::with_capacity(totp::RECOVERY_CODES);
        let mut hashes = Vec::with_capacity(totp::RECOVERY_CODES);
        for _ in 0..totp::RECOVERY_CODES {
            let c = totp::recovery_code(&random_bytes::<7>()?);
            hashes.push(self.key.lookup_hash("recovery", &c.replace('-', "")));
            codes.push(c);
        }
        let mut tx = self.store.begin().await?;
        if !store::two_factor::confirm(&mut tx, actor.operator_id, &pending, step, now).await? {
            // Another request confirmed or restarted it meanwhile.
            return Err(ServiceError::conflict(Conflict::TotpNotStarted));
        }
        store::two_factor::replace_recovery_codes(&mut tx, actor.operator_id, &hashes, now).await?;
        store::ratelimit::clear(&mut tx, &key).await?;
        super::audit(
            &mut tx,
            actor,
            now,
            actor.vendor_id,
            "totp.enabled",
            "operator",
            Some(actor.operator_id.to_db()),
            None,
            None,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(codes)
    }

    /// Checks a second factor inside `tx`: a TOTP code whose time step is
    /// later than any used before (taken by a guarded UPDATE, so a code
    /// works once), or an unused recovery code (used up here). `None` when
    /// neither matches.
    pub(crate) async fn check_second_factor(
        &self,
        tx: &mut store::Conn,
        operator: OperatorId,
        row: &store::two_factor::TwoFactorRow,
        typed: &str,
    ) -> Result<Option<Factor>> {
        let now = now_millis();
        if let (Some(code), Some(stored)) = (totp::parse_code(typed), &row.totp_secret) {
            let secret = self.secret_bytes(stored)?;
            if let Some(step) = totp::matching_step(&secret, &code, now, row.totp_last_step)
                && store::two_factor::take_step(tx, operator, step).await?
            {
                return Ok(Some(Factor::Totp));
            }
            return Ok(None);
        }
        if let Some(rc) = totp::parse_recovery_code(typed)
            && row.totp_secret.is_some()
        {
            let hash = self.key.lookup_hash("recovery", &rc);
            if store::two_factor::use_recovery_code(tx, operator, &hash, now).await? {
                return Ok(Some(Factor::Recovery));
            }
        }
        Ok(None)
    }

    /// Turns TOTP off for the actor, who proves it is them with a current
    /// code (or a recovery code) or their password. Wrong proofs count
    /// against the sign-in limit.
    pub async fn disable_totp(
        &self,
        actor: &Actor,
        code: Option<&str>,
        password: Option<&str>,
    ) -> Result<()> {
        let account_key = super::auth::account_key(&actor.email);
        self.reserve_attempts(
            &[(account_key.as_str(), super::auth::ACCOUNT_FAILURES)],
            super::auth::WINDOW_MS,
        )
        .await?;
        let now = now_millis();
        let (row, hash) = {
            let mut c = self.store.read().await?;
            let row = store::two_factor::get(&mut c, actor.operator_id)
                .await?
                .ok_or(ServiceError::NotFound)?;
            let op = store::operators::get(&mut c, actor.operator_id)
                .await?
                .ok_or(ServiceError::NotFound)?;
            (row, op.password_hash)
        };
        if row.totp_secret.is_none() {
            return Err(ServiceError::NotFound);
        }
        let mut tx = self.store.begin().await?;
        let proven = match (code.filter(|c| !c.trim().is_empty()), password) {
            (Some(c), _) => self
                .check_second_factor(&mut tx, actor.operator_id, &row, c)
                .await?
                .is_some(),
            (None, Some(p)) if !p.is_empty() => super::auth::verify_password(p, &hash).await?,
            _ => false,
        };
        if !proven {
            // Nothing changes; the reserved attempt stays counted.
            return Err(ServiceError::invalid("code", "error.totp_or_password"));
        }
        store::two_factor::disable(&mut tx, actor.operator_id).await?;
        store::ratelimit::release(&mut tx, &account_key).await?;
        super::audit(
            &mut tx,
            actor,
            now,
            actor.vendor_id,
            "totp.disabled",
            "operator",
            Some(actor.operator_id.to_db()),
            None,
            None,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Whether two factors are required of everyone, and of a vendor.
    pub async fn two_factor_policy(
        &self,
        actor: &Actor,
        vendor: Option<VendorId>,
    ) -> Result<(bool, Option<bool>)> {
        actor.require_admin()?;
        let mut c = self.store.read().await?;
        let all = store::two_factor::required_for_all(&mut c).await?;
        let v = match vendor {
            Some(v) => Some(store::two_factor::vendor_required(&mut c, v).await?),
            None => None,
        };
        Ok((all, v))
    }

    /// Requires (or stops requiring) two factors of everyone (`vendor`
    /// None) or of one vendor's operators. Admins only.
    pub async fn set_two_factor_required(
        &self,
        actor: &Actor,
        vendor: Option<VendorId>,
        on: bool,
    ) -> Result<()> {
        actor.require_admin()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        match vendor {
            None => store::two_factor::set_required_for_all(&mut tx, on).await?,
            Some(v) => {
                if !store::two_factor::set_required_for_vendor(&mut tx, v, on, now).await? {
                    return Err(ServiceError::NotFound);
                }
            }
        }
        super::audit(
            &mut tx,
            actor,
            now,
            vendor,
            "security.two_factor_required",
            if vendor.is_some() {
                "vendor"
            } else {
                "settings"
            },
            vendor.map(|v| v.to_db()),
            None,
            Some(serde_json::json!({"required": on})),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    // --- sessions and API tokens ---

    /// The actor's signed-in sessions and live API tokens; `current` is
    /// the id of the session the request came with.
    pub async fn list_sessions(
        &self,
        actor: &Actor,
        current: Option<&str>,
    ) -> Result<Vec<SessionInfo>> {
        let mut c = self.store.read().await?;
        let rows =
            store::sessions::list_for_operator(&mut c, actor.operator_id, now_millis()).await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionInfo {
                current: current == Some(r.id.as_str()),
                device: totp::device_of(r.user_agent.as_deref().unwrap_or("")),
                ip: r.ip,
                created_at: crate::domain::rfc3339(r.created_at),
                last_used_at: r.last_used_at.map(crate::domain::rfc3339),
                expires_at: crate::domain::rfc3339(r.expires_at),
                kind: r.kind,
                id: r.id,
            })
            .collect())
    }

    /// The id of a live API token (to mark it in the list).
    pub async fn api_token_id(&self, token: &str) -> Result<Option<String>> {
        let hash = self.key.lookup_hash("api", token);
        let mut c = self.store.read().await?;
        Ok(store::sessions::find_api_token(&mut c, &hash, now_millis())
            .await?
            .map(|p| p.handle))
    }

    /// Ends one of the actor's own sessions or API tokens by its id.
    pub async fn end_own_session(&self, actor: &Actor, id: &str) -> Result<()> {
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let action =
            if store::sessions::delete_session_by_id(&mut tx, actor.operator_id, id).await? {
                "session.end"
            } else if store::sessions::revoke_api_token_by_id(&mut tx, actor.operator_id, id, now)
                .await?
            {
                "api_token.revoke"
            } else {
                return Err(ServiceError::NotFound);
            };
        super::audit(
            &mut tx,
            actor,
            now,
            actor.vendor_id,
            action,
            if action == "session.end" {
                "session"
            } else {
                "api_token"
            },
            Some(id.to_string()),
            None,
            None,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Ends every session and API token of an operator (admins).
    pub async fn end_all_sessions(&self, actor: &Actor, operator: OperatorId) -> Result<()> {
        actor.require_admin()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let target = store::operators::get(&mut tx, operator)
            .await?
            .ok_or(ServiceError::NotFound)?;
        store::sessions::revoke_all_for_operator(&mut tx, operator, now).await?;
        super::audit(
            &mut tx,
            actor,
            now,
            target.vendor_id,
            "session.end_all",
            "operator",
            Some(operator.to_db()),
            None,
            None,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
