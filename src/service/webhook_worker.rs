//! The webhook worker: claims due deliveries (leased, like the mail
//! worker's outbox rows), signs and posts them, records each answer.
//!
//! 2xx: delivered. 410: failed, and the endpoint is disabled. Any other
//! answer, a timeout or a connection error: retried with exponential
//! backoff (`CC_WEBHOOK_RETRY_SECS`, doubling, at most an hour) until 24
//! hours after the event, then failed. The address is resolved and
//! checked here, at send time, and the request goes to the checked
//! address (no second lookup, no redirects followed).
//!
//! Every attempt is a row of the delivery log (`webhook_attempts`). An
//! endpoint whose attempts have all failed for
//! `CC_WEBHOOK_DISABLE_AFTER_SECS` (three days) is disabled, like one that
//! answered 410, and its vendor's alert address is e-mailed.
//!
//! Order per endpoint: a delivery is not claimed while an earlier one of
//! its endpoint (by creation) is in flight or waiting for a retry
//! (`store::webhooks::claim`). Deliveries that were claimed together in
//! one round go out concurrently, so among those the receiver may see
//! any order; a receiver that was down gets its backlog in order, one
//! event at a time, once the oldest gets through.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::webhook::{is_internal, sign};
use crate::domain::{MessageId, Millis, now_millis};
use crate::i18n::Lang;
use crate::mail::worker::backoff_ms;
use crate::service::Services;
use crate::store::{
    self,
    webhooks::{AttemptRow, DeliveryRow, EndpointRow},
};

const BATCH: i64 = 50;
const IDLE_POLL: Duration = Duration::from_secs(2);
/// The least time between two claims that found less than they had room for.
const CLAIM_PAUSE: Duration = Duration::from_millis(250);
const TIMEOUT: Duration = Duration::from_secs(15);
const GIVE_UP_MS: i64 = 24 * 3600 * 1000;
const KEEP_LOG_MS: i64 = 30 * 24 * 3600 * 1000;
const BODY_KEPT: usize = 1024;

enum Outcome {
    Delivered {
        status: i64,
        body: String,
    },
    Retry {
        status: Option<i64>,
        body: Option<String>,
        error: String,
    },
    Failed {
        status: Option<i64>,
        body: Option<String>,
        error: String,
        disable: bool,
    },
}

/// A delivery in flight: its row, the answer, the endpoint as read.
type Sent = (DeliveryRow, Outcome, Option<EndpointRow>);

/// Runs until `shutdown` turns true. Keeps up to [`BATCH`] deliveries in
/// flight, claiming more as answers come in (never waiting for a whole
/// round: one slow receiver does not hold up the others), and writes the
/// answers down in groups. At shutdown the sends in flight get a few
/// seconds to finish; what is cut off is sent again after its lease.
pub async fn run(services: Arc<Services>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut last_prune: Millis = 0;
    let mut set: tokio::task::JoinSet<Sent> = tokio::task::JoinSet::new();
    let mut quiet_until: Option<std::time::Instant> = None;
    let mut next_look = std::time::Instant::now();
    // Deliveries in flight per endpoint: when an endpoint has none left,
    // the rows that waited behind them may go, so the pause ends.
    let mut inflight: std::collections::HashMap<String, usize> = Default::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = now_millis();
        if now - last_prune > 3600 * 1000 {
            last_prune = now;
            if let Err(e) = prune(&services, now).await {
                tracing::warn!(error = %e, "webhook log pruning failed");
            }
        }
        // A claim that found less than it had room for is not repeated
        // for CLAIM_PAUSE, however often new events wake the worker: when
        // a receiver is slow, the rows behind its deliveries in flight
        // wait (order per endpoint), and looking past them on every
        // report batch would keep the single writer busy for nothing.
        let room = BATCH - set.len() as i64;
        let now_i = std::time::Instant::now();
        if room > 0 && quiet_until.is_none_or(|t| now_i >= t) {
            match claim(&services, room).await {
                Ok(rows) => {
                    let claimed = rows.len() as i64;
                    for row in rows {
                        *inflight.entry(row.endpoint_id.clone()).or_default() += 1;
                        let s = services.clone();
                        set.spawn(async move {
                            let (outcome, endpoint) = deliver(&s, &row).await;
                            (row, outcome, endpoint)
                        });
                    }
                    if claimed < room {
                        // Nothing more is due now: look again when the
                        // next is due (or when woken), not before the pause.
                        quiet_until = Some(now_i + CLAIM_PAUSE);
                        next_look = now_i + until_next_due(&services).await.max(CLAIM_PAUSE);
                    } else {
                        quiet_until = None;
                        next_look = now_i + IDLE_POLL;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "claiming webhook deliveries failed");
                    quiet_until = Some(now_i + IDLE_POLL);
                    next_look = now_i + IDLE_POLL;
                }
            }
        }
        let wait = next_look
            .max(quiet_until.unwrap_or(next_look))
            .saturating_duration_since(std::time::Instant::now())
            .max(Duration::from_millis(1));
        if set.is_empty() {
            tokio::select! {
                _ = services.webhook_wakeup.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        tokio::select! {
            Some(first) = set.join_next() => {
                match record_group(&services, &mut set, first).await {
                    Ok(endpoints) => {
                        for e in endpoints {
                            if let Some(n) = inflight.get_mut(&e) {
                                *n -= 1;
                                if *n == 0 {
                                    inflight.remove(&e);
                                    quiet_until = None;
                                    next_look = std::time::Instant::now();
                                }
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "recording webhook answers failed"),
                }
            }
            _ = services.webhook_wakeup.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    let drain = async {
        while let Some(first) = set.join_next().await {
            if let Err(e) = record_group(&services, &mut set, first).await {
                tracing::error!(error = %e, "recording webhook answers failed");
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
}

async fn claim(services: &Services, limit: i64) -> anyhow::Result<Vec<DeliveryRow>> {
    let mut tx = services.store.begin().await?;
    let rows = store::webhooks::claim(
        &mut tx,
        services.store.backend(),
        now_millis(),
        services.config.webhook_lease_secs * 1000,
        limit,
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Writes down `first` and every other answer that has finished by now,
/// in one transaction (answers that arrive together cost the single
/// writer one commit, not one each). Returns the endpoints of the answers.
async fn record_group(
    services: &Services,
    set: &mut tokio::task::JoinSet<Sent>,
    first: Result<Sent, tokio::task::JoinError>,
) -> anyhow::Result<Vec<String>> {
    let mut done = vec![first];
    while let Some(r) = set.try_join_next() {
        done.push(r);
    }
    let mut tx = services.store.begin().await?;
    let mut disabled = false;
    let mut endpoints = Vec::new();
    for r in done {
        let Ok((row, outcome, endpoint)) = r else {
            // A panicked send leaves its row leased; it is retried later.
            continue;
        };
        endpoints.push(row.endpoint_id.clone());
        disabled |= record(services, &mut tx, &row, &outcome, endpoint.as_ref()).await?;
    }
    tx.commit().await?;
    if disabled {
        services.subscriptions.invalidate();
        services.mail_wakeup.notify_one();
    }
    Ok(endpoints)
}

async fn prune(services: &Services, now: Millis) -> anyhow::Result<()> {
    let mut tx = services.store.begin().await?;
    store::webhooks::prune(&mut tx, now - KEEP_LOG_MS).await?;
    tx.commit().await?;
    Ok(())
}

async fn until_next_due(services: &Services) -> Duration {
    let Ok(mut c) = services.store.read().await else {
        return IDLE_POLL;
    };
    match store::webhooks::next_due(&mut c).await {
        Ok(Some(t)) => {
            Duration::from_millis((t - now_millis()).clamp(10, IDLE_POLL.as_millis() as i64) as u64)
        }
        _ => IDLE_POLL,
    }
}

/// Writes down one attempt's answer in the caller's transaction; true when
/// it disabled the endpoint.
async fn record(
    services: &Services,
    tx: &mut store::Conn,
    row: &DeliveryRow,
    outcome: &Outcome,
    endpoint: Option<&EndpointRow>,
) -> anyhow::Result<bool> {
    let now = now_millis();
    let mut disabled = false;
    {
        let (status, body, error) = match outcome {
            Outcome::Delivered { status, body } => (Some(*status), Some(body.clone()), None),
            Outcome::Retry {
                status,
                body,
                error,
            }
            | Outcome::Failed {
                status,
                body,
                error,
                ..
            } => (*status, body.clone(), Some(error.clone())),
        };
        store::webhooks::log_attempt(
            tx,
            &AttemptRow {
                id: format!("{}.{}", row.id, row.attempts),
                delivery_id: row.id.clone(),
                endpoint_id: row.endpoint_id.clone(),
                event_id: row.event_id.clone(),
                event_type: row.event_type.clone(),
                attempt: row.attempts,
                attempted_at: now,
                status,
                body,
                error,
            },
        )
        .await?;
        match outcome {
            Outcome::Delivered { status, body } => {
                store::webhooks::record_attempt(
                    tx,
                    &row.id,
                    "delivered",
                    now,
                    Some(*status),
                    Some(body),
                    None,
                    now,
                )
                .await?;
                if endpoint.as_ref().is_some_and(|e| e.failing_since.is_some()) {
                    store::webhooks::clear_failing(tx, &row.endpoint_id).await?;
                }
                if row.attempts > 1 {
                    // Later deliveries waited behind this one: due now.
                    store::webhooks::release_waiting(tx, &row.endpoint_id, now).await?;
                }
                metrics::counter!("cc_webhook_delivered_total").increment(1);
            }
            Outcome::Retry {
                status,
                body,
                error,
            } => {
                if now - row.created_at >= GIVE_UP_MS {
                    store::webhooks::record_attempt(
                        tx,
                        &row.id,
                        "failed",
                        now,
                        *status,
                        body.as_deref(),
                        Some(&format!("{error} (gave up after 24 hours)")),
                        now,
                    )
                    .await?;
                } else {
                    let jitter = crate::keys::random_bytes::<1>()
                        .map(|b| b[0])
                        .unwrap_or(128);
                    let at =
                        now + backoff_ms(services.config.webhook_retry_secs, row.attempts, jitter);
                    store::webhooks::record_attempt(
                        tx,
                        &row.id,
                        "pending",
                        at,
                        *status,
                        body.as_deref(),
                        Some(error),
                        now,
                    )
                    .await?;
                }
                metrics::counter!("cc_webhook_retry_total").increment(1);
                tracing::warn!(delivery = %row.id, attempt = row.attempts, %error, "webhook delivery failed; will retry");
            }
            Outcome::Failed {
                status,
                body,
                error,
                disable,
            } => {
                store::webhooks::record_attempt(
                    tx,
                    &row.id,
                    "failed",
                    now,
                    *status,
                    body.as_deref(),
                    Some(error),
                    now,
                )
                .await?;
                if *disable && let Some(e) = &endpoint {
                    store::webhooks::disable_endpoint(tx, &row.endpoint_id, error, now).await?;
                    store::webhooks::fail_pending(
                        tx,
                        &row.endpoint_id,
                        "the endpoint was disabled",
                        now,
                    )
                    .await?;
                    tell_vendor(services, tx, e, "mail.webhook_disabled.gone", error, now).await?;
                    disabled = true;
                }
                metrics::counter!("cc_webhook_failed_total").increment(1);
                tracing::warn!(delivery = %row.id, %error, "webhook delivery failed for good");
            }
        }
        // A failed attempt to an endpoint that still exists: three days of
        // nothing but failures disable it.
        if let (Some(e), Some(error)) = (&endpoint, failure_of(outcome))
            && !disabled
            && e.enabled != 0
        {
            let since = store::webhooks::mark_failing(tx, &e.id, now)
                .await?
                .unwrap_or(now);
            let limit = services.config.webhook_disable_after_secs * 1000;
            if now - since >= limit {
                let reason = format!(
                    "every attempt failed for {} hours (the last: {error}): the endpoint is disabled",
                    (now - since) / 3_600_000
                );
                if store::webhooks::disable_failing(tx, &e.id, since, &reason, now).await? {
                    store::webhooks::fail_pending(tx, &e.id, "the endpoint was disabled", now)
                        .await?;
                    tell_vendor(services, tx, e, "mail.webhook_disabled.failing", error, now)
                        .await?;
                    disabled = true;
                    tracing::warn!(endpoint = %e.id, "webhook endpoint disabled after failing too long");
                }
            }
        }
    }
    Ok(disabled)
}

/// The error of a failed attempt that counts against its endpoint (not
/// one whose endpoint is gone).
fn failure_of(o: &Outcome) -> Option<&str> {
    match o {
        Outcome::Delivered { .. } => None,
        Outcome::Retry { error, .. } | Outcome::Failed { error, .. } => Some(error),
    }
}

/// E-mails the endpoint's vendor's alert address (a global endpoint's:
/// every administrator) that the endpoint was disabled, through the
/// outbox in the caller's transaction. `why_key` is the locale key of the
/// reason; `error` the last attempt's error.
async fn tell_vendor(
    services: &Services,
    tx: &mut store::Conn,
    e: &EndpointRow,
    why_key: &str,
    error: &str,
    now: Millis,
) -> anyhow::Result<()> {
    let page = format!(
        "{}/settings/webhooks",
        services.config.public_url.trim_end_matches('/')
    );
    let days = services.config.webhook_disable_after_secs / 86_400;
    let fill = |l: Lang, key: &str| {
        l.fmt(
            key,
            &[
                ("endpoint", e.url.as_str().into()),
                ("error", error.into()),
                ("days", days.into()),
                ("url", page.as_str().into()),
            ],
        )
    };
    let text_of = |l: Lang| {
        format!(
            "{}\n\n{}",
            fill(l, why_key),
            fill(l, "mail.webhook_disabled.text")
        )
    };
    let mut to: Vec<(String, String, String)> = Vec::new();
    match e.vendor_id {
        Some(v) => {
            if let Some(vendor) = store::vendors::get(tx, v).await?
                && let Some(addr) = vendor.alert_email.filter(|a| !a.trim().is_empty())
            {
                let l = Lang::from_code(&vendor.alert_language).unwrap_or(Lang::En);
                to.push((addr, fill(l, "mail.webhook_disabled.subject"), text_of(l)));
            }
        }
        None => {
            let subject = format!(
                "{} / {}",
                fill(Lang::En, "mail.webhook_disabled.subject"),
                fill(Lang::Fi, "mail.webhook_disabled.subject")
            );
            let text = format!("{}\n\n---\n\n{}\n", text_of(Lang::En), text_of(Lang::Fi));
            for a in store::backup::admin_emails(tx).await? {
                to.push((a, subject.clone(), text.clone()));
            }
        }
    }
    for (addr, subject, text) in to {
        let payload = serde_json::json!({"subject": subject, "text": text}).to_string();
        store::outbox::enqueue(
            tx,
            MessageId::new(),
            crate::domain::message::MessageKind::Alert,
            None,
            &addr,
            Some(&payload),
            now,
        )
        .await?;
    }
    Ok(())
}

fn first_kb(s: &str) -> String {
    let mut end = s.len().min(BODY_KEPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

async fn deliver(services: &Services, row: &DeliveryRow) -> (Outcome, Option<EndpointRow>) {
    let endpoint = {
        let Ok(mut c) = services.store.read().await else {
            return (
                Outcome::Retry {
                    status: None,
                    body: None,
                    error: "database unavailable".into(),
                },
                None,
            );
        };
        match store::webhooks::get_endpoint(&mut c, &row.endpoint_id).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                return (
                    Outcome::Failed {
                        status: None,
                        body: None,
                        error: "the endpoint is gone".into(),
                        disable: false,
                    },
                    None,
                );
            }
            Err(e) => {
                return (
                    Outcome::Retry {
                        status: None,
                        body: None,
                        error: format!("database: {e}"),
                    },
                    None,
                );
            }
        }
    };
    let outcome = send(services, row, &endpoint).await;
    (outcome, Some(endpoint))
}

/// Signs and posts one delivery to its endpoint.
async fn send(services: &Services, row: &DeliveryRow, endpoint: &EndpointRow) -> Outcome {
    let retry = |error: String| Outcome::Retry {
        status: None,
        body: None,
        error,
    };
    let secret = match services.key.decrypt(&endpoint.secret_enc) {
        Ok(s) => s,
        Err(_) => {
            return Outcome::Failed {
                status: None,
                body: None,
                error: "the signing secret does not open with this server key".into(),
                disable: false,
            };
        }
    };
    let Ok(url) = url::Url::parse(&endpoint.url) else {
        return Outcome::Failed {
            status: None,
            body: None,
            error: "the URL does not parse".into(),
            disable: false,
        };
    };
    let Some(host) = url.host_str().map(str::to_string) else {
        return Outcome::Failed {
            status: None,
            body: None,
            error: "the URL has no host".into(),
            disable: false,
        };
    };
    let port = url.port_or_known_default().unwrap_or(443);
    // Resolve once, check every address, and connect only to a checked one.
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<std::net::SocketAddr> =
        match tokio::net::lookup_host((bare.as_str(), port)).await {
            Ok(a) => a.collect(),
            Err(e) => return retry(format!("cannot resolve {host}: {e}")),
        };
    if addrs.is_empty() {
        return retry(format!("{host} has no address"));
    }
    if !services.config.webhook_allow_private && addrs.iter().any(|a| is_internal(a.ip())) {
        return Outcome::Failed {
            status: None,
            body: None,
            error: format!(
                "refused: {host} resolves to a loopback, private or link-local address (set CC_WEBHOOK_ALLOW_PRIVATE=true to allow)"
            ),
            disable: false,
        };
    }
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&bare, addrs[0])
        .user_agent("CommandCenter-Webhooks/1")
        .build()
    {
        Ok(c) => c,
        Err(e) => return retry(format!("client: {e}")),
    };
    let ts = now_millis() / 1000;
    let Some(mut signature) = sign(secret.expose(), &row.event_id, ts, &row.payload) else {
        return Outcome::Failed {
            status: None,
            body: None,
            error: "the signing secret is malformed".into(),
            disable: false,
        };
    };
    // Rotated lately: the old secret signs too, until its grace ends
    // (receivers verify against any of the space-separated signatures).
    if let (Some(old), Some(until)) = (
        &endpoint.previous_secret_enc,
        endpoint.previous_secret_until,
    ) && until > now_millis()
        && let Ok(old) = services.key.decrypt(old)
        && let Some(old_sig) = sign(old.expose(), &row.event_id, ts, &row.payload)
    {
        signature = format!("{old_sig} {signature}");
    }
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &row.event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(row.payload.clone())
        .send()
        .await;
    match resp {
        Err(e) => retry(if e.is_timeout() {
            "timed out".into()
        } else {
            format!("connection failed: {}", without_url(&e))
        }),
        Ok(r) => {
            let status = i64::from(r.status().as_u16());
            let body = first_kb(&r.text().await.unwrap_or_default());
            if (200..300).contains(&status) {
                Outcome::Delivered { status, body }
            } else if status == 410 {
                Outcome::Failed {
                    status: Some(status),
                    body: Some(body),
                    error: "the receiver answered 410 Gone: the endpoint is disabled".into(),
                    disable: true,
                }
            } else {
                Outcome::Retry {
                    status: Some(status),
                    body: Some(body),
                    error: format!("the receiver answered {status}"),
                }
            }
        }
    }
}

/// The error without the URL (it may carry a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<url>");
    }
    s
}
