//! The outbox worker: claims due messages, sends them, records the result.
//!
//! A claim is a lease: a worker that dies mid-send leaves rows in
//! `sending`, and any worker takes them again once the lease runs out —
//! so a crash can repeat at most the messages that were in flight, never
//! lose one. Temporary failures are retried with exponential backoff and
//! jitter; permanent ones (5xx) fail at once with the server's reason.

use std::sync::Arc;
use std::time::Duration;

use super::{Rendered, SendError, Transport, build_message, render_invite};
use crate::config::Config;
use crate::domain::invite::DeliveryState;
use crate::domain::message::MessageKind;
use crate::domain::{Millis, now_millis};
use crate::keys::ServerKey;
use crate::store::{self, outbox::OutboxRow};

/// Sends in flight at most (and SMTP connections in the pool).
pub const WINDOW: usize = 50;
/// Results are written down at least this often …
const RECORD_EVERY: Duration = Duration::from_millis(10);
/// … or once this many have finished.
const RECORD_MAX: usize = 50;
/// Longest pause between looks at the outbox (other instances may queue).
const IDLE_POLL: Duration = Duration::from_secs(2);

/// The worker's settings.
#[derive(Clone)]
pub struct Worker {
    pub store: store::Store,
    /// Opens the activation codes that invitations carry.
    pub key: ServerKey,
    pub config: Arc<Config>,
    /// Rung by whoever queued mail, so it goes out without waiting a poll.
    pub wakeup: Arc<tokio::sync::Notify>,
    pub transport: Transport,
    /// Which webhook events anyone wants (shared with the services, so an
    /// endpoint change here is seen at once).
    pub subscriptions: Arc<crate::service::webhooks::Subscriptions>,
    /// Rung when invite events were queued, so they go out without waiting
    /// for the webhook worker's poll.
    pub webhook_wakeup: Arc<tokio::sync::Notify>,
}

enum Outcome {
    Sent,
    Retry {
        at: Millis,
        reason: String,
    },
    Failed {
        reason: String,
    },
    /// The invite was revoked or used before its message went out.
    Dropped {
        reason: String,
    },
}

/// The delay before retry number `attempt` (1 = first retry): base × 2^(n−1),
/// at most an hour, ±20 % jitter so a crowd of failures spreads out.
pub fn backoff_ms(base_secs: i64, attempt: i64, jitter_byte: u8) -> i64 {
    let exp = attempt.clamp(1, 20) - 1;
    let delay = (base_secs.saturating_mul(1i64 << exp)).min(3600) * 1000;
    let jitter = (i64::from(jitter_byte) - 128) * delay / 640; // ±20 %
    (delay + jitter).max(1)
}

impl Worker {
    /// Runs until `shutdown` turns true: keeps a steady window of sends in
    /// flight (claiming more as sends finish, never waiting for a whole
    /// batch), and writes their results down in small groups — one
    /// transaction per [`RECORD_EVERY`] or [`RECORD_MAX`] results — well
    /// before the lease runs out, so a crash repeats at most the messages
    /// in flight and the ones finished in the last few milliseconds.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(transport = %self.transport.describe(), "mail worker started");
        let mut flight: tokio::task::JoinSet<(OutboxRow, Outcome)> = tokio::task::JoinSet::new();
        let mut done: Vec<(OutboxRow, Outcome)> = Vec::new();
        let mut recorded_at = std::time::Instant::now();
        let mut queue_empty = false;
        loop {
            let stopping = *shutdown.borrow();
            // Top the window up once half of it is free (or it is empty).
            if !stopping && !queue_empty && flight.len() <= WINDOW / 2 {
                match self.claim(WINDOW - flight.len()).await {
                    Ok(rows) => {
                        queue_empty = rows.is_empty();
                        for row in rows {
                            let me = self.clone();
                            flight.spawn(async move {
                                let outcome = me.deliver(&row).await;
                                (row, outcome)
                            });
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "claiming mail failed");
                        queue_empty = true;
                    }
                }
            }
            if flight.is_empty() && done.is_empty() {
                if stopping {
                    break;
                }
                if queue_empty {
                    let wait = self.until_next_due().await;
                    tokio::select! {
                        _ = self.wakeup.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                    queue_empty = false;
                }
                continue;
            }
            // Wait for a send to finish, or for the group's time to be up.
            if !flight.is_empty() {
                let until = RECORD_EVERY.saturating_sub(recorded_at.elapsed());
                let wait = if done.is_empty() { IDLE_POLL } else { until };
                tokio::select! {
                    r = flight.join_next() => take(r, &mut done),
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.wakeup.notified(), if queue_empty => queue_empty = false,
                }
                while let Some(r) = flight.try_join_next() {
                    take(Some(r), &mut done);
                }
            }
            if !done.is_empty()
                && (done.len() >= RECORD_MAX
                    || recorded_at.elapsed() >= RECORD_EVERY
                    || flight.is_empty())
            {
                if let Err(e) = self.record_all(&done).await {
                    // Not written down: the leases run out and the
                    // messages are sent again (at least once, never lost).
                    tracing::error!(error = %e, "recording mail results failed");
                }
                done.clear();
                recorded_at = std::time::Instant::now();
            }
        }
        tracing::info!("mail worker stopped");
    }

    async fn claim(&self, n: usize) -> anyhow::Result<Vec<OutboxRow>> {
        let mut tx = self.store.begin().await?;
        let rows = store::outbox::claim(
            &mut tx,
            self.store.backend(),
            now_millis(),
            self.config.mail_lease_secs * 1000,
            i64::try_from(n).unwrap_or(1),
        )
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn until_next_due(&self) -> Duration {
        let Ok(mut c) = self.store.read().await else {
            return IDLE_POLL;
        };
        match store::outbox::next_due(&mut c).await {
            Ok(Some(t)) => Duration::from_millis(
                (t - now_millis()).clamp(10, IDLE_POLL.as_millis() as i64) as u64,
            ),
            _ => IDLE_POLL,
        }
    }

    /// One round, for tests and tools: claims up to a window of due
    /// messages, sends them, records the results. Returns how many.
    #[tracing::instrument(name = "mail_tick", skip_all)]
    pub async fn tick(&self) -> anyhow::Result<usize> {
        let batch = self.claim(WINDOW).await?;
        let mut set = tokio::task::JoinSet::new();
        for row in batch {
            let me = self.clone();
            set.spawn(async move {
                let outcome = me.deliver(&row).await;
                (row, outcome)
            });
        }
        let mut done = Vec::new();
        while let Some(r) = set.join_next().await {
            take(Some(r), &mut done);
        }
        self.record_all(&done).await?;
        Ok(done.len())
    }

    /// Writes a group of results in one transaction.
    async fn record_all(&self, done: &[(OutboxRow, Outcome)]) -> anyhow::Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        let now = now_millis();
        // The common case, delivered, is two statements for the group; the
        // rare retries and failures are recorded one by one.
        let sent: Vec<&OutboxRow> = done
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Sent))
            .map(|(r, _)| r)
            .collect();
        let ids: Vec<_> = sent.iter().map(|r| r.id).collect();
        store::outbox::mark_sent_many(&mut tx, &ids, now).await?;
        let invites: Vec<_> = sent.iter().filter_map(|r| r.invite_id).collect();
        store::invites::set_sent_many(&mut tx, &invites, now).await?;
        for (row, outcome) in done {
            record(&mut tx, row, outcome).await?;
        }
        let has_invites = done.iter().any(|(r, _)| r.invite_id.is_some());
        let queued = if has_invites
            && self
                .subscriptions
                .anyone_wants_on(&mut tx, &["invite.sent", "invite.failed"])
                .await?
        {
            invite_events(&mut tx, &self.config.public_url, done).await?
        } else {
            0
        };
        tx.commit().await?;
        if queued > 0 {
            self.webhook_wakeup.notify_one();
        }
        metrics::histogram!("cc_mail_record_group_size").record(done.len() as f64);
        for (row, outcome) in done {
            match outcome {
                Outcome::Sent => {
                    metrics::counter!("cc_mail_sent_total", "kind" => row.kind.clone()).increment(1)
                }
                Outcome::Retry { reason, .. } => {
                    metrics::counter!("cc_mail_retry_total").increment(1);
                    tracing::warn!(message = %row.id, attempt = row.attempts, %reason, "mail delivery failed; will retry");
                }
                Outcome::Failed { reason } => {
                    metrics::counter!("cc_mail_failed_total").increment(1);
                    tracing::warn!(message = %row.id, %reason, "mail delivery failed for good");
                }
                Outcome::Dropped { .. } => {}
            }
        }
        Ok(())
    }

    #[tracing::instrument(name = "mail_deliver", skip_all, fields(outbox = %row.id, kind = %row.kind))]
    async fn deliver(&self, row: &OutboxRow) -> Outcome {
        let rendered = match self.render(row).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Outcome::Dropped {
                    reason: "the invite was revoked or used before sending".into(),
                };
            }
            Err(e) => {
                return self.outcome(
                    row,
                    SendError::temporary(format!("cannot prepare the message: {e}")),
                );
            }
        };
        let msg = match build_message(
            &self.config.mail_from,
            &row.recipient,
            &rendered,
            &row.id.to_db(),
        ) {
            Ok(m) => m,
            Err(e) => return self.outcome(row, e),
        };
        match self.transport.send(&row.id.to_db(), msg).await {
            Ok(()) => Outcome::Sent,
            Err(e) => self.outcome(row, e),
        }
    }

    fn outcome(&self, row: &OutboxRow, e: SendError) -> Outcome {
        if e.permanent || row.attempts >= self.config.mail_max_attempts {
            Outcome::Failed { reason: e.reason }
        } else {
            let jitter = crate::keys::random_bytes::<1>()
                .map(|b| b[0])
                .unwrap_or(128);
            Outcome::Retry {
                at: now_millis() + backoff_ms(self.config.mail_retry_secs, row.attempts, jitter),
                reason: e.reason,
            }
        }
    }

    async fn render(&self, row: &OutboxRow) -> anyhow::Result<Option<Rendered>> {
        match MessageKind::parse(&row.kind) {
            Some(MessageKind::Invite) => {
                let id = row
                    .invite_id
                    .ok_or_else(|| anyhow::anyhow!("invite message without invite"))?;
                let mut c = self.store.read().await?;
                let Some(inv) = store::invites::get(&mut c, id).await? else {
                    return Ok(None);
                };
                if inv.used_at.is_some() || inv.revoked_at.is_some() {
                    return Ok(None);
                }
                let code = self.key.decrypt(&inv.code_enc)?;
                Ok(Some(render_invite(
                    &inv,
                    code.expose(),
                    &self.config.install_url,
                )?))
            }
            // The link is read (and decrypted) now; a used or expired
            // link is not sent.
            Some(MessageKind::PasswordReset) => {
                let p: serde_json::Value =
                    serde_json::from_str(row.payload.as_deref().unwrap_or("{}"))?;
                let id = p["reset_id"].as_str().unwrap_or("");
                let mut c = self.store.read().await?;
                let Some(r) = store::password_resets::for_mail(&mut c, id, now_millis()).await?
                else {
                    return Ok(None);
                };
                let token = self.key.decrypt(&r.token_enc)?;
                Ok(Some(crate::mail::render_password_reset(
                    &self.config.public_url,
                    &r.email,
                    token.expose(),
                )))
            }
            // Rendered when queued (they carry no secret); a usage report
            // carries its CSV file along.
            Some(
                MessageKind::Test
                | MessageKind::Alert
                | MessageKind::Digest
                | MessageKind::UsageReport,
            ) => {
                let p: serde_json::Value =
                    serde_json::from_str(row.payload.as_deref().unwrap_or("{}"))?;
                let attachment = match (p["attachment_name"].as_str(), p["attachment"].as_str()) {
                    (Some(name), Some(body)) => Some(super::Attachment {
                        filename: name.to_string(),
                        content_type: "text/csv; charset=utf-8".into(),
                        body: body.as_bytes().to_vec(),
                    }),
                    _ => None,
                };
                Ok(Some(Rendered {
                    subject: p["subject"]
                        .as_str()
                        .unwrap_or("Command Center")
                        .to_string(),
                    text: p["text"].as_str().unwrap_or("").to_string(),
                    html: None,
                    attachment,
                }))
            }
            None => anyhow::bail!("unknown message kind {}", row.kind),
        }
    }
}

/// A finished send task's result (a panicked one leaves its row leased;
/// it is retried after the lease).
fn take(
    r: Option<Result<(OutboxRow, Outcome), tokio::task::JoinError>>,
    done: &mut Vec<(OutboxRow, Outcome)>,
) {
    match r {
        Some(Ok(pair)) => done.push(pair),
        Some(Err(e)) => tracing::error!(error = %e, "a send task failed"),
        None => {}
    }
}

/// `invite.sent` or `invite.failed` for the group's invites, for their
/// vendors' webhooks, in the transaction that records the outcomes: one
/// read of the invites and one insert, whatever the group's size. Answers
/// how many deliveries were queued.
async fn invite_events(
    conn: &mut store::Conn,
    public_url: &str,
    done: &[(OutboxRow, Outcome)],
) -> store::Result<u64> {
    let wanted: Vec<(crate::domain::InviteId, &'static str, Option<&str>)> = done
        .iter()
        .filter_map(|(row, outcome)| match outcome {
            Outcome::Sent => Some((row.invite_id?, "invite.sent", None)),
            Outcome::Failed { reason } => {
                Some((row.invite_id?, "invite.failed", Some(reason.as_str())))
            }
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let ids: Vec<crate::domain::InviteId> = wanted.iter().map(|(id, _, _)| *id).collect();
    let invites: std::collections::HashMap<crate::domain::InviteId, store::invites::InviteRow> =
        store::invites::get_many(conn, &ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
    let now = now_millis();
    let events: Vec<_> = wanted
        .iter()
        .filter_map(|(id, event_type, reason)| {
            let i = invites.get(id)?;
            let data = serde_json::json!({
                "invite_id": i.id.to_db(), "license_id": i.license_id.to_db(),
                "customer_id": i.customer_id.to_db(), "username": i.username, "reason": reason,
            });
            Some(crate::service::webhooks::new_event(
                public_url,
                Some(i.vendor_id),
                event_type,
                data,
                Some(&format!("/licenses/{}", i.customer_id)),
                now,
            ))
        })
        .collect();
    store::webhooks::emit_many(conn, &events).await
}

async fn record(conn: &mut store::Conn, row: &OutboxRow, outcome: &Outcome) -> store::Result<()> {
    let invite = row.invite_id;
    match outcome {
        // Delivered messages are recorded for the whole group at once
        // (`record_all`).
        Outcome::Sent => {}
        Outcome::Retry { at, reason } => {
            store::outbox::mark_retry(conn, row.id, *at, reason).await?;
            if let Some(i) = invite {
                store::invites::set_delivery(
                    conn,
                    i,
                    DeliveryState::Retrying,
                    Some(reason),
                    Some(*at),
                    None,
                )
                .await?;
            }
        }
        Outcome::Failed { reason } => {
            store::outbox::mark_failed(conn, row.id, reason).await?;
            if let Some(i) = invite {
                store::invites::set_delivery(
                    conn,
                    i,
                    DeliveryState::Failed,
                    Some(reason),
                    None,
                    None,
                )
                .await?;
            }
        }
        Outcome::Dropped { reason } => store::outbox::mark_failed(conn, row.id, reason).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        assert_eq!(backoff_ms(30, 1, 128), 30_000);
        assert_eq!(backoff_ms(30, 2, 128), 60_000);
        assert_eq!(backoff_ms(30, 3, 128), 120_000);
        assert_eq!(backoff_ms(30, 20, 128), 3_600_000, "capped at an hour");
        assert!(
            backoff_ms(30, 1, 0) >= 24_000 && backoff_ms(30, 1, 255) <= 36_000,
            "±20 %"
        );
    }
}
