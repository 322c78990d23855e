//! Backup clients: activation (taking a seat), policy, reports,
//! deactivation, trials and connecting a trial client to a license.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::{Actor, Result, ServiceError, Services};
use crate::domain::invite::{SoftwareType, normalize_code};
use crate::domain::license::{self as lic, LicenseState};
use crate::domain::{CustomerId, InstallationId, LicenseId, Millis, Secret, now_millis, rfc3339};
use crate::keys::random_token;
use crate::store::{self, StoreError, installations::InstallationRow};

/// Activation failures allowed per username and per address in a window.
pub const ACTIVATION_FAILURES: i64 = 10;
const WINDOW_MS: i64 = 15 * 60 * 1000;

/// What a backup client is told to do.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Policy {
    pub installation_id: InstallationId,
    pub username: String,
    pub software_type: SoftwareType,
    pub store_deleted_days: i64,
    /// 0 = no per-client limit.
    pub client_limit_bytes: i64,
    pub total_space_bytes: i64,
    pub license_type: String,
    /// active, suspended or expired (past Valid to).
    pub license_state: LicenseState,
    pub valid_to: String,
    /// The customer's encryption key, when one is set.
    pub encryption_key: Option<String>,
}

/// An activation request.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct ActivateRequest {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    #[schema(value_type = String)]
    pub activation_code: Secret<String>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub client_version: String,
}

/// A successful activation: the client keeps the token.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Activated {
    pub installation_id: InstallationId,
    pub token: String,
    pub software_type: SoftwareType,
    pub policy: Policy,
}

/// A trial request (no invite).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct TrialRequest {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub software_type: String,
    #[serde(default)]
    pub client_version: String,
}

/// One backup run, as a client reports it.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct ReportInput {
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// success, warning or failed.
    pub status: String,
    #[serde(default)]
    pub bytes_total: i64,
    #[serde(default)]
    pub bytes_uploaded: i64,
    #[serde(default)]
    pub files_total: i64,
    #[serde(default)]
    pub files_changed: i64,
    #[serde(default)]
    pub message: String,
}

/// An installation as operators see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Installation {
    pub id: InstallationId,
    pub license_id: LicenseId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub username: String,
    pub software_type: SoftwareType,
    pub hostname: String,
    pub os: String,
    pub client_version: String,
    pub trial_email: Option<String>,
    pub activated_at: String,
    pub deactivated_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub last_backup_at: Option<String>,
    pub last_backup_status: Option<String>,
    pub storage_used_bytes: i64,
}

fn client_text(
    field: &'static str,
    raw: &str,
    max: usize,
) -> std::result::Result<String, crate::domain::FieldError> {
    super::text(field, raw, max, true)
}

fn parse_time(
    field: &'static str,
    raw: &str,
) -> std::result::Result<Millis, crate::domain::FieldError> {
    time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| crate::domain::FieldError::new(field, "error.rfc3339"))
}

fn err(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Conflict {
        code,
        message: message.into(),
    }
}

/// Group commit for reports: many requests, one transaction, each request
/// answered only after the transaction holding its report committed.
#[derive(Clone, Debug)]
pub struct ReportSink {
    tx: mpsc::Sender<(
        store::installations::NewReport,
        oneshot::Sender<std::result::Result<(), String>>,
    )>,
}

/// Reports written per transaction at most.
const REPORT_BATCH: usize = 512;

impl ReportSink {
    /// Starts the writer task.
    pub fn start(store: store::Store) -> ReportSink {
        let (tx, mut rx) = mpsc::channel::<(
            store::installations::NewReport,
            oneshot::Sender<std::result::Result<(), String>>,
        )>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < REPORT_BATCH {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) => break,
                    }
                }
                metrics::histogram!("cc_report_batch_size").record(batch.len() as f64);
                let (reports, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let started = std::time::Instant::now();
                let all = store::installations::store_report_batch(&store, &reports).await;
                metrics::histogram!("cc_report_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
                match all {
                    Ok(()) => {
                        for reply in replies {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    // One bad report (say, its installation was deleted in
                    // between) must not sink the others: one by one.
                    Err(_) => {
                        for (r, reply) in reports.into_iter().zip(replies) {
                            let one = async {
                                let mut t = store.begin().await?;
                                store::installations::insert_report(&mut t, &r).await?;
                                t.commit().await?;
                                Ok::<(), StoreError>(())
                            };
                            let _ = reply.send(one.await.map_err(|e| e.to_string()));
                        }
                    }
                }
            }
        });
        ReportSink { tx }
    }
}

impl Services {
    /// The policy a client is sent, with the customer's encryption key.
    fn policy_of(&self, n: &InstallationRow) -> Result<Policy> {
        let key = match &n.encryption_key_enc {
            Some(enc) => Some(self.key.decrypt(enc)?.into_inner()),
            None => None,
        };
        Ok(Policy {
            encryption_key: key,
            ..self.policy_terms(n)?
        })
    }

    /// The same policy without the encryption key (never decrypted here):
    /// what operators are shown of it.
    pub(super) fn policy_terms(&self, n: &InstallationRow) -> Result<Policy> {
        let saved = LicenseState::parse(&n.license_state)
            .map_err(|_| anyhow::anyhow!("corrupt license state"))?;
        let valid_to = lic::parse_date("valid_to", &n.valid_to)
            .map_err(|_| anyhow::anyhow!("corrupt valid_to"))?;
        Ok(Policy {
            installation_id: n.installation_id()?,
            username: n.username.clone(),
            software_type: SoftwareType::parse(&n.software_type)
                .map_err(|_| anyhow::anyhow!("corrupt software type"))?,
            store_deleted_days: n.store_deleted_days,
            client_limit_bytes: n.client_limit_gb.saturating_mul(1_000_000_000),
            total_space_bytes: lic::total_space_gb(
                self.seat_space(),
                n.standard_seats,
                n.server_seats,
                n.extra_space_gb,
            )
            .saturating_mul(1_000_000_000),
            license_type: n.license_type.clone(),
            license_state: LicenseState::effective(saved, valid_to, lic::today()),
            valid_to: n.valid_to.clone(),
            encryption_key: None,
        })
    }

    pub(super) fn installation_view(&self, n: InstallationRow) -> Result<Installation> {
        let ts = |v: Option<i64>| v.map(rfc3339);
        Ok(Installation {
            id: n.installation_id()?,
            license_id: n
                .license_id
                .parse()
                .map_err(|_| anyhow::anyhow!("corrupt license id"))?,
            customer_id: n
                .customer_id
                .parse()
                .map_err(|_| anyhow::anyhow!("corrupt customer id"))?,
            customer_name: n.customer_name,
            username: n.username,
            software_type: SoftwareType::parse(&n.software_type)
                .map_err(|_| anyhow::anyhow!("corrupt software type"))?,
            hostname: n.hostname,
            os: n.os,
            client_version: n.client_version,
            trial_email: n.trial_email,
            activated_at: rfc3339(n.activated_at),
            deactivated_at: ts(n.deactivated_at),
            last_seen_at: ts(n.last_seen_at),
            last_backup_at: ts(n.last_backup_at),
            last_backup_status: n.last_backup_status,
            storage_used_bytes: n.storage_used_bytes,
        })
    }

    async fn check_activation_limits(&self, keys: &[String]) -> Result<()> {
        let now = now_millis();
        let mut c = self.store.read().await?;
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        for (n, start) in store::ratelimit::failures(&mut c, &keys, WINDOW_MS, now).await? {
            if n >= ACTIVATION_FAILURES {
                return Err(ServiceError::RateLimited {
                    retry_after_secs: ((start + WINDOW_MS - now) / 1000).max(1) as u64,
                });
            }
        }
        Ok(())
    }

    async fn record_activation_failure(&self, keys: &[String]) -> Result<()> {
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        for key in keys {
            store::ratelimit::record_failure(&mut tx, key, WINDOW_MS, now).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Activates a backup client with a username and activation code. In
    /// one transaction: the invite is checked, a seat of its type taken,
    /// the invite marked used, the installation and the audit row written.
    pub async fn activate(&self, req: &ActivateRequest, ip: Option<String>) -> Result<Activated> {
        let username = req.username.trim().to_lowercase();
        let keys = [
            format!("activate:user:{username}"),
            format!("activate:addr:{}", ip.as_deref().unwrap_or("-")),
        ];
        self.check_activation_limits(&keys).await?;
        let mut checks = super::Checks::default();
        let hostname = checks.take(client_text("hostname", &req.hostname, 255));
        let os = checks.take(client_text("os", &req.os, 255));
        let version = checks.take(super::text(
            "client_version",
            &req.client_version,
            64,
            false,
        ));
        checks.finish()?;
        let (Some(hostname), Some(os), Some(version)) = (hostname, os, version) else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "checks passed without values"
            )));
        };
        let code_hash = self
            .key
            .lookup_hash("activation", &normalize_code(req.activation_code.expose()));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let job = ActivationJob {
                username: username.clone(),
                code_hash: code_hash.clone(),
                hostname: hostname.clone(),
                os: os.clone(),
                version: version.clone(),
                ip: ip.clone(),
            };
            let (reply, answer) = oneshot::channel();
            self.activations
                .tx
                .send((job, reply))
                .await
                .map_err(|_| anyhow::anyhow!("activation writer stopped"))?;
            let result = answer
                .await
                .map_err(|_| anyhow::anyhow!("activation writer dropped the request"))?;
            match result {
                Err(ServiceError::InvalidCredentials) => {
                    self.record_activation_failure(&keys).await?;
                    metrics::counter!("cc_activations_total", "result" => "invalid_credentials")
                        .increment(1);
                    return Err(ServiceError::InvalidCredentials);
                }
                // PostgreSQL may abort a transaction under contention
                // (deadlock, serialization): that is ours to retry, never
                // the client's 5xx.
                Err(ServiceError::Internal(e)) if attempt < 5 && is_retryable(&e) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                    continue;
                }
                Err(e) => {
                    if let ServiceError::Conflict { code, .. } = &e {
                        metrics::counter!("cc_activations_total", "result" => *code).increment(1);
                    }
                    return Err(e);
                }
                Ok(a) => {
                    metrics::counter!("cc_activations_total", "result" => "ok").increment(1);
                    return Ok(a);
                }
            }
        }
    }

    /// A batch of activations inside one transaction the caller owns, in
    /// a fixed number of statements whatever the batch size: the invites
    /// and their licenses are read once, each activation is decided in
    /// order as if alone (an invite or a seat taken by an earlier one of
    /// the batch is gone for the later ones), then the seats, invites,
    /// installations and audit rows are written in one statement each.
    /// The guarded seat UPDATE stays the judge: should it refuse (another
    /// instance took seats since the read), seats are taken one at a time.
    async fn activate_batch(
        &self,
        tx: &mut store::Conn,
        jobs: &[&ActivationJob],
    ) -> Result<Vec<Result<Activated>>> {
        use std::collections::{HashMap, HashSet};
        let now = now_millis();
        let today = lic::today();
        let usernames: Vec<&str> = jobs.iter().map(|j| j.username.as_str()).collect();
        let rows = store::invites::find_for_activation(tx, &usernames).await?;
        let invite_of: HashMap<&str, (&store::invites::InviteRow, &store::licenses::LicenseTerms)> =
            rows.iter()
                .map(|r| (r.invite.username.as_str(), (&r.invite, &r.license)))
                .collect();

        // Decide, in order.
        let mut results: Vec<Option<Result<Activated>>> = jobs.iter().map(|_| None).collect();
        let mut used_here: HashSet<&str> = HashSet::new();
        let mut free: HashMap<(&str, &str), i64> = HashMap::new();
        // (job index, invite, license)
        let mut grants: Vec<(
            usize,
            &store::invites::InviteRow,
            &store::licenses::LicenseTerms,
        )> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let decided = (|| {
                let (invite, license) = invite_of
                    .get(job.username.as_str())
                    .copied()
                    .ok_or(ServiceError::InvalidCredentials)?;
                if !crate::web::session::same(&invite.code_hash, &job.code_hash) {
                    return Err(ServiceError::InvalidCredentials);
                }
                if invite.used_at.is_some() || used_here.contains(invite.id.as_str()) {
                    return Err(err(
                        "invite_used",
                        "This activation code has been used already.",
                    ));
                }
                if invite.expires_at <= now {
                    return Err(err(
                        "invite_expired",
                        "This invite has expired; ask for a new one.",
                    ));
                }
                let valid_to = lic::parse_date("valid_to", &license.valid_to)
                    .map_err(|_| anyhow::anyhow!("corrupt valid_to"))?;
                if today > valid_to {
                    return Err(err("license_expired", "The license has expired."));
                }
                if license.state != "active" {
                    return Err(err("license_inactive", "The license is not active."));
                }
                let left = free
                    .entry((license.id.as_str(), invite.software_type.as_str()))
                    .or_insert(match invite.software_type.as_str() {
                        "server" => license.server_seats - license.server_used,
                        _ => license.standard_seats - license.standard_used,
                    });
                if *left <= 0 {
                    return Err(seats_exhausted());
                }
                *left -= 1;
                Ok((invite, license))
            })();
            match decided {
                Ok((invite, license)) => {
                    used_here.insert(invite.id.as_str());
                    grants.push((i, invite, license));
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }

        // Seats: one guarded UPDATE per license and type, in a fixed order
        // (on PostgreSQL two batches then lock licenses alike, no deadlock).
        let mut wanted: std::collections::BTreeMap<(&str, &str), i64> = Default::default();
        for (_, invite, license) in &grants {
            *wanted
                .entry((license.id.as_str(), invite.software_type.as_str()))
                .or_default() += 1;
        }
        let mut short: HashSet<(&str, &str)> = HashSet::new();
        for (&(license, kind), &n) in &wanted {
            if !store::installations::take_seats(tx, license, kind, n).await? {
                short.insert((license, kind));
            }
        }
        if !short.is_empty() {
            // Fewer seats than the read showed: one at a time, in order.
            let mut gone: HashSet<(&str, &str)> = HashSet::new();
            let mut kept = Vec::with_capacity(grants.len());
            for (i, invite, license) in grants {
                let pool = (license.id.as_str(), invite.software_type.as_str());
                if short.contains(&pool) {
                    let license_id = license
                        .license_id()
                        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
                    if gone.contains(&pool)
                        || !store::installations::take_seat(tx, license_id, pool.1).await?
                    {
                        gone.insert(pool);
                        results[i] = Some(Err(seats_exhausted()));
                        continue;
                    }
                }
                kept.push((i, invite, license));
            }
            grants = kept;
        }

        // Invites: marked used; one another instance used first loses here
        // and gives its seat back.
        let ids: Vec<&str> = grants.iter().map(|(_, inv, _)| inv.id.as_str()).collect();
        let marked: HashSet<String> = store::installations::use_invites(tx, &ids, now)
            .await?
            .into_iter()
            .collect();
        if marked.len() != grants.len() {
            let mut kept = Vec::with_capacity(grants.len());
            for (i, invite, license) in grants {
                if marked.contains(&invite.id) {
                    kept.push((i, invite, license));
                } else {
                    store::installations::release_seat(tx, &license.id, &invite.software_type)
                        .await?;
                    results[i] = Some(Err(err(
                        "invite_used",
                        "This activation code has been used already.",
                    )));
                }
            }
            grants = kept;
        }

        // Installations and audit rows.
        let mut made = Vec::with_capacity(grants.len());
        for (i, invite, license) in &grants {
            let token = random_token()?;
            let token_hash = self.key.lookup_hash("client", token.expose());
            made.push((
                *i,
                *invite,
                *license,
                InstallationId::new(),
                token,
                token_hash,
            ));
        }
        let rows: Vec<store::installations::NewInstallationRow> = made
            .iter()
            .map(|(i, invite, _, id, _, token_hash)| {
                let job = jobs[*i];
                store::installations::NewInstallationRow {
                    id: *id,
                    license_id: &invite.license_id,
                    invite_id: Some(&invite.id),
                    username: &job.username,
                    software_type: &invite.software_type,
                    hostname: &job.hostname,
                    os: &job.os,
                    client_version: &job.version,
                    store_deleted_days: invite.store_deleted_days,
                    token_hash,
                    trial_email: None,
                }
            })
            .collect();
        store::installations::insert_many(tx, &rows, now).await?;
        let labels: Vec<String> = made
            .iter()
            .map(|(i, ..)| format!("{}@{}", jobs[*i].username, jobs[*i].hostname))
            .collect();
        let audits: Vec<store::audit::NewAudit> = made
            .iter()
            .zip(&labels)
            .map(|((i, invite, _, id, _, _), label)| {
                let job = jobs[*i];
                client_audit_row(
                    now,
                    &invite.vendor_id,
                    label,
                    "installation.activate",
                    id,
                    json!({"username": job.username, "hostname": job.hostname, "os": job.os, "client_version": job.version, "license_id": invite.license_id, "software_type": invite.software_type}),
                    job.ip.clone(),
                )
            })
            .collect();
        store::audit::insert_many(tx, &audits).await?;

        // The answers, from what this transaction read (no read-back).
        for (i, invite, license, id, token, _) in made {
            let job = jobs[i];
            let row = InstallationRow {
                id: id.to_db(),
                license_id: invite.license_id.clone(),
                license_type: license.r#type.clone(),
                license_state: license.state.clone(),
                valid_to: license.valid_to.clone(),
                standard_seats: license.standard_seats,
                server_seats: license.server_seats,
                extra_space_gb: license.extra_space_gb,
                client_limit_gb: license.client_limit_gb,
                customer_id: invite.customer_id.clone(),
                customer_name: invite.customer_name.clone(),
                encryption_key_enc: invite.encryption_key_enc.clone(),
                vendor_id: invite.vendor_id.clone(),
                invite_id: Some(invite.id.clone()),
                username: job.username.clone(),
                software_type: invite.software_type.clone(),
                hostname: job.hostname.clone(),
                os: job.os.clone(),
                client_version: job.version.clone(),
                store_deleted_days: invite.store_deleted_days,
                trial_email: None,
                activated_at: now,
                deactivated_at: None,
                last_seen_at: Some(now),
                last_backup_at: None,
                last_backup_status: None,
                last_success_at: None,
                failed_in_row: 0,
                storage_used_bytes: 0,
            };
            let policy = self.policy_of(&row)?;
            results[i] = Some(Ok(Activated {
                installation_id: id,
                token: token.into_inner(),
                software_type: policy.software_type,
                policy,
            }));
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(ServiceError::Internal(anyhow::anyhow!(
                        "an activation of the batch was left undecided"
                    )))
                })
            })
            .collect())
    }

    /// The live installation behind a client token. Answers are kept for
    /// a few seconds (clients report often); this instance forgets an
    /// installation at once when it is deactivated or moved, other
    /// instances within `TOKEN_CACHE_TTL`.
    pub async fn client_by_token(&self, token: &str) -> Result<Option<Arc<InstallationRow>>> {
        let hash = self.key.lookup_hash("client", token);
        if let Some(row) = self.client_cache.get(&hash) {
            return Ok(Some(row));
        }
        let mut c = self.store.read().await?;
        let row = store::installations::find_by_token(&mut c, &hash)
            .await?
            .map(Arc::new);
        if let Some(r) = &row {
            self.client_cache.put(hash, r.clone());
        }
        Ok(row)
    }

    /// The client's policy (and a sign of life).
    pub async fn client_policy(&self, n: &InstallationRow) -> Result<Policy> {
        let mut tx = self.store.begin().await?;
        store::installations::touch(&mut tx, &n.id, now_millis()).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.policy_of(n)
    }

    /// Stores one backup run (also for expired or suspended licenses).
    pub async fn client_report(&self, n: &InstallationRow, input: &ReportInput) -> Result<()> {
        let now = now_millis();
        let mut c = super::Checks::default();
        let started = c.take(parse_time("started_at", &input.started_at));
        let finished = c.take(parse_time("finished_at", &input.finished_at));
        let status: Option<&'static str> = match input.status.trim() {
            "success" => Some("success"),
            "warning" => Some("warning"),
            "failed" => Some("failed"),
            _ => {
                c.push(crate::domain::FieldError::new(
                    "status",
                    "error.report_status",
                ));
                None
            }
        };
        for (field, v) in [
            ("bytes_total", input.bytes_total),
            ("bytes_uploaded", input.bytes_uploaded),
            ("files_total", input.files_total),
            ("files_changed", input.files_changed),
        ] {
            if v < 0 {
                c.push(crate::domain::FieldError::new(field, "error.negative"));
            }
        }
        let message = c.take(super::text("message", &input.message, 2000, false));
        if let (Some(s), Some(f)) = (started, finished) {
            if f < s {
                c.push(crate::domain::FieldError::new(
                    "finished_at",
                    "error.finished_before_started",
                ));
            }
            if f > now + 24 * 3600 * 1000 {
                c.push(crate::domain::FieldError::new(
                    "finished_at",
                    "error.in_the_future",
                ));
            }
        }
        c.finish()?;
        let (Some(started), Some(finished), Some(status), Some(message)) =
            (started, finished, status, message)
        else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "checks passed without values"
            )));
        };
        let report = store::installations::NewReport {
            id: crate::domain::AuditId::new().to_db(),
            installation_id: n.id.clone(),
            started_at: started,
            finished_at: finished,
            status,
            bytes_total: input.bytes_total,
            bytes_uploaded: input.bytes_uploaded,
            files_total: input.files_total,
            files_changed: input.files_changed,
            message,
            received_at: now,
        };
        let (tx, rx) = oneshot::channel();
        self.reports
            .tx
            .send((report, tx))
            .await
            .map_err(|_| anyhow::anyhow!("report writer stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("report writer dropped the report"))?
            .map_err(|e| anyhow::anyhow!("storing the report failed: {e}"))?;
        metrics::counter!("cc_reports_total", "status" => status).increment(1);
        Ok(())
    }

    /// The client leaves: its seat is freed.
    pub async fn client_deactivate(&self, n: &InstallationRow, ip: Option<String>) -> Result<()> {
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        if store::installations::deactivate(&mut tx, &n.id, now).await? {
            store::installations::release_seat(&mut tx, &n.license_id, &n.software_type).await?;
            let id = n.installation_id()?;
            client_audit(
                &mut tx,
                now,
                &n.vendor_id,
                &format!("{}@{}", n.username, n.hostname),
                "installation.deactivate",
                &id,
                json!({"by": "client"}),
                ip,
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.client_cache.forget(&n.id);
        Ok(())
    }

    /// An operator ends an installation (its seat is freed).
    pub async fn deactivate_installation(
        &self,
        actor: &Actor,
        id: InstallationId,
    ) -> Result<Installation> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let n = visible_installation(&mut tx, actor, id).await?;
        if !store::installations::deactivate(&mut tx, &n.id, now).await? {
            return Err(err(
                "installation_inactive",
                "The installation has been deactivated already.",
            ));
        }
        store::installations::release_seat(&mut tx, &n.license_id, &n.software_type).await?;
        super::audit(
            &mut tx,
            actor,
            now,
            Some(n.vendor()?),
            "installation.deactivate",
            "installation",
            Some(n.id.clone()),
            Some(json!({"active": true})),
            Some(json!({"active": false})),
        )
        .await?;
        let row = store::installations::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(StoreError::from)?;
        self.client_cache.forget(&row.id);
        self.installation_view(row)
    }

    /// A license's installations.
    pub async fn list_installations(
        &self,
        actor: &Actor,
        license: LicenseId,
    ) -> Result<Vec<Installation>> {
        self.get_license(actor, license).await?;
        let mut c = self.store.read().await?;
        store::installations::list_for_license(&mut c, license)
            .await?
            .into_iter()
            .map(|n| self.installation_view(n))
            .collect()
    }

    pub async fn get_installation(
        &self,
        actor: &Actor,
        id: InstallationId,
    ) -> Result<Installation> {
        let mut c = self.store.read().await?;
        let n = visible_installation(&mut c, actor, id).await?;
        self.installation_view(n)
    }

    /// Starts a trial: a client without an invite gets its own trial
    /// license (1 seat, CC_TRIAL_DAYS) under the default vendor's "Trial
    /// clients" customer.
    pub async fn start_trial(&self, req: &TrialRequest, ip: Option<String>) -> Result<Activated> {
        let mut c = super::Checks::default();
        let email = c.take(crate::domain::Email::parse("email", &req.email));
        let hostname = c.take(client_text("hostname", &req.hostname, 255));
        let os = c.take(client_text("os", &req.os, 255));
        let version = c.take(super::text(
            "client_version",
            &req.client_version,
            64,
            false,
        ));
        let software_type = c.take(SoftwareType::parse(&req.software_type));
        c.finish()?;
        let (Some(email), Some(hostname), Some(os), Some(version), Some(software_type)) =
            (email, hostname, os, version, software_type)
        else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "checks passed without values"
            )));
        };
        let keys = [format!("trial:addr:{}", ip.as_deref().unwrap_or("-"))];
        self.check_activation_limits(&keys).await?;
        let now = now_millis();
        let today = lic::today();
        let valid_to = today + time::Duration::days(self.config.trial_days);
        let mut tx = self.store.begin().await?;
        let holder = self.trial_holder(&mut tx, now).await?;
        let license_id = LicenseId(uuid::Uuid::new_v4());
        let (std_seats, srv_seats) = match software_type {
            SoftwareType::Standard => (1, 0),
            SoftwareType::Server => (0, 1),
        };
        store::licenses::insert(
            &mut tx,
            license_id,
            holder,
            &store::licenses::LicenseFields {
                r#type: "trial",
                state: "active",
                standard_seats: std_seats,
                server_seats: srv_seats,
                extra_space_gb: 0,
                client_limit_gb: 0,
                created: &lic::format_date(today),
                valid_to: &lic::format_date(valid_to),
                comments: &format!("Trial for {email}"),
            },
            now,
        )
        .await?;
        if !store::installations::take_seat(&mut tx, license_id, software_type.as_str()).await? {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "a new trial license had no seat"
            )));
        }
        let token = random_token()?;
        let id = InstallationId::new();
        let username = format!("trial-{}", &id.to_string()[24..]);
        store::installations::insert(
            &mut tx,
            &store::installations::NewInstallationRow {
                id,
                license_id: &license_id.to_db(),
                invite_id: None,
                username: &username,
                software_type: software_type.as_str(),
                hostname: &hostname,
                os: &os,
                client_version: &version,
                store_deleted_days: 30,
                token_hash: &self.key.lookup_hash("client", token.expose()),
                trial_email: Some(&email.key()),
            },
            now,
        )
        .await?;
        let owner = store::customers::get(&mut tx, holder)
            .await?
            .ok_or(ServiceError::NotFound)?;
        client_audit(&mut tx, now, &owner.vendor_id, &format!("{}@{hostname}", email.as_str()), "installation.trial", &id, json!({"email": email.as_str(), "hostname": hostname, "software_type": software_type, "license_id": license_id}), ip).await?;
        let row = store::installations::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(StoreError::from)?;
        let policy = self.policy_of(&row)?;
        Ok(Activated {
            installation_id: id,
            token: token.into_inner(),
            software_type,
            policy,
        })
    }

    /// The customer that holds trial licenses (created on first use).
    async fn trial_holder(&self, tx: &mut store::Conn, now: Millis) -> Result<CustomerId> {
        if let Some(id) = store::settings::get(tx, "trial_customer_id").await?
            && let Ok(id) = id.parse::<CustomerId>()
            && store::customers::get(tx, id).await?.is_some()
        {
            return Ok(id);
        }
        let vendor = store::vendors::get_default(tx)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no default vendor"))?
            .vendor_id()?;
        let id = CustomerId::new();
        store::customers::insert(
            tx,
            id,
            &store::customers::CustomerFields {
                vendor_id: vendor,
                name: "Trial clients",
                vat_id: "",
                street_address: "",
                postal_code: "",
                postal_area: "",
                country: "FI",
                language: "en",
                contact_email: None,
                encryption_key_enc: None,
                username_prefix: None,
            },
            now,
        )
        .await?;
        store::settings::set(tx, "trial_customer_id", &id.to_db()).await?;
        Ok(id)
    }

    /// Live trial clients whose e-mail or hostname is exactly `text`.
    pub async fn find_trial_clients(&self, actor: &Actor, text: &str) -> Result<Vec<Installation>> {
        actor.require_write()?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.store.read().await?;
        store::installations::find_trials(&mut c, text)
            .await?
            .into_iter()
            .map(|n| self.installation_view(n))
            .collect()
    }

    /// "Connect trial client": moves a trial installation onto the
    /// customer's license if a seat of its type is free; the trial license
    /// is closed. One transaction, audited.
    pub async fn connect_trial(
        &self,
        actor: &Actor,
        installation: InstallationId,
        license: LicenseId,
    ) -> Result<Installation> {
        actor.require_write()?;
        let target = self.get_license(actor, license).await?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let n = store::installations::get(&mut tx, installation)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if n.trial_email.is_none() || n.license_type != "trial" || n.deactivated_at.is_some() {
            return Err(err(
                "not_a_trial",
                "That installation is not a live trial client.",
            ));
        }
        if !store::installations::take_seat(&mut tx, license, &n.software_type).await? {
            return Err(err(
                "seats_exhausted",
                "No free seat of the trial client's type on this license.",
            ));
        }
        store::installations::release_seat(&mut tx, &n.license_id, &n.software_type).await?;
        store::installations::move_to_license(&mut tx, &n.id, &license.to_db(), now).await?;
        store::installations::close_license(
            &mut tx,
            &n.license_id,
            &lic::format_date(lic::today()),
            now,
        )
        .await?;
        super::audit(
            &mut tx,
            actor,
            now,
            Some(target.vendor_id),
            "installation.connect_trial",
            "installation",
            Some(n.id.clone()),
            Some(json!({"license_id": n.license_id, "trial_email": n.trial_email})),
            Some(json!({"license_id": license})),
        )
        .await?;
        let row = store::installations::get(&mut tx, installation)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(StoreError::from)?;
        self.client_cache.forget(&row.id);
        self.installation_view(row)
    }
}

/// An installation the actor may see; another vendor's is "not found".
pub(super) async fn visible_installation(
    conn: &mut store::Conn,
    actor: &Actor,
    id: InstallationId,
) -> Result<InstallationRow> {
    let n = store::installations::get(conn, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if !actor.can_see(n.vendor()?) {
        return Err(ServiceError::NotFound);
    }
    Ok(n)
}

#[allow(clippy::too_many_arguments)]
async fn client_audit(
    tx: &mut store::Conn,
    now: Millis,
    vendor: &str,
    label: &str,
    action: &str,
    id: &InstallationId,
    after: serde_json::Value,
    ip: Option<String>,
) -> Result<()> {
    store::audit::insert(
        tx,
        &client_audit_row(now, vendor, label, action, id, after, ip),
    )
    .await?;
    Ok(())
}

/// The audit row of something a client did to its installation.
fn client_audit_row<'a>(
    now: Millis,
    vendor: &str,
    label: &'a str,
    action: &'a str,
    id: &InstallationId,
    after: serde_json::Value,
    ip: Option<String>,
) -> store::audit::NewAudit<'a> {
    store::audit::NewAudit {
        at: now,
        actor_kind: "client",
        actor_id: Some(id.to_db()),
        actor_label: label,
        vendor_id: vendor.parse().ok(),
        action,
        target_kind: "installation",
        target_id: Some(id.to_db()),
        before: None,
        after: Some(after),
        ip,
    }
}

fn seats_exhausted() -> ServiceError {
    err(
        "seats_exhausted",
        "All seats of this type on the license are in use.",
    )
}

/// Whether a database error is contention that a retry resolves.
fn is_retryable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StoreError>()
        .is_some_and(StoreError::is_contention)
}

/// One activation waiting for the batch writer.
#[derive(Debug)]
pub struct ActivationJob {
    username: String,
    code_hash: String,
    hostname: String,
    os: String,
    version: String,
    ip: Option<String>,
}

type ActivationReply = oneshot::Sender<Result<Activated>>;

/// Group commit for activations: many activations in one transaction and a
/// handful of statements ([`Services::activate_batch`]), each answered
/// only after the transaction committed. A refused activation writes
/// nothing.
#[derive(Debug)]
pub struct ActivationSink {
    tx: mpsc::Sender<(ActivationJob, ActivationReply)>,
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

    /// The writer task: runs until every sender is gone.
    pub async fn run(services: Services, mut rx: mpsc::Receiver<(ActivationJob, ActivationReply)>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < ACTIVATION_BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            metrics::histogram!("cc_activation_batch_size").record(batch.len() as f64);
            let started = std::time::Instant::now();
            let outcome = async {
                let mut tx = services.store.begin().await?;
                let jobs: Vec<&ActivationJob> = batch.iter().map(|(job, _)| job).collect();
                let results = services.activate_batch(&mut tx, &jobs).await?;
                tx.commit().await.map_err(StoreError::from)?;
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

/// Shared handle type for the report writer.
pub type Reports = Arc<ReportSink>;

/// How long a token's installation is remembered.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Recently seen client tokens (by keyed hash) and their installations.
#[derive(Debug, Default)]
pub struct ClientCache {
    map: std::sync::Mutex<
        std::collections::HashMap<String, (Arc<InstallationRow>, std::time::Instant)>,
    >,
}

impl ClientCache {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<String, (Arc<InstallationRow>, std::time::Instant)>,
    > {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn get(&self, hash: &str) -> Option<Arc<InstallationRow>> {
        let g = self.lock();
        g.get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(r, _)| r.clone())
    }

    fn put(&self, hash: String, row: Arc<InstallationRow>) {
        let mut g = self.lock();
        if g.len() > 200_000 {
            g.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
        }
        g.insert(hash, (row, std::time::Instant::now()));
    }

    /// Forgets an installation (deactivated, moved to another license).
    pub fn forget(&self, installation: &str) {
        self.lock().retain(|_, (r, _)| r.id != installation);
    }
}
