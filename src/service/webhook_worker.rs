//! The webhook worker: claims due deliveries (leased, like the mail
//! worker's outbox rows), signs and posts them, records each answer.
//!
//! 2xx: delivered. 410: failed, and the endpoint is disabled. Any other
//! answer, a timeout or a connection error: retried with exponential
//! backoff (`CC_WEBHOOK_RETRY_SECS`, doubling, at most an hour) until 24
//! hours after the event, then failed. The address is resolved and
//! checked here, at send time, and the request goes to the checked
//! address (no second lookup, no redirects followed).

use std::sync::Arc;
use std::time::Duration;

use crate::domain::webhook::{is_internal, sign};
use crate::domain::{Millis, now_millis};
use crate::mail::worker::backoff_ms;
use crate::service::Services;
use crate::store::{self, webhooks::DeliveryRow};

const BATCH: i64 = 50;
const IDLE_POLL: Duration = Duration::from_secs(2);
const LEASE_MS: i64 = 60_000;
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

/// Runs until `shutdown` turns true.
pub async fn run(services: Arc<Services>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut last_prune: Millis = 0;
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
        let worked = match tick(&services).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::error!(error = %e, "webhook worker round failed");
                false
            }
        };
        if worked {
            continue;
        }
        let wait = until_next_due(&services).await;
        tokio::select! {
            _ = services.webhook_wakeup.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
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

/// One round: claim a batch, post it concurrently, record each answer.
pub async fn tick(services: &Arc<Services>) -> anyhow::Result<usize> {
    let now = now_millis();
    let batch = {
        let mut tx = services.store.begin().await?;
        let rows =
            store::webhooks::claim(&mut tx, services.store.backend(), now, LEASE_MS, BATCH).await?;
        tx.commit().await?;
        rows
    };
    if batch.is_empty() {
        return Ok(0);
    }
    let mut set = tokio::task::JoinSet::new();
    for row in batch {
        let s = services.clone();
        set.spawn(async move {
            let outcome = deliver(&s, &row).await;
            (row, outcome)
        });
    }
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        let Ok((row, outcome)) = r else {
            // A panicked send leaves its row leased; it is retried later.
            continue;
        };
        n += 1;
        let now = now_millis();
        let mut tx = services.store.begin().await?;
        match &outcome {
            Outcome::Delivered { status, body } => {
                store::webhooks::record_attempt(
                    &mut tx,
                    &row.id,
                    "delivered",
                    now,
                    Some(*status),
                    Some(body),
                    None,
                    now,
                )
                .await?;
                metrics::counter!("cc_webhook_delivered_total").increment(1);
            }
            Outcome::Retry {
                status,
                body,
                error,
            } => {
                if now - row.created_at >= GIVE_UP_MS {
                    store::webhooks::record_attempt(
                        &mut tx,
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
                        &mut tx,
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
                    &mut tx,
                    &row.id,
                    "failed",
                    now,
                    *status,
                    body.as_deref(),
                    Some(error),
                    now,
                )
                .await?;
                if *disable {
                    store::webhooks::disable_endpoint(&mut tx, &row.endpoint_id, error, now)
                        .await?;
                }
                metrics::counter!("cc_webhook_failed_total").increment(1);
                tracing::warn!(delivery = %row.id, %error, "webhook delivery failed for good");
            }
        }
        tx.commit().await?;
    }
    Ok(n)
}

fn first_kb(s: &str) -> String {
    let mut end = s.len().min(BODY_KEPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

async fn deliver(services: &Services, row: &DeliveryRow) -> Outcome {
    let retry = |error: String| Outcome::Retry {
        status: None,
        body: None,
        error,
    };
    let endpoint = {
        let Ok(mut c) = services.store.read().await else {
            return retry("database unavailable".into());
        };
        match store::webhooks::get_endpoint(&mut c, &row.endpoint_id).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                return Outcome::Failed {
                    status: None,
                    body: None,
                    error: "the endpoint is gone".into(),
                    disable: false,
                };
            }
            Err(e) => return retry(format!("database: {e}")),
        }
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
    let Some(signature) = sign(secret.expose(), &row.event_id, ts, &row.payload) else {
        return Outcome::Failed {
            status: None,
            body: None,
            error: "the signing secret is malformed".into(),
            disable: false,
        };
    };
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
