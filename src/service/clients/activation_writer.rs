//! The group-commit writer of activations: many activations in one
//! transaction and a handful of statements, each request answered only
//! after the transaction committed. It reads, asks the pure rule
//! (`domain::activation::decide`) and writes what the rule granted.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};

use super::activation::{ACTIVATION_FAILURES, WINDOW_MS, is_retryable};
use super::batching::next_batch;
use super::{Activated, client_audit_row};
use crate::domain::activation::{self, Attempt, Refusal};
use crate::domain::client::Machine;
use crate::domain::invite::SoftwareType;
use crate::domain::license as lic;
use crate::domain::{Conflict, InstallationId, LicenseId, now_millis};
use crate::keys::random_token;
use crate::service::{Result, ServiceError, Services};
use crate::store::{self, StoreError};

/// One activation waiting for the batch writer.
#[derive(Debug)]
pub struct ActivationJob {
    pub(super) username: String,
    pub(super) code_hash: String,
    pub(super) machine: Machine,
    /// The rate-limit keys (username, address), reserved by the writer.
    pub(super) limit_keys: [String; 2],
    pub(super) ip: Option<String>,
}

type ActivationReply = oneshot::Sender<Result<Activated>>;

/// Group commit for activations: many activations in one transaction and a
/// handful of statements ([`Services::activate_batch`]), each answered
/// only after the transaction committed. A refused activation writes
/// nothing.
#[derive(Debug)]
pub struct ActivationSink {
    pub(super) tx: mpsc::Sender<(ActivationJob, ActivationReply)>,
}

/// Activations per transaction at most.
const ACTIVATION_BATCH: usize = 64;

impl ActivationSink {
    /// The sender half, and the receiver for [`ActivationSink::run`].
    pub fn channel() -> (
        ActivationSink,
        mpsc::Receiver<(ActivationJob, ActivationReply)>,
    ) {
        let (tx, rx) = mpsc::channel(4096);
        (ActivationSink { tx }, rx)
    }

    /// The writer task: drains and ends when `stop` is set (it holds a
    /// `Services`, whose sender keeps the queue open, so it never ends by
    /// itself).
    #[tracing::instrument(name = "activation_writer", skip_all)]
    pub async fn run(
        services: Services,
        mut rx: mpsc::Receiver<(ActivationJob, ActivationReply)>,
        mut stop: watch::Receiver<bool>,
    ) {
        while let Some(batch) = next_batch(&mut rx, &mut stop, ACTIVATION_BATCH).await {
            metrics::histogram!("cc_activation_batch_size").record(batch.len() as f64);
            let started = std::time::Instant::now();
            let outcome = async {
                let mut tx = services.store.begin().await?;
                let jobs: Vec<&ActivationJob> = batch.iter().map(|(job, _)| job).collect();
                let (results, queued) = services.activate_batch(&mut tx, &jobs).await?;
                tx.commit().await.map_err(StoreError::from)?;
                if queued > 0 {
                    services.webhook_wakeup.notify_one();
                }
                Ok::<_, ServiceError>(results)
            }
            .await;
            metrics::histogram!("cc_activation_batch_seconds")
                .record(started.elapsed().as_secs_f64());
            match outcome {
                Ok(results) => {
                    for ((_, reply), r) in batch.into_iter().zip(results) {
                        let _ = reply.send(r);
                    }
                }
                // The transaction as a whole failed: nothing of the batch
                // was stored; every request hears the cause (contention is
                // retried by the caller).
                Err(e) => {
                    let text = e.to_string();
                    let retryable =
                        matches!(&e, ServiceError::Internal(inner) if is_retryable(inner));
                    for (_, reply) in batch {
                        let err = if retryable {
                            ServiceError::Internal(anyhow::Error::new(StoreError::Contention(
                                text.clone(),
                            )))
                        } else {
                            ServiceError::Internal(anyhow::anyhow!(
                                "activation batch failed: {text}"
                            ))
                        };
                        let _ = reply.send(Err(err));
                    }
                }
            }
        }
    }
}

impl Services {
    /// A batch of activations inside one transaction the caller owns, in
    /// a fixed number of statements whatever the batch size: the invites
    /// and their licenses are read once, [`activation::decide`] decides
    /// each attempt in order as if alone, then the seats, invites,
    /// installations and audit rows are written in one statement each.
    /// The guarded seat UPDATE stays the judge: should it refuse (another
    /// instance took seats since the read), seats are taken one at a time.
    /// The `installation.activated` events of the batch are queued in one
    /// statement when anyone subscribes; the second value is how many
    /// deliveries that queued.
    #[tracing::instrument(name = "activation_batch", skip_all, fields(size = jobs.len()))]
    async fn activate_batch(
        &self,
        tx: &mut store::Conn,
        jobs: &[&ActivationJob],
    ) -> Result<(Vec<Result<Activated>>, u64)> {
        let now = now_millis();
        let mut results: Vec<Option<Result<Activated>>> = jobs.iter().map(|_| None).collect();
        // Rate limits, decided here in order under a lock on the counters
        // (this transaction): a job whose username or address has used up
        // its failures is refused before its code is looked at, and each
        // wrong code counts at once for the jobs after it — so a burst of
        // guesses, however parallel and on however many instances, gets
        // at most the limit evaluated.
        let keys: Vec<&str> = jobs
            .iter()
            .flat_map(|j| j.limit_keys.iter().map(String::as_str))
            .collect();
        let counted = store::ratelimit::lock_failures(tx, &keys, WINDOW_MS, now).await?;
        let mut failures: HashMap<&str, (i64, i64)> = keys.iter().copied().zip(counted).collect();
        let usernames: Vec<&str> = jobs.iter().map(|j| j.username.as_str()).collect();
        let rows = store::invites::find_for_activation(tx, &usernames).await?;
        let code_of: HashMap<&str, &str> = rows
            .iter()
            .map(|r| (r.invite.username.as_str(), r.invite.code_hash.as_str()))
            .collect();
        let mut added: HashMap<&str, i64> = HashMap::new();
        let mut live: Vec<usize> = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let blocked = job.limit_keys.iter().find_map(|k| {
                let (n, start) = failures.get(k.as_str()).copied().unwrap_or((0, now));
                (n >= ACTIVATION_FAILURES).then(|| ((start + WINDOW_MS - now) / 1000).max(1) as u64)
            });
            if let Some(retry_after_secs) = blocked {
                results[i] = Some(Err(ServiceError::RateLimited { retry_after_secs }));
                continue;
            }
            let right = code_of
                .get(job.username.as_str())
                .is_some_and(|h| crate::keys::same(h, &job.code_hash));
            if !right {
                for k in &job.limit_keys {
                    let e = failures.entry(k.as_str()).or_insert((0, now));
                    e.0 += 1;
                    *added.entry(k.as_str()).or_default() += 1;
                }
            }
            live.push(i);
        }
        for (key, n) in &added {
            store::ratelimit::add_failures(tx, key, *n, WINDOW_MS, now).await?;
        }
        let found = rows
            .iter()
            .map(store::invites::ActivationRow::terms)
            .collect::<std::result::Result<Vec<_>, StoreError>>()?;
        let attempts: Vec<Attempt> = live
            .iter()
            .map(|&i| Attempt {
                username: &jobs[i].username,
                code_hash: &jobs[i].code_hash,
            })
            .collect();
        let decisions = activation::decide(&attempts, &found, now, lic::today(), crate::keys::same);

        // (job index, index into `found`)
        let mut grants: Vec<(usize, usize)> = Vec::new();
        for (&i, d) in live.iter().zip(decisions) {
            match d {
                Ok(f) => grants.push((i, f)),
                Err(Refusal::InvalidCredentials) => {
                    results[i] = Some(Err(ServiceError::InvalidCredentials))
                }
                Err(Refusal::Conflict(c)) => results[i] = Some(Err(ServiceError::conflict(c))),
            }
        }
        let pool = |f: usize| (found[f].1.id, found[f].0.software_type);

        // Replacing a computer: the replaced installation is retired and its
        // seat goes to the new one (when it was still live; otherwise the
        // new one needs a free seat like any other).
        let replaced = |f: usize| rows[f].invite.replaces_installation_id.as_deref();
        let mut inherited: HashSet<usize> = HashSet::new();
        for &(i, f) in &grants {
            if found[f].0.inherits_seat
                && let Some(old) = replaced(f)
                && store::installations::retire_replaced(tx, old, now).await?
            {
                inherited.insert(i);
            }
        }

        // Seats: one guarded UPDATE per license and type, in a fixed order
        // (on PostgreSQL two batches then lock licenses alike, no deadlock).
        let mut wanted: BTreeMap<(LicenseId, SoftwareType), i64> = BTreeMap::new();
        for &(i, f) in &grants {
            if !inherited.contains(&i) {
                *wanted.entry(pool(f)).or_default() += 1;
            }
        }
        let mut short: HashSet<(LicenseId, SoftwareType)> = HashSet::new();
        for (&(license, kind), &n) in &wanted {
            if !store::installations::take_seats(tx, license, kind, n).await? {
                short.insert((license, kind));
            }
        }
        if !short.is_empty() {
            // Fewer seats than the read showed: one at a time, in order.
            let mut gone: HashSet<(LicenseId, SoftwareType)> = HashSet::new();
            let mut kept = Vec::with_capacity(grants.len());
            for (i, f) in grants {
                let p = pool(f);
                if !inherited.contains(&i)
                    && short.contains(&p)
                    && (gone.contains(&p) || !store::installations::take_seat(tx, p.0, p.1).await?)
                {
                    gone.insert(p);
                    results[i] = Some(Err(ServiceError::conflict(Conflict::SeatsExhausted)));
                    continue;
                }
                kept.push((i, f));
            }
            grants = kept;
        }

        // Invites: marked used; one another instance used first loses here
        // and gives its seat back.
        let ids: Vec<String> = grants.iter().map(|&(_, f)| found[f].0.id.to_db()).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let marked: HashSet<String> = store::installations::use_invites(tx, &id_refs, now)
            .await?
            .into_iter()
            .collect();
        if marked.len() != grants.len() {
            let mut kept = Vec::with_capacity(grants.len());
            for (i, f) in grants {
                if marked.contains(&found[f].0.id.to_db()) {
                    kept.push((i, f));
                } else if inherited.contains(&i) {
                    if let Some(old) = replaced(f) {
                        store::installations::unretire_replaced(tx, old).await?;
                    }
                    results[i] = Some(Err(ServiceError::conflict(Conflict::InviteUsed)));
                } else {
                    let (l, k) = pool(f);
                    store::installations::release_seat(tx, l, k).await?;
                    results[i] = Some(Err(ServiceError::conflict(Conflict::InviteUsed)));
                }
            }
            grants = kept;
        }

        // Installations and audit rows.
        let mut made = Vec::with_capacity(grants.len());
        for &(i, f) in &grants {
            let token = random_token()?;
            let token_hash = self.key.lookup_hash("client", token.expose());
            made.push((i, f, InstallationId::new(), token, token_hash));
        }
        let new_rows: Vec<store::installations::NewInstallationRow> = made
            .iter()
            .map(|(i, f, id, _, token_hash)| {
                let job = jobs[*i];
                let invite = &rows[*f].invite;
                store::installations::NewInstallationRow {
                    id: *id,
                    license_id: found[*f].0.license_id,
                    invite_id: Some(invite.id),
                    username: &job.username,
                    software_type: found[*f].0.software_type,
                    hostname: &job.machine.hostname,
                    os: &job.machine.os,
                    client_version: &job.machine.client_version,
                    store_deleted_days: invite.store_deleted_days,
                    token_hash,
                    trial_email: None,
                }
            })
            .collect();
        store::installations::insert_many(tx, &new_rows, now).await?;
        // The new installation continues the replaced one's repository.
        for (_, f, id, ..) in &made {
            if let Some(old) = replaced(*f) {
                store::installations::hand_over(tx, old, *id).await?;
                if let Ok(old) = old.parse::<InstallationId>() {
                    self.client_cache.forget(old);
                }
            }
        }
        let vendors = made
            .iter()
            .map(|(_, f, ..)| rows[*f].invite.vendor_id)
            .collect::<Vec<_>>();
        let labels: Vec<String> = made
            .iter()
            .map(|(i, ..)| format!("{}@{}", jobs[*i].username, jobs[*i].machine.hostname))
            .collect();
        let audits: Vec<store::audit::NewAudit> = made
            .iter()
            .zip(&labels)
            .zip(&vendors)
            .map(|(((i, f, id, _, _), label), vendor)| {
                let job = jobs[*i];
                let invite = &rows[*f].invite;
                client_audit_row(
                    now,
                    *vendor,
                    label,
                    "installation.activate",
                    id,
                    json!({"username": job.username, "hostname": job.machine.hostname, "os": job.machine.os, "client_version": job.machine.client_version, "license_id": invite.license_id, "software_type": invite.software_type, "replaces": invite.replaces_installation_id}),
                    job.ip.clone(),
                )
            })
            .collect();
        store::audit::insert_many(tx, &audits).await?;

        // installation.activated, for the vendors anyone listens to.
        let mut events = Vec::new();
        for ((i, f, id, ..), vendor) in made.iter().zip(&vendors) {
            if !self
                .subscriptions
                .wants_on(tx, Some(*vendor), "installation.activated")
                .await?
            {
                continue;
            }
            let (job, invite) = (jobs[*i], &rows[*f].invite);
            let data = json!({
                "installation_id": id.to_db(),
                "license_id": invite.license_id.to_db(),
                "customer_id": invite.customer_id.to_db(),
                "invite_id": invite.id.to_db(),
                "username": job.username,
                "hostname": job.machine.hostname,
                "os": job.machine.os,
                "client_version": job.machine.client_version,
                "software_type": invite.software_type,
                "replaces": invite.replaces_installation_id,
            });
            let path = format!("/installations/{}", id.to_db());
            events.push(crate::service::webhooks::new_event(
                &self.config.public_url,
                Some(*vendor),
                "installation.activated",
                data,
                Some(&path),
                now,
            ));
        }
        let queued = store::webhooks::emit_many(tx, &events).await?;

        // The answers, from what this transaction read (no read-back).
        for (i, f, id, token, _) in made {
            let job = jobs[i];
            let row = rows[f].installation(
                id,
                &job.username,
                &job.machine.hostname,
                &job.machine.os,
                &job.machine.client_version,
                now,
            )?;
            let policy = self.policy_of(&row)?;
            results[i] = Some(Ok(Activated {
                installation_id: id.0,
                token: command_center_wire::Secret::new(token.into_inner()),
                software_type: policy.software_type,
                policy,
            }));
        }
        let results = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(ServiceError::Internal(anyhow::anyhow!(
                        "an activation of the batch was left undecided"
                    )))
                })
            })
            .collect();
        Ok((results, queued))
    }
}
