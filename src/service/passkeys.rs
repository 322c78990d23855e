//! Passkeys (WebAuthn, via webauthn-rs): registration and removal by the
//! operator on their own page, sign-in with a passkey alone (a discoverable
//! credential: the authenticator names the account and verifies the user,
//! so it is two factors in one), and a passkey as the second step after the
//! password.
//!
//! Each ceremony has two requests. The first stores webauthn-rs's state in
//! `webauthn_challenges` (so the second may reach another instance), bound
//! to the cookie that started it and to a purpose, for five minutes; the
//! second takes it with one `DELETE … RETURNING`, so a challenge is
//! answered once. The relying party is `CC_PUBLIC_URL`: its host is the
//! RP id, the URL the only origin accepted.

use base64::Engine;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Webauthn, WebauthnBuilder,
};

use super::{Actor, Result, ServiceError, Services};
use crate::domain::{OperatorId, now_millis};
use crate::keys::random_bytes;
use crate::store::{self, StoreError};

/// How long a challenge may be answered.
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// Passkey sign-ins one address may start per rate-limit window (each
/// stores a challenge row before anyone is known).
pub const STARTS_PER_ADDRESS: i64 = 100;
/// The longest passkey name.
const NAME_MAX: usize = 60;

const PURPOSE_REGISTER: &str = "register";
const PURPOSE_SECOND: &str = "second_factor";
const PURPOSE_SIGN_IN: &str = "sign_in";

/// A passkey as its owner sees it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PasskeyInfo {
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// When it last signed in (RFC 3339); none yet.
    pub last_used_at: Option<String>,
}

/// A started ceremony: the id to answer with, and the options for
/// `navigator.credentials.create()` or `.get()` (WebAuthn's JSON form).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Challenge<T: serde::Serialize> {
    pub challenge_id: String,
    pub options: T,
}

fn hex_id() -> Result<String> {
    Ok(random_bytes::<16>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("{e}"))
}

impl Services {
    /// The relying party: `CC_PUBLIC_URL`'s host and the URL as origin.
    fn webauthn(&self) -> Result<Webauthn> {
        let origin = Url::parse(&self.config.public_url).map_err(internal)?;
        let rp_id = origin
            .host_str()
            .ok_or_else(|| internal("CC_PUBLIC_URL has no host"))?
            .to_string();
        WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("Command Center").build())
            .map_err(|e| internal(format!("WebAuthn relying party {rp_id}: {e:?}")))
    }

    fn owner_hash(&self, owner_token: &str) -> String {
        self.key.lookup_hash("webauthn", owner_token)
    }

    async fn store_challenge(
        &self,
        purpose: &str,
        owner_token: &str,
        operator: Option<OperatorId>,
        state: &impl serde::Serialize,
    ) -> Result<String> {
        let id = hex_id()?;
        let state = serde_json::to_string(state).map_err(internal)?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        store::passkeys::insert_challenge(
            &mut tx,
            &store::passkeys::NewChallenge {
                id: &id,
                purpose,
                owner_hash: &self.owner_hash(owner_token),
                operator,
                state: &state,
                expires_at: now + CHALLENGE_TTL_MS,
            },
            now,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(id)
    }

    /// Takes a challenge (once): its operator and state, or None when it
    /// is unknown, used, expired, another's or of another purpose.
    async fn take_challenge<T: serde::de::DeserializeOwned>(
        &self,
        conn: &mut store::Conn,
        id: &str,
        purpose: &str,
        owner_token: &str,
    ) -> Result<Option<(Option<String>, T)>> {
        let Some(c) = store::passkeys::take_challenge(
            conn,
            id,
            purpose,
            &self.owner_hash(owner_token),
            now_millis(),
        )
        .await?
        else {
            return Ok(None);
        };
        let state = serde_json::from_str(&c.state).map_err(internal)?;
        Ok(Some((c.operator_id, state)))
    }

    fn decode_passkey(row: &store::passkeys::PasskeyRow) -> Result<Passkey> {
        serde_json::from_str(&row.passkey).map_err(|e| {
            ServiceError::from(StoreError::Corrupt(format!("passkey {}: {e}", row.id)))
        })
    }

    /// The actor's passkeys.
    pub async fn passkeys(&self, actor: &Actor) -> Result<Vec<PasskeyInfo>> {
        let mut c = self.store.read().await?;
        Ok(store::passkeys::list(&mut c, actor.operator_id)
            .await?
            .into_iter()
            .map(|r| PasskeyInfo {
                id: r.id,
                name: r.name,
                created_at: crate::domain::rfc3339(r.created_at),
                last_used_at: r.last_used_at.map(crate::domain::rfc3339),
            })
            .collect())
    }

    /// The actor's own password, asked again before a change that would
    /// outlast the session. One attempt of the account's sign-in limit is
    /// reserved first and given back when the password is right.
    async fn confirm_password(&self, actor: &Actor, password: &str) -> Result<()> {
        if password.is_empty() {
            return Err(ServiceError::invalid("password", "error.password_confirm"));
        }
        let account_key = super::auth::account_key(&actor.email);
        self.reserve_attempts(
            &[(account_key.as_str(), super::auth::ACCOUNT_FAILURES)],
            super::auth::WINDOW_MS,
        )
        .await?;
        let hash = {
            let mut c = self.store.read().await?;
            store::operators::get(&mut c, actor.operator_id)
                .await?
                .ok_or(ServiceError::NotFound)?
                .password_hash
        };
        if !super::auth::verify_password(password, &hash).await? {
            // The reserved attempt stays counted.
            return Err(ServiceError::invalid("password", "error.password_confirm"));
        }
        let mut tx = self.store.begin().await?;
        store::ratelimit::release(&mut tx, &account_key).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Starts registering a passkey for the actor, from the session
    /// `owner_token`. The credential is asked to be discoverable (so it
    /// can sign in alone) and to verify the user; the actor's own passkeys
    /// are excluded (one authenticator, one passkey).
    ///
    /// The operator's password is asked again first: a passkey signs in
    /// alone, so a borrowed or stolen session must not be able to add one
    /// and keep the account. Wrong passwords count against the account's
    /// sign-in limit.
    pub async fn start_passkey_registration(
        &self,
        actor: &Actor,
        owner_token: &str,
        password: &str,
    ) -> Result<Challenge<serde_json::Value>> {
        self.confirm_password(actor, password).await?;
        self.start_enrolment_passkey(actor, owner_token).await
    }

    /// Starts registering a passkey for an operator who proved the
    /// password moments ago in this sign-in and must set up a second factor
    /// before anything else (the password is not asked twice).
    pub async fn start_enrolment_passkey(
        &self,
        actor: &Actor,
        owner_token: &str,
    ) -> Result<Challenge<serde_json::Value>> {
        let existing = {
            let mut c = self.store.read().await?;
            store::passkeys::list(&mut c, actor.operator_id).await?
        };
        let exclude = existing
            .iter()
            .map(|r| Self::decode_passkey(r).map(|p| p.cred_id().clone()))
            .collect::<Result<Vec<_>>>()?;
        let display = if actor.name.trim().is_empty() {
            actor.email.as_str()
        } else {
            actor.name.as_str()
        };
        let (options, state): (CreationChallengeResponse, PasskeyRegistration) = self
            .webauthn()?
            .start_passkey_registration(
                actor.operator_id.0,
                &actor.email,
                display,
                Some(exclude).filter(|e| !e.is_empty()),
            )
            .map_err(internal)?;
        // webauthn-rs asks for a non-resident credential; sign-in with a
        // passkey alone needs the authenticator to keep it (a "passkey").
        // The server's state does not depend on it.
        let mut options = serde_json::to_value(&options).map_err(internal)?;
        if let Some(sel) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(|v| v.as_object_mut())
        {
            sel.insert("residentKey".into(), "required".into());
            sel.insert("requireResidentKey".into(), true.into());
        }
        let challenge_id = self
            .store_challenge(
                PURPOSE_REGISTER,
                owner_token,
                Some(actor.operator_id),
                &state,
            )
            .await?;
        Ok(Challenge {
            challenge_id,
            options,
        })
    }

    /// Finishes a registration: the authenticator's answer to the
    /// challenge this session was given, and a name for the passkey.
    pub async fn finish_passkey_registration(
        &self,
        actor: &Actor,
        owner_token: &str,
        challenge_id: &str,
        name: &str,
        credential: &str,
    ) -> Result<PasskeyInfo> {
        let name = crate::domain::line("name", name, NAME_MAX, true)
            .map_err(|e| ServiceError::Invalid(vec![e]))?;
        let credential: RegisterPublicKeyCredential = serde_json::from_str(credential)
            .map_err(|_| ServiceError::invalid("passkey", "error.passkey_failed"))?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let taken: Option<(Option<String>, PasskeyRegistration)> = self
            .take_challenge(&mut tx, challenge_id, PURPOSE_REGISTER, owner_token)
            .await?;
        let state = match taken {
            Some((Some(op), state)) if op == actor.operator_id.to_db() => state,
            _ => {
                // Used, expired or not this operator's: nothing is stored.
                tx.commit().await.map_err(StoreError::from)?;
                return Err(ServiceError::invalid("passkey", "error.passkey_challenge"));
            }
        };
        // The challenge is gone whatever the answer: commit its removal.
        tx.commit().await.map_err(StoreError::from)?;
        let passkey = match self
            .webauthn()?
            .finish_passkey_registration(&credential, &state)
        {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(error = ?e, "passkey registration refused");
                return Err(ServiceError::invalid("passkey", "error.passkey_failed"));
            }
        };
        let id = crate::domain::TokenId::new().to_db();
        let json = serde_json::to_string(&passkey).map_err(internal)?;
        let mut tx = self.store.begin().await?;
        match store::passkeys::insert(
            &mut tx,
            &store::passkeys::NewPasskey {
                id: &id,
                operator: actor.operator_id,
                name: &name,
                credential_id: &b64(passkey.cred_id().as_ref()),
                passkey: &json,
            },
            now,
        )
        .await
        {
            Ok(()) => {}
            Err(StoreError::Unique(_)) => {
                return Err(ServiceError::invalid("passkey", "error.passkey_taken"));
            }
            Err(e) => return Err(e.into()),
        }
        super::audit(
            &mut tx,
            actor,
            now,
            actor.vendor_id,
            "passkey.added",
            "passkey",
            Some(id.clone()),
            None,
            Some(serde_json::json!({"name": name})),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(PasskeyInfo {
            id,
            name,
            created_at: crate::domain::rfc3339(now),
            last_used_at: None,
        })
    }

    /// Removes one of the actor's passkeys: it signs in no more.
    pub async fn remove_passkey(&self, actor: &Actor, id: &str) -> Result<()> {
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let Some(name) = store::passkeys::delete(&mut tx, actor.operator_id, id).await? else {
            return Err(ServiceError::NotFound);
        };
        super::audit(
            &mut tx,
            actor,
            now,
            actor.vendor_id,
            "passkey.removed",
            "passkey",
            Some(id.to_string()),
            Some(serde_json::json!({"name": name})),
            None,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Starts a sign-in with a passkey alone, for the browser holding the
    /// pre-session token `owner_token`. Anyone may ask, and each asking
    /// stores a row: an address gets [`STARTS_PER_ADDRESS`] per window.
    pub async fn start_passkey_sign_in(
        &self,
        owner_token: &str,
        ip: &Option<String>,
    ) -> Result<Challenge<RequestChallengeResponse>> {
        let key = format!("passkey:start:{}", ip.as_deref().unwrap_or("-"));
        self.reserve_attempts(
            &[(key.as_str(), STARTS_PER_ADDRESS)],
            super::auth::WINDOW_MS,
        )
        .await?;
        let (mut options, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(internal)?;
        // webauthn-rs marks it for autofill ("conditional") mediation; the
        // page asks on a button press instead.
        options.mediation = None;
        let challenge_id = self
            .store_challenge(PURPOSE_SIGN_IN, owner_token, None, &state)
            .await?;
        Ok(Challenge {
            challenge_id,
            options,
        })
    }

    /// Audits a refused passkey (`passkey.failed`, and the sign-in's
    /// failure) and commits.
    async fn passkey_failed(
        &self,
        mut tx: store::Tx,
        operator: Option<&store::operators::OperatorRow>,
        reason: &str,
        ip: Option<String>,
    ) -> Result<()> {
        let label = operator.map(|r| r.email.as_str()).unwrap_or("-");
        for action in ["passkey.failed", "signin.failure"] {
            store::audit::insert(
                &mut tx,
                &store::audit::NewAudit {
                    at: now_millis(),
                    actor_kind: "anonymous",
                    actor_id: None,
                    actor_label: label,
                    vendor_id: operator.and_then(|r| r.vendor_id),
                    action,
                    target_kind: "operator",
                    target_id: operator.map(|r| r.id.to_db()),
                    before: None,
                    after: Some(serde_json::json!({"reason": reason, "factor": "passkey"})),
                    ip: ip.clone(),
                },
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Checks an assertion against one stored passkey and notes its use
    /// (the new counter). Err(reason) when refused.
    async fn verify_assertion(
        &self,
        tx: &mut store::Conn,
        row: &store::passkeys::PasskeyRow,
        check: impl FnOnce(
            &Webauthn,
            &Passkey,
        ) -> std::result::Result<
            webauthn_rs::prelude::AuthenticationResult,
            webauthn_rs::prelude::WebauthnError,
        >,
    ) -> Result<std::result::Result<(), &'static str>> {
        let mut passkey = Self::decode_passkey(row)?;
        let result = match check(&self.webauthn()?, &passkey) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(error = ?e, "passkey assertion refused");
                return Ok(Err("assertion"));
            }
        };
        passkey.update_credential(&result);
        let json = serde_json::to_string(&passkey).map_err(internal)?;
        if !store::passkeys::used(tx, &row.id, &json, now_millis()).await? {
            return Ok(Err("removed"));
        }
        Ok(Ok(()))
    }

    /// Finishes a sign-in with a passkey alone. Counted against the
    /// address's (and then the account's) sign-in limit before anything
    /// is checked, like a password.
    pub async fn finish_passkey_sign_in(
        &self,
        owner_token: &str,
        challenge_id: &str,
        credential: &str,
        ip: Option<String>,
    ) -> Result<Actor> {
        let address = super::auth::address_key(&ip);
        self.reserve_attempts(
            &[(address.as_str(), super::auth::ADDRESS_FAILURES)],
            super::auth::WINDOW_MS,
        )
        .await?;
        let mut tx = self.store.begin().await?;
        let taken: Option<(Option<String>, DiscoverableAuthentication)> = self
            .take_challenge(&mut tx, challenge_id, PURPOSE_SIGN_IN, owner_token)
            .await?;
        let Some((_, state)) = taken else {
            self.passkey_failed(tx, None, "challenge", ip).await?;
            return Err(ServiceError::InvalidCredentials);
        };
        let credential: Option<PublicKeyCredential> = serde_json::from_str(credential).ok();
        let webauthn = self.webauthn()?;
        let identified = credential.as_ref().and_then(|c| {
            webauthn
                .identify_discoverable_authentication(c)
                .ok()
                .map(|(user, cred)| (user, b64(cred)))
        });
        let (Some(credential), Some((user, cred_id))) = (credential.as_ref(), identified) else {
            self.passkey_failed(tx, None, "malformed", ip).await?;
            return Err(ServiceError::InvalidCredentials);
        };
        let row = store::passkeys::by_credential(&mut tx, &cred_id).await?;
        let op = match &row {
            Some(r) if r.operator_id.0 == user => {
                store::operators::get(&mut tx, r.operator_id).await?
            }
            _ => None,
        };
        let (Some(row), Some(op)) = (row, op) else {
            // A passkey this console does not know (or no longer: removed).
            self.passkey_failed(tx, None, "unknown_passkey", ip).await?;
            return Err(ServiceError::InvalidCredentials);
        };
        tx.commit().await.map_err(StoreError::from)?;
        let account = super::auth::account_key(&op.email);
        self.reserve_attempts(
            &[(account.as_str(), super::auth::ACCOUNT_FAILURES)],
            super::auth::WINDOW_MS,
        )
        .await?;
        let mut tx = self.store.begin().await?;
        let checked = self
            .verify_assertion(&mut tx, &row, |w, p| {
                w.finish_discoverable_authentication_v2(credential, state, p)
            })
            .await?;
        let usable = op.disabled_at.is_none() && op.vendor_disabled_at.is_none();
        match checked {
            Ok(()) if usable => {}
            Ok(()) => {
                drop(tx);
                let tx = self.store.begin().await?;
                self.passkey_failed(tx, Some(&op), "disabled", ip).await?;
                return Err(ServiceError::InvalidCredentials);
            }
            Err(reason) => {
                drop(tx);
                let tx = self.store.begin().await?;
                self.passkey_failed(tx, Some(&op), reason, ip).await?;
                return Err(ServiceError::InvalidCredentials);
            }
        }
        store::ratelimit::clear(&mut tx, &account).await?;
        store::ratelimit::release(&mut tx, &address).await?;
        self.audit_passkey_success(&mut tx, &op, &row, false, ip.clone())
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(super::auth::actor_of(&op, ip))
    }

    async fn audit_passkey_success(
        &self,
        tx: &mut store::Conn,
        op: &store::operators::OperatorRow,
        row: &store::passkeys::PasskeyRow,
        second_factor: bool,
        ip: Option<String>,
    ) -> Result<()> {
        let after = if second_factor {
            serde_json::json!({"second_factor": "passkey", "passkey": row.name})
        } else {
            serde_json::json!({"factor": "passkey", "passkey": row.name})
        };
        for (action, kind, target) in [
            ("passkey.used", "passkey", row.id.clone()),
            ("signin.success", "operator", op.id.to_db()),
        ] {
            store::audit::insert(
                tx,
                &store::audit::NewAudit {
                    at: now_millis(),
                    actor_kind: "operator",
                    actor_id: Some(op.id.to_db()),
                    actor_label: &op.email,
                    vendor_id: op.vendor_id,
                    action,
                    target_kind: kind,
                    target_id: Some(target),
                    before: None,
                    after: Some(after.clone()),
                    ip: ip.clone(),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Starts the second step with a passkey for the operator behind a
    /// half signed-in session (`pending_token`): only their passkeys are
    /// asked for.
    pub async fn start_passkey_second_factor(
        &self,
        pending_token: &str,
    ) -> Result<Challenge<RequestChallengeResponse>> {
        let actor = match self.pending_actor(pending_token, None).await? {
            Some((a, stage)) if stage == "totp" => a,
            _ => return Err(ServiceError::InvalidCredentials),
        };
        let rows = {
            let mut c = self.store.read().await?;
            store::passkeys::list(&mut c, actor.operator_id).await?
        };
        if rows.is_empty() {
            return Err(ServiceError::NotFound);
        }
        let keys = rows
            .iter()
            .map(Self::decode_passkey)
            .collect::<Result<Vec<_>>>()?;
        let (options, state) = self
            .webauthn()?
            .start_passkey_authentication(&keys)
            .map_err(internal)?;
        let challenge_id = self
            .store_challenge(
                PURPOSE_SECOND,
                pending_token,
                Some(actor.operator_id),
                &state,
            )
            .await?;
        Ok(Challenge {
            challenge_id,
            options,
        })
    }

    /// Finishes the second step with a passkey: on success the half
    /// session is gone (the caller creates a full one). Counted against
    /// the sign-in limits like a code.
    pub async fn finish_passkey_second_factor(
        &self,
        pending_token: &str,
        challenge_id: &str,
        credential: &str,
        ip: Option<String>,
    ) -> Result<Actor> {
        let (hash, op) = self.at_second_step(pending_token).await?;
        let op_id = op.id;
        let email_key = op.email.trim().to_lowercase();
        self.reserve_sign_in(&email_key, &ip).await?;
        let account = super::auth::account_key(&email_key);
        let address = super::auth::address_key(&ip);
        let mut tx = self.store.begin().await?;
        let taken: Option<(Option<String>, PasskeyAuthentication)> = self
            .take_challenge(&mut tx, challenge_id, PURPOSE_SECOND, pending_token)
            .await?;
        let state = match taken {
            Some((Some(o), state)) if o == op_id.to_db() => state,
            _ => {
                self.passkey_failed(tx, Some(&op), "challenge", ip).await?;
                return Err(ServiceError::SecondFactorInvalid);
            }
        };
        let credential: Option<PublicKeyCredential> = serde_json::from_str(credential).ok();
        let row = match &credential {
            Some(c) => store::passkeys::by_credential(&mut tx, &b64(c.get_credential_id())).await?,
            None => None,
        };
        let (Some(credential), Some(row)) = (credential, row.filter(|r| r.operator_id == op_id))
        else {
            self.passkey_failed(tx, Some(&op), "unknown_passkey", ip)
                .await?;
            return Err(ServiceError::SecondFactorInvalid);
        };
        let checked = self
            .verify_assertion(&mut tx, &row, |w, _| {
                w.finish_passkey_authentication(&credential, &state)
            })
            .await?;
        if let Err(reason) = checked {
            drop(tx);
            let tx = self.store.begin().await?;
            self.passkey_failed(tx, Some(&op), reason, ip).await?;
            return Err(ServiceError::SecondFactorInvalid);
        }
        if !store::sessions::delete_session(&mut tx, &hash).await? {
            return Err(ServiceError::InvalidCredentials);
        }
        store::ratelimit::clear(&mut tx, &account).await?;
        store::ratelimit::release(&mut tx, &address).await?;
        self.audit_passkey_success(&mut tx, &op, &row, true, ip.clone())
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(super::auth::actor_of(&op, ip))
    }

    /// How many passkeys an operator has (a passkey is a second factor).
    pub(crate) async fn passkey_count(
        &self,
        conn: &mut store::Conn,
        operator: OperatorId,
    ) -> Result<i64> {
        Ok(store::passkeys::count(conn, operator).await?)
    }

    /// Whether the operator behind a half signed-in session can answer
    /// with a TOTP code and with a passkey (what the second step offers).
    pub async fn second_factors(&self, operator: OperatorId) -> Result<(bool, bool)> {
        let mut c = self.store.read().await?;
        let tf = store::two_factor::get(&mut c, operator)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let passkeys = store::passkeys::count(&mut c, operator).await?;
        Ok((tf.totp_secret.is_some(), passkeys > 0))
    }
}
