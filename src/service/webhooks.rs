//! Webhook endpoints (#16): per vendor (administrators: global or for a
//! vendor), signed by the Standard Webhooks scheme, delivered through the
//! webhook outbox (`store::webhooks`) by [`super::webhook_worker`].
//!
//! Events are queued by [`Services::emit`] in the transaction of the
//! change that caused them, so an event exists exactly when its change
//! does.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Actor, Result, Scope, ServiceError, Services};
use crate::domain::webhook::{events_of, format_secret, parse_events, parse_url};
use crate::domain::{FieldError, Millis, Secret, VendorId, now_millis, rfc3339};
use crate::keys::random_bytes;
use crate::store;

/// An endpoint as shown (never its secret).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: String,
    /// None: a global endpoint (every vendor's events).
    pub vendor_id: Option<String>,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why it was turned off by the server (e.g. the receiver answered 410).
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// After a rotation: until when the previous secret signs too.
    pub previous_secret_until: Option<String>,
    /// When its current run of failed attempts began (three days of them
    /// disable it); none when the last attempt succeeded.
    pub failing_since: Option<String>,
}

impl From<store::webhooks::EndpointRow> for Endpoint {
    fn from(r: store::webhooks::EndpointRow) -> Self {
        Endpoint {
            id: r.id,
            vendor_id: r.vendor_id.map(|v| v.to_db()),
            url: r.url,
            events: events_of(&r.events),
            enabled: r.enabled != 0,
            disabled_reason: r.disabled_reason,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            previous_secret_until: r
                .previous_secret_until
                .filter(|u| *u > now_millis())
                .map(rfc3339),
            failing_since: r.failing_since.map(rfc3339),
        }
    }
}

/// One attempt of a delivery, as the delivery log shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub delivery_id: String,
    /// The `webhook-id` header.
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt of the delivery.
    pub attempt: i64,
    pub attempted_at: String,
    pub response_status: Option<i64>,
    /// The first 1 KB of the receiver's answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

impl From<store::webhooks::AttemptRow> for Attempt {
    fn from(r: store::webhooks::AttemptRow) -> Self {
        Attempt {
            delivery_id: r.delivery_id,
            event_id: r.event_id,
            event_type: r.event_type,
            attempt: r.attempt,
            attempted_at: rfc3339(r.attempted_at),
            response_status: r.status,
            response_body: r.body,
            error: r.error,
        }
    }
}

/// What the caller sends to make or change an endpoint.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct EndpointInput {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Administrators only: the vendor whose events it gets; left out, a
    /// global endpoint. Others' endpoints are always their own vendor's.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub vendor_id: Option<String>,
}

/// One delivery in an endpoint's log.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    /// The `webhook-id` header: the same on every attempt.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub created_at: String,
    pub last_attempt_at: Option<String>,
    pub next_attempt_at: Option<String>,
    pub response_status: Option<i64>,
    /// The first 1 KB of the receiver's answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub delivered_at: Option<String>,
}

impl From<store::webhooks::DeliveryRow> for Delivery {
    fn from(r: store::webhooks::DeliveryRow) -> Self {
        Delivery {
            next_attempt_at: (r.state == "pending").then(|| rfc3339(r.next_attempt_at)),
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            state: r.state,
            attempts: r.attempts,
            created_at: rfc3339(r.created_at),
            last_attempt_at: r.last_attempt_at.map(rfc3339),
            response_status: r.last_status,
            response_body: r.last_body,
            error: r.last_error,
            delivered_at: r.delivered_at.map(rfc3339),
        }
    }
}

/// How long this instance trusts what it knows of the subscriptions: an
/// endpoint made, changed or deleted on another instance is seen here
/// within this time (on this instance, at once).
pub const SUBSCRIPTIONS_TTL: Duration = Duration::from_secs(5);

/// Who subscribes to which event, read once per [`SUBSCRIPTIONS_TTL`]: the
/// report and activation paths ask it before building an event, so a
/// console without a subscriber pays no query and no insert for events.
#[derive(Debug, Default)]
pub struct Subscriptions {
    known: std::sync::RwLock<Option<(Instant, Arc<Subscribed>)>>,
    reload: tokio::sync::Mutex<()>,
    /// Bumped by every local change, so a reload that read before the
    /// change does not keep what it read.
    generation: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Subscribed {
    /// Event types a global endpoint wants (every vendor's).
    global: HashSet<String>,
    /// (vendor, event type) pairs a vendor's endpoint wants.
    vendor: HashSet<(VendorId, String)>,
}

impl Subscribed {
    fn wants(&self, vendor: Option<VendorId>, event_type: &str) -> bool {
        self.global.contains(event_type)
            || vendor.is_some_and(|v| self.vendor.contains(&(v, event_type.to_string())))
    }

    /// Whether any endpoint, global or of any vendor, wants `event_type`.
    fn anyone_wants(&self, event_type: &str) -> bool {
        self.global.contains(event_type) || self.vendor.iter().any(|(_, e)| e == event_type)
    }
}

impl Subscriptions {
    /// Forgets what is known (an endpoint changed here).
    pub fn invalidate(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut k) = self.known.write() {
            *k = None;
        }
    }

    fn fresh(&self) -> Option<Arc<Subscribed>> {
        let k = self.known.read().ok()?;
        match &*k {
            Some((at, s)) if at.elapsed() < SUBSCRIPTIONS_TTL => Some(s.clone()),
            _ => None,
        }
    }

    /// Whether any enabled endpoint wants `event_type` of `vendor` (its
    /// own or a global one). One query per TTL and instance at most, on a
    /// read connection (for callers that hold no connection).
    pub async fn wants(
        &self,
        store: &store::Store,
        vendor: Option<VendorId>,
        event_type: &str,
    ) -> store::Result<bool> {
        if let Some(s) = self.fresh() {
            return Ok(s.wants(vendor, event_type));
        }
        let mut c = store.read().await?;
        self.wants_on(&mut c, vendor, event_type).await
    }

    /// [`Subscriptions::wants`] for a caller inside a transaction: a
    /// reload reads on the caller's own connection. (Waiting for another
    /// pool connection while holding one could starve the pool: on
    /// PostgreSQL forty trials at once held every connection, each
    /// waiting for the one reload that needed another.)
    pub async fn wants_on(
        &self,
        conn: &mut store::Conn,
        vendor: Option<VendorId>,
        event_type: &str,
    ) -> store::Result<bool> {
        Ok(self.known_on(conn).await?.wants(vendor, event_type))
    }

    /// Whether any endpoint at all (global or of any vendor) wants one of
    /// `event_types`: for a writer that would have to look up each row's
    /// vendor first (the mail worker's invite events), so that nobody
    /// subscribed costs it nothing.
    pub async fn anyone_wants_on(
        &self,
        conn: &mut store::Conn,
        event_types: &[&str],
    ) -> store::Result<bool> {
        let s = self.known_on(conn).await?;
        Ok(event_types.iter().any(|e| s.anyone_wants(e)))
    }

    /// What is subscribed: the cached answer while fresh, else read on the
    /// caller's connection (one reload at a time).
    async fn known_on(&self, conn: &mut store::Conn) -> store::Result<Arc<Subscribed>> {
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let _one = self.reload.lock().await;
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let rows = store::webhooks::subscriptions(conn).await?;
        let mut s = Subscribed::default();
        for (v, events) in rows {
            for e in events_of(&events) {
                match v {
                    None => {
                        s.global.insert(e);
                    }
                    Some(v) => {
                        s.vendor.insert((v, e));
                    }
                }
            }
        }
        let s = Arc::new(s);
        if generation == self.generation.load(std::sync::atomic::Ordering::SeqCst)
            && let Ok(mut k) = self.known.write()
        {
            *k = Some((Instant::now(), s.clone()));
        }
        Ok(s)
    }
}

/// An event ready for [`store::webhooks::emit_many`]: the payload names
/// the vendor, the ids in `data` and the console page at `path`.
pub fn new_event(
    public_url: &str,
    vendor: Option<VendorId>,
    event_type: &str,
    mut data: serde_json::Value,
    path: Option<&str>,
    now: Millis,
) -> store::webhooks::NewEvent {
    if let Some(o) = data.as_object_mut() {
        o.insert("vendor_id".into(), json!(vendor.map(|v| v.to_db())));
        if let Some(p) = path {
            let base = public_url.trim_end_matches('/');
            o.insert("url".into(), json!(format!("{base}{p}")));
        }
    }
    let payload = json!({"type": event_type, "timestamp": rfc3339(now), "data": data});
    store::webhooks::NewEvent {
        vendor_id: vendor.map(|v| v.to_db()),
        event_id: new_event_id(),
        event_type: event_type.to_string(),
        payload: payload.to_string(),
        at: now,
    }
}

fn new_event_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

impl Services {
    /// Queues `event_type` for every enabled endpoint that wants it (the
    /// vendor's and the global ones), in the caller's transaction. The
    /// payload names the vendor and whatever ids `data` carries, and a
    /// link to the console page when `path` is given.
    pub(crate) async fn emit(
        &self,
        conn: &mut store::Conn,
        vendor: Option<VendorId>,
        event_type: &str,
        data: serde_json::Value,
        path: Option<&str>,
        now: Millis,
    ) -> Result<()> {
        if !self
            .subscriptions
            .wants_on(conn, vendor, event_type)
            .await?
        {
            return Ok(());
        }
        let ev = new_event(&self.config.public_url, vendor, event_type, data, path, now);
        let n = store::webhooks::emit_many(conn, std::slice::from_ref(&ev)).await?;
        if n > 0 {
            self.webhook_wakeup.notify_one();
        }
        Ok(())
    }

    fn endpoint_visible(actor: &Actor, r: &store::webhooks::EndpointRow) -> bool {
        match (actor.scope(), r.vendor_id) {
            (Scope::All, _) => true,
            (Scope::Vendor(v), Some(owner)) => v == owner,
            (Scope::Vendor(_), None) => false,
        }
    }

    async fn visible_endpoint(
        &self,
        conn: &mut store::Conn,
        actor: &Actor,
        id: &str,
    ) -> Result<store::webhooks::EndpointRow> {
        match store::webhooks::get_endpoint(conn, id).await? {
            Some(r) if Self::endpoint_visible(actor, &r) => Ok(r),
            _ => Err(ServiceError::NotFound),
        }
    }

    fn parse_endpoint(&self, input: &EndpointInput) -> Result<(String, String)> {
        let url = parse_url("url", &input.url, self.config.webhook_allow_http);
        let events = parse_events("events", &input.events);
        match (url, events) {
            (Ok(u), Ok(e)) => Ok((u.to_string(), e)),
            (u, e) => Err(ServiceError::Invalid(
                [u.err(), e.err()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<FieldError>>(),
            )),
        }
    }

    /// Makes an endpoint; its signing secret is returned this once.
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        input: &EndpointInput,
    ) -> Result<(Endpoint, Secret<String>)> {
        actor.require_write()?;
        let (url, events) = self.parse_endpoint(input)?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let vendor = match (actor.scope(), input.vendor_id.as_deref()) {
            (Scope::Vendor(v), None) => Some(v),
            (Scope::Vendor(v), Some(s)) if s == v.to_db() => Some(v),
            (Scope::Vendor(_), Some(_)) => return Err(ServiceError::NotFound),
            (Scope::All, None) | (Scope::All, Some("")) => None,
            (Scope::All, Some(s)) => {
                let v: VendorId = s
                    .parse()
                    .map_err(|_| ServiceError::invalid("vendor_id", "error.vendor_unknown"))?;
                if store::vendors::get(&mut tx, v).await?.is_none() {
                    return Err(ServiceError::invalid("vendor_id", "error.vendor_unknown"));
                }
                Some(v)
            }
        };
        let secret = Secret::new(format_secret(&random_bytes::<24>()?));
        let row = store::webhooks::EndpointRow {
            id: uuid::Uuid::now_v7().to_string(),
            vendor_id: vendor,
            url,
            events,
            enabled: i64::from(input.enabled.unwrap_or(true)),
            secret_enc: self.key.encrypt(secret.expose())?,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
            previous_secret_enc: None,
            previous_secret_until: None,
            failing_since: None,
        };
        store::webhooks::insert_endpoint(&mut tx, &row).await?;
        let view: Endpoint = row.clone().into();
        super::audit(
            &mut tx,
            actor,
            now,
            vendor,
            "webhook.create",
            "webhook",
            Some(row.id.clone()),
            None,
            Some(serde_json::to_value(&view).unwrap_or_default()),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.subscriptions.invalidate();
        Ok((view, secret))
    }

    pub async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<Endpoint>> {
        let vendor = match actor.scope() {
            Scope::All => None,
            Scope::Vendor(v) => Some(v),
        };
        let mut c = self.store.read().await?;
        let rows = store::webhooks::list_endpoints(&mut c, vendor).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn get_webhook(&self, actor: &Actor, id: &str) -> Result<Endpoint> {
        let mut c = self.store.read().await?;
        Ok(self.visible_endpoint(&mut c, actor, id).await?.into())
    }

    /// Changes URL, events and the enabled flag (not the vendor).
    pub async fn update_webhook(
        &self,
        actor: &Actor,
        id: &str,
        input: &EndpointInput,
    ) -> Result<Endpoint> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let before = self.visible_endpoint(&mut tx, actor, id).await?;
        let (url, events) = self.parse_endpoint(input)?;
        let enabled = input.enabled.unwrap_or(before.enabled != 0);
        store::webhooks::update_endpoint(&mut tx, id, &url, &events, enabled, now).await?;
        let after = self.visible_endpoint(&mut tx, actor, id).await?;
        let (before, after): (Endpoint, Endpoint) = (before.into(), after.into());
        super::audit(
            &mut tx,
            actor,
            now,
            after.vendor_id.as_deref().and_then(|v| v.parse().ok()),
            "webhook.update",
            "webhook",
            Some(id.to_string()),
            Some(serde_json::to_value(&before).unwrap_or_default()),
            Some(serde_json::to_value(&after).unwrap_or_default()),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.subscriptions.invalidate();
        Ok(after)
    }

    pub async fn delete_webhook(&self, actor: &Actor, id: &str) -> Result<()> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let before: Endpoint = self.visible_endpoint(&mut tx, actor, id).await?.into();
        store::webhooks::delete_endpoint(&mut tx, id).await?;
        super::audit(
            &mut tx,
            actor,
            now,
            before.vendor_id.as_deref().and_then(|v| v.parse().ok()),
            "webhook.delete",
            "webhook",
            Some(id.to_string()),
            Some(serde_json::to_value(&before).unwrap_or_default()),
            None,
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.subscriptions.invalidate();
        Ok(())
    }

    /// The endpoint's newest 100 deliveries.
    pub async fn list_webhook_deliveries(&self, actor: &Actor, id: &str) -> Result<Vec<Delivery>> {
        let mut c = self.store.read().await?;
        self.visible_endpoint(&mut c, actor, id).await?;
        let rows = store::webhooks::list_deliveries(&mut c, id, 100).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Queues a `ping` for this endpoint (subscribed or not, enabled or not).
    pub async fn test_webhook(&self, actor: &Actor, id: &str) -> Result<Delivery> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let e = self.visible_endpoint(&mut tx, actor, id).await?;
        let event_id = new_event_id();
        let payload = json!({
            "type": "ping",
            "timestamp": rfc3339(now),
            "data": {"vendor_id": e.vendor_id.map(|v| v.to_db()), "endpoint_id": e.id},
        });
        let delivery_id = format!("{event_id}.{}", e.id);
        store::webhooks::insert_delivery(
            &mut tx,
            &delivery_id,
            &e.id,
            &event_id,
            "ping",
            &payload.to_string(),
            now,
        )
        .await?;
        let row = store::webhooks::get_delivery(&mut tx, &delivery_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.webhook_wakeup.notify_one();
        Ok(row.into())
    }

    /// Sends a delivery's event again (same `webhook-id`, a new log row).
    pub async fn redeliver_webhook(
        &self,
        actor: &Actor,
        id: &str,
        delivery: &str,
    ) -> Result<Delivery> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let e = self.visible_endpoint(&mut tx, actor, id).await?;
        let d = match store::webhooks::get_delivery(&mut tx, delivery).await? {
            Some(d) if d.endpoint_id == e.id => d,
            _ => return Err(ServiceError::NotFound),
        };
        let new_id = format!("{}.{}.{}", d.event_id, e.id, uuid::Uuid::now_v7().simple());
        store::webhooks::insert_delivery(
            &mut tx,
            &new_id,
            &e.id,
            &d.event_id,
            &d.event_type,
            &d.payload,
            now,
        )
        .await?;
        let row = store::webhooks::get_delivery(&mut tx, &new_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.webhook_wakeup.notify_one();
        Ok(row.into())
    }

    /// The endpoint's newest 200 attempts (one row per attempt).
    pub async fn list_webhook_attempts(&self, actor: &Actor, id: &str) -> Result<Vec<Attempt>> {
        let mut c = self.store.read().await?;
        self.visible_endpoint(&mut c, actor, id).await?;
        let rows = store::webhooks::list_attempts(&mut c, id, 200).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A new signing secret, returned this once. The old one keeps
    /// signing beside it for `CC_WEBHOOK_ROTATION_GRACE_SECS` (both
    /// signatures in `webhook-signature`), then only the new one signs.
    /// A second rotation inside the grace drops the oldest secret.
    pub async fn rotate_webhook_secret(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<(Endpoint, Secret<String>)> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let before = self.visible_endpoint(&mut tx, actor, id).await?;
        let secret = Secret::new(format_secret(&random_bytes::<24>()?));
        let until = now + self.config.webhook_rotation_grace_secs * 1000;
        store::webhooks::rotate_secret(
            &mut tx,
            id,
            &self.key.encrypt(secret.expose())?,
            until,
            now,
        )
        .await?;
        let after: Endpoint = self.visible_endpoint(&mut tx, actor, id).await?.into();
        super::audit(
            &mut tx,
            actor,
            now,
            before.vendor_id,
            "webhook.rotate_secret",
            "webhook",
            Some(id.to_string()),
            None,
            Some(json!({"previous_secret_until": after.previous_secret_until})),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok((after, secret))
    }
}
