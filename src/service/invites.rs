//! Invites: the seed's step 3 ("Define user") and step 4 ("Sending
//! invitations"). Sending only writes outbox rows; the mail worker
//! delivers them.

use crate::domain::Conflict;
use serde_json::json;

use super::{Actor, Result, Scope, ServiceError, Services};
use crate::domain::invite::{self as rules, DeliveryState, SoftwareType};
use crate::domain::message::MessageKind;
use crate::domain::{CustomerId, Email, InviteId, LicenseId, MessageId, Secret, now_millis};
use crate::keys::random_bytes;
use crate::store::{self, invites::InviteRow};

/// An invite as the faces show it. `activation_code` is there for
/// operators and admins (the seed shows it in "Current invites"); viewers
/// get null.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Invite {
    pub id: InviteId,
    pub license_id: LicenseId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub username: String,
    pub email: String,
    pub software_type: SoftwareType,
    pub store_deleted_days: i64,
    pub activation_code: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    /// When the SMTP server last accepted the invitation; null = not sent.
    pub sent_at: Option<String>,
    /// not_sent, queued, retrying, sent or failed.
    pub delivery_state: DeliveryState,
    /// The mail server's reason for the last failure.
    pub delivery_error: Option<String>,
    /// When a retry is due (state retrying).
    pub next_attempt_at: Option<String>,
    /// unused, used, revoked or expired.
    pub status: String,
    pub used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The installation whose computer this invite replaces.
    pub replaces_installation_id: Option<String>,
}

impl Invite {
    /// Whether the page should keep polling for this invite's state.
    pub fn in_flight(&self) -> bool {
        self.delivery_state.in_flight()
    }
}

pub use crate::domain::invite::InviteInput;
/// The raw input under its old name, for src/demo (another room's code);
/// new code says `InviteInput`.
pub use crate::domain::invite::InviteInput as NewInvite;

/// What a send request did.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SendReport {
    /// Invites queued for the first time.
    pub queued: Vec<InviteId>,
    /// Invites that had been sent before and are sent again.
    pub resent: Vec<InviteId>,
    /// Invites already waiting in the queue (nothing added).
    pub already_queued: Vec<InviteId>,
    /// Used or revoked invites, which are not sent.
    pub skipped: Vec<InviteId>,
}

pub(super) fn code_from_os() -> Result<String> {
    for _ in 0..8 {
        let bytes = random_bytes::<64>()?;
        if let Some(code) = rules::code_from_random(&bytes) {
            return Ok(code);
        }
    }
    Err(ServiceError::Internal(anyhow::anyhow!(
        "could not draw an activation code"
    )))
}

/// An invite as the faces show it, with the activation code given (or
/// none: viewers, and every export).
pub(crate) fn invite_view_with(r: InviteRow, code: Option<String>) -> Invite {
    let now = now_millis();
    let status = if r.used_at.is_some() {
        "used"
    } else if r.revoked_at.is_some() {
        "revoked"
    } else if r.expires_at <= now {
        "expired"
    } else {
        "unused"
    };
    let ts = |v: Option<i64>| v.map(crate::domain::rfc3339);
    Invite {
        id: r.id,
        license_id: r.license_id,
        customer_id: r.customer_id,
        customer_name: r.customer_name,
        username: r.username,
        email: r.email,
        software_type: r.software_type,
        store_deleted_days: r.store_deleted_days,
        activation_code: code,
        created_at: crate::domain::rfc3339(r.created_at),
        expires_at: crate::domain::rfc3339(r.expires_at),
        sent_at: ts(r.sent_at),
        delivery_state: r.delivery_state,
        delivery_error: r.delivery_error,
        next_attempt_at: ts(r.next_attempt_at),
        status: status.into(),
        used_at: ts(r.used_at),
        revoked_at: ts(r.revoked_at),
        replaces_installation_id: r.replaces_installation_id,
    }
}

impl Services {
    pub(crate) fn invite_view(&self, actor: &Actor, r: InviteRow) -> Result<Invite> {
        let code = if actor.role.can_write() {
            Some(self.key.decrypt(&r.code_enc)?.into_inner())
        } else {
            None
        };
        Ok(invite_view_with(r, code))
    }

    /// Adds an invite with a fresh activation code. No e-mail is sent.
    /// Returns the invite and, separately, its code.
    pub async fn create_invite(
        &self,
        actor: &Actor,
        license: LicenseId,
        input: &InviteInput,
    ) -> Result<(Invite, Secret<String>)> {
        actor.require_write()?;
        let lic = self.get_license(actor, license).await?;
        let prefix = self
            .get_customer(actor, lic.customer_id)
            .await?
            .username_prefix;
        let rules::NewInvite {
            username,
            email,
            software_type,
            store_deleted_days: store_deleted,
            replaces,
        } = rules::NewInvite::parse(input, prefix.as_deref()).map_err(ServiceError::Invalid)?;
        if let Some(old) = replaces {
            self.check_replaceable(actor, license, software_type, old)
                .await?;
        }
        let code = code_from_os()?;
        let code_enc = self.key.encrypt(&code)?;
        let code_hash = self
            .key
            .lookup_hash("activation", &rules::normalize_code(&code));
        let now = now_millis();
        let id = InviteId::new();
        let mut tx = self.store.begin().await?;
        store::invites::insert(
            &mut tx,
            &store::invites::NewInviteRow {
                id,
                license_id: license,
                username: &username,
                email: email.as_str(),
                software_type: software_type.as_str(),
                store_deleted_days: store_deleted,
                code_enc: &code_enc,
                code_hash: &code_hash,
                expires_at: now + self.config.invite_valid_days * 24 * 3600 * 1000,
                replaces,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            store::StoreError::Unique(_) => ServiceError::Conflict {
                code: Conflict::UsernameTaken,
                message: format!("The username {username} is already in use."),
            },
            e => e.into(),
        })?;
        super::audit(
            &mut tx,
            actor,
            now,
            Some(lic.vendor_id),
            "invite.create",
            "invite",
            Some(id.to_db()),
            None,
            Some(json!({"username": username, "email": email.as_str(), "software_type": software_type, "store_deleted_days": store_deleted, "license_id": license, "replaces": replaces})),
        )
        .await?;
        let row = store::invites::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok((self.invite_view(actor, row)?, Secret::new(code)))
    }

    /// An invite may replace a computer of the same license and software
    /// type that has not been replaced already (its backups go to one
    /// successor only).
    async fn check_replaceable(
        &self,
        actor: &Actor,
        license: LicenseId,
        software_type: SoftwareType,
        old: crate::domain::InstallationId,
    ) -> Result<()> {
        let mut c = self.store.read().await?;
        let n = store::installations::get(&mut c, old).await?;
        let fits = n.is_some_and(|n| {
            actor.can_see(n.vendor_id)
                && n.license_id == license
                && n.software_type == software_type
                && n.replaced_by.is_none()
        });
        if fits {
            Ok(())
        } else {
            Err(ServiceError::invalid(
                "replaces_installation_id",
                "error.replaces",
            ))
        }
    }

    /// A license's invites, newest first.
    pub async fn list_invites(&self, actor: &Actor, license: LicenseId) -> Result<Vec<Invite>> {
        self.get_license(actor, license).await?;
        let mut c = self.store.read().await?;
        store::invites::list_for_license(&mut c, license)
            .await?
            .into_iter()
            .map(|r| self.invite_view(actor, r))
            .collect()
    }

    /// Several invites at once (those the actor may see; others are left
    /// out), for the live delivery states.
    pub async fn get_invites(&self, actor: &Actor, ids: &[InviteId]) -> Result<Vec<Invite>> {
        let mut c = self.store.read().await?;
        let rows = store::invites::get_many(&mut c, ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if actor.can_see(r.vendor_id) {
                out.push(self.invite_view(actor, r)?);
            }
        }
        Ok(out)
    }

    pub async fn get_invite(&self, actor: &Actor, id: InviteId) -> Result<Invite> {
        let mut c = self.store.read().await?;
        let row = store::invites::get(&mut c, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if !actor.can_see(row.vendor_id) {
            return Err(ServiceError::NotFound);
        }
        self.invite_view(actor, row)
    }

    /// Outstanding invites beyond the free seats of a license, per type:
    /// a warning, not a refusal (seats are taken only at activation).
    pub async fn invite_overbooking(
        &self,
        actor: &Actor,
        license: LicenseId,
    ) -> Result<(i64, i64)> {
        let lic = self.get_license(actor, license).await?;
        let mut c = self.store.read().await?;
        let (std_out, srv_out) = store::invites::outstanding(&mut c, license).await?;
        let std_free = lic.standard_seats - lic.standard_used;
        let srv_free = lic.server_seats - lic.server_used;
        Ok(((std_out - std_free).max(0), (srv_out - srv_free).max(0)))
    }

    /// Revokes an unused invite (its username becomes free again).
    pub async fn revoke_invite(&self, actor: &Actor, id: InviteId) -> Result<Invite> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let row = store::invites::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if !actor.can_see(row.vendor_id) {
            return Err(ServiceError::NotFound);
        }
        if !store::invites::revoke(&mut tx, id, now).await? {
            return Err(ServiceError::Conflict {
                code: Conflict::InviteNotRevocable,
                message: "The invite has been used or revoked already.".into(),
            });
        }
        super::audit(
            &mut tx,
            actor,
            now,
            Some(row.vendor_id),
            "invite.revoke",
            "invite",
            Some(id.to_db()),
            Some(json!({"username": row.username, "status": "unused"})),
            Some(json!({"status": "revoked"})),
        )
        .await?;
        let row = store::invites::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.invite_view(actor, row)
    }

    /// Queues invitation e-mails: one outbox row per invite, written with
    /// the audit rows in one transaction; returns at once. Every id must be
    /// visible to the actor, or nothing is queued.
    ///
    /// An invite that was sent before, or is on its way, goes again only
    /// with `resend`: otherwise nothing is queued and the answer is
    /// [`ServiceError::AlreadySent`] with those invites, so a second press
    /// of Send (after Back, or a retried request) asks before it mails a
    /// customer twice.
    pub async fn send_invites(
        &self,
        actor: &Actor,
        ids: &[InviteId],
        resend: bool,
    ) -> Result<SendReport> {
        actor.require_write()?;
        if ids.is_empty() {
            return Err(ServiceError::invalid(
                "invite_ids",
                "error.nothing_selected",
            ));
        }
        if ids.len() > 5000 {
            return Err(ServiceError::invalid("invite_ids", "error.too_many"));
        }
        let now = now_millis();
        let mut report = SendReport::default();
        // Every statement below handles the whole request at once: a send
        // of a thousand invites is a handful of statements, not thousands,
        // so it holds SQLite's single writer briefly and the mail worker
        // (which needs that writer to record results) keeps sending.
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<InviteId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let mut tx = self.store.begin().await?;
        let mut rows: std::collections::HashMap<InviteId, InviteRow> =
            store::invites::get_many(&mut tx, &unique)
                .await?
                .into_iter()
                .map(|r| (r.id, r))
                .collect();
        // First every row and its state, then the refusal (nothing written
        // yet), then the writes.
        let mut live = Vec::with_capacity(unique.len());
        for id in &unique {
            let row = rows.get(id).ok_or(ServiceError::NotFound)?;
            if !actor.can_see(row.vendor_id) {
                return Err(ServiceError::NotFound);
            }
            if row.used_at.is_some() || row.revoked_at.is_some() {
                report.skipped.push(*id);
            } else {
                live.push(*id);
            }
        }
        let in_flight = store::outbox::invites_in_flight(&mut tx, &live).await?;
        // The mail worker may have delivered some between the two reads
        // (each statement sees the latest commit): read those again after
        // the outbox, so each counts as in flight or as sent, never as
        // neither.
        let recheck: Vec<InviteId> = live
            .iter()
            .copied()
            .filter(|id| !in_flight.contains(id) && rows[id].sent_at.is_none())
            .collect();
        for row in store::invites::get_many(&mut tx, &recheck).await? {
            rows.insert(row.id, row);
        }
        let already: Vec<InviteId> = live
            .iter()
            .copied()
            .filter(|id| in_flight.contains(id) || rows[id].sent_at.is_some())
            .collect();
        if !resend && !already.is_empty() {
            return Err(ServiceError::AlreadySent { invites: already });
        }
        let mut messages = Vec::with_capacity(live.len());
        let mut audits = Vec::with_capacity(live.len());
        let label = actor.audit_label();
        for id in live {
            if in_flight.contains(&id) {
                // On its way already: a second outbox row would mail twice.
                report.already_queued.push(id);
                continue;
            }
            let row = &rows[&id];
            messages.push((MessageId::new(), id, row.email.as_str()));
            let resent = row.sent_at.is_some();
            audits.push(store::audit::NewAudit {
                at: now,
                actor_kind: actor.audit_kind(),
                actor_id: Some(actor.operator_id.to_db()),
                actor_label: &label,
                vendor_id: Some(row.vendor_id),
                action: if resent {
                    "invite.resend"
                } else {
                    "invite.send"
                },
                target_kind: "invite",
                target_id: Some(id.to_db()),
                before: None,
                after: Some(json!({"email": row.email})),
                ip: actor.ip.clone(),
            });
            if resent {
                report.resent.push(id);
            } else {
                report.queued.push(id);
            }
        }
        store::outbox::enqueue_invites(&mut tx, &messages, now).await?;
        let queued: Vec<InviteId> = messages.iter().map(|(_, id, _)| *id).collect();
        store::invites::set_queued_many(&mut tx, &queued).await?;
        store::audit::insert_many(&mut tx, &audits).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.mail_wakeup.notify_one();
        Ok(report)
    }

    /// Invites for the Installations page: one customer's or all the
    /// actor can see (an admin may narrow to a vendor).
    pub async fn invites_for_sending(
        &self,
        actor: &Actor,
        vendor: Option<crate::domain::VendorId>,
        customer: Option<CustomerId>,
        include_sent: bool,
    ) -> Result<Vec<Invite>> {
        let vendor = match actor.scope() {
            Scope::All => vendor,
            Scope::Vendor(v) => Some(v),
        };
        if let Some(c) = customer {
            self.get_customer(actor, c).await?;
        }
        let mut conn = self.store.read().await?;
        store::invites::list_for_sending(&mut conn, vendor, customer, include_sent, 1000)
            .await?
            .into_iter()
            .map(|r| self.invite_view(actor, r))
            .collect()
    }

    /// The invitation e-mail of an invite, as it would be sent.
    pub async fn preview_invite_mail(
        &self,
        actor: &Actor,
        id: InviteId,
    ) -> Result<crate::mail::Rendered> {
        actor.require_write()?;
        let mut c = self.store.read().await?;
        let row = store::invites::get(&mut c, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if !actor.can_see(row.vendor_id) {
            return Err(ServiceError::NotFound);
        }
        let code = self.key.decrypt(&row.code_enc)?;
        Ok(crate::mail::render_invite(
            &row,
            code.expose(),
            &self.config.install_url,
        )?)
    }

    /// Queues a test e-mail (admins, from Settings).
    pub async fn send_test_mail(&self, actor: &Actor, to: &str) -> Result<()> {
        actor.require_admin()?;
        let to = Email::parse("email", to)?;
        let now = now_millis();
        let id = MessageId::new();
        let payload = json!({"subject": "Command Center test e-mail", "text": format!("This is a test e-mail from Command Center at {}.\nIf you can read it, mail delivery works.\n", self.config.public_url)}).to_string();
        let mut tx = self.store.begin().await?;
        store::outbox::enqueue(
            &mut tx,
            id,
            MessageKind::Test,
            None,
            to.as_str(),
            Some(&payload),
            now,
        )
        .await?;
        super::audit(
            &mut tx,
            actor,
            now,
            None,
            "mail.test",
            "outbox",
            Some(id.to_db()),
            None,
            Some(json!({"to": to.as_str()})),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.mail_wakeup.notify_one();
        Ok(())
    }
}
