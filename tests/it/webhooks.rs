//! Webhooks (#16) against a real HTTP receiver on loopback that checks
//! every signature with its own Standard Webhooks code, fails the first
//! two deliveries and then accepts; SSRF refusal; tenancy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// How many requests to answer 500 before answering 200.
    fail_first: usize,
    /// Answer 410 to everything.
    gone: Arc<Mutex<bool>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Receiver, String) {
        let r = Receiver {
            fail_first,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default()
                    };
                    let mut got = state.got.lock().unwrap();
                    got.push(Received {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body,
                    });
                    if *state.gone.lock().unwrap() {
                        (axum::http::StatusCode::GONE, "gone".to_string())
                    } else if got.len() <= state.fail_first {
                        (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "not yet".to_string(),
                        )
                    } else {
                        (axum::http::StatusCode::OK, "thanks".to_string())
                    }
                }
            }),
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (r, format!("http://{addr}/hook"))
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        for _ in 0..secs * 10 {
            if self.all().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.all()
    }
}

/// Standard Webhooks verification, written here apart from the server:
/// HMAC-SHA256 over `id.timestamp.body` with the base64-decoded secret,
/// compared with every `v1,` signature in the header; the timestamp
/// must be within five minutes.
fn verify(secret: &str, r: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let ts: i64 = r.timestamp.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now - ts).abs() < 300
        && r.signature
            .split(' ')
            .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

async fn endpoint(app: &TestApp, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/webhooks",
            token,
            Some(json!({"url": url, "events": events})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (
        v["id"].as_str().unwrap().to_string(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

async fn customer(app: &TestApp, token: &str, name: &str, prefix: &str) -> String {
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/customers",
            token,
            Some(json!({"name": name, "vat_id": "fi 0112 0389", "postal_code": "00100", "username_prefix": prefix})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn signed_retried_until_accepted_and_only_to_its_vendor() {
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_WEBHOOK_ALLOW_HTTP", "true"),
        ("CC_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("CC_WEBHOOK_RETRY_SECS", "1"),
    ])
    .await;
    let admin = app.admin_token().await;
    let va = app.vendor(&admin, "Vendor A").await;
    let vb = app.vendor(&admin, "Vendor B").await;
    app.operator(&admin, "op@a.example", "operator", Some(&va))
        .await;
    app.operator(&admin, "op@b.example", "operator", Some(&vb))
        .await;
    let a = app.token("op@a.example", PASSWORD).await;
    let b = app.token("op@b.example", PASSWORD).await;

    let (ra, url_a) = Receiver::start(2).await;
    let (rb, url_b) = Receiver::start(0).await;
    let (ea, secret_a) = endpoint(&app, &a, &url_a, &["customer.created", "license.created"]).await;
    let (eb, _) = endpoint(&app, &b, &url_b, &["customer.created", "customer.deleted"]).await;
    assert!(secret_a.starts_with("whsec_"));
    // B cannot see A's endpoint.
    assert_eq!(
        app.api("GET", &format!("/api/v1/webhooks/{ea}"), &b, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, v) = app.api("GET", "/api/v1/webhooks", &b, None).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["items"][0]["id"], eb.as_str());

    let cid = customer(&app, &a, "Asiakas Oy", "AOY").await;

    // Two failures, then accepted: three requests, one event, all signed.
    let got = ra.wait_for(3, 20).await;
    assert_eq!(got.len(), 3, "{got:?}");
    for r in &got {
        assert!(verify(&secret_a, r), "bad signature: {r:?}");
        assert_eq!(r.id, got[0].id, "the same webhook-id on every attempt");
    }
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["type"], "customer.created");
    assert_eq!(body["data"]["vendor_id"], va.as_str());
    assert_eq!(body["data"]["customer_id"], cid.as_str());
    assert!(
        body["data"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/licenses/{cid}"))
    );
    // A wrong secret does not verify (the check can fail).
    assert!(!verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &got[0]));
    // Delivered once accepted: no more requests come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ra.all().len(), 3);

    // The delivery log.
    let mut log = Value::Null;
    for _ in 0..50 {
        log = app
            .api(
                "GET",
                &format!("/api/v1/webhooks/{ea}/deliveries"),
                &a,
                None,
            )
            .await
            .1;
        if log["items"][0]["state"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = &log["items"][0];
    assert_eq!(d["state"], "delivered", "{log}");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["response_status"], 200);
    assert_eq!(d["response_body"], "thanks");
    assert_eq!(d["event_type"], "customer.created");

    // Vendor B's endpoint never got vendor A's event.
    assert!(rb.all().is_empty(), "{:?}", rb.all());
    // B's own event reaches B only.
    customer(&app, &b, "Bee Oy", "BEE").await;
    assert_eq!(rb.wait_for(1, 10).await.len(), 1);
    assert_eq!(ra.all().len(), 3);

    // Send test event, and Redeliver (same webhook-id).
    let (s, v) = app
        .api("POST", &format!("/api/v1/webhooks/{ea}/test"), &a, None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let got = ra.wait_for(4, 10).await;
    assert_eq!(got.len(), 4);
    assert!(verify(&secret_a, &got[3]));
    assert_eq!(
        serde_json::from_str::<Value>(&got[3].body).unwrap()["type"],
        "ping"
    );
    let first = d["id"].as_str().unwrap();
    let (s, v) = app
        .api(
            "POST",
            &format!("/api/v1/webhooks/{ea}/deliveries/{first}/redeliver"),
            &a,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let got = ra.wait_for(5, 10).await;
    assert_eq!(got[4].id, got[0].id);
    assert!(verify(&secret_a, &got[4]));

    // A 410 disables the endpoint.
    *ra.gone.lock().unwrap() = true;
    app.api("POST", &format!("/api/v1/webhooks/{ea}/test"), &a, None)
        .await;
    ra.wait_for(6, 10).await;
    let mut e = Value::Null;
    for _ in 0..50 {
        e = app
            .api("GET", &format!("/api/v1/webhooks/{ea}"), &a, None)
            .await
            .1;
        if e["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(e["enabled"], false, "{e}");
    assert!(e["disabled_reason"].as_str().unwrap().contains("410"));
    // Disabled: events are not queued for it.
    customer(&app, &a, "Toinen Oy", "TOI").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ra.all().len(), 6);

    // A read-only token cannot change webhooks.
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/tokens",
            &a,
            Some(json!({"name": "ro", "scopes": ["read"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let ro = v["token"].as_str().unwrap();
    let (s, v) = app
        .api("DELETE", &format!("/api/v1/webhooks/{ea}"), ro, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["code"], "insufficient_scope");
    assert_eq!(
        app.api("GET", &format!("/api/v1/webhooks/{ea}"), ro, None)
            .await
            .0,
        StatusCode::OK
    );
    app.finish().await;
}

#[tokio::test]
async fn loopback_is_refused_without_the_setting_and_http_needs_its_own() {
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_WEBHOOK_ALLOW_HTTP", "true"),
    ])
    .await;
    let admin = app.admin_token().await;
    let (r, url) = Receiver::start(0).await;
    let (id, _) = endpoint(&app, &admin, &url, &["ping"]).await;
    let (s, _) = app
        .api("POST", &format!("/api/v1/webhooks/{id}/test"), &admin, None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let mut log = Value::Null;
    for _ in 0..50 {
        log = app
            .api(
                "GET",
                &format!("/api/v1/webhooks/{id}/deliveries"),
                &admin,
                None,
            )
            .await
            .1;
        if log["items"][0]["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log["items"][0]["state"], "failed", "{log}");
    assert!(
        log["items"][0]["error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{log}"
    );
    assert!(r.all().is_empty(), "nothing reached the loopback receiver");
    app.finish().await;

    // Without CC_WEBHOOK_ALLOW_HTTP an http URL is refused when saved.
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = app.count("SELECT COUNT(*) FROM webhook_endpoints").await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/webhooks",
            &admin,
            Some(json!({"url": "http://psa.example/hook", "events": ["ping", "nope"]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_endpoints").await,
        before
    );
    app.finish().await;
}

#[tokio::test]
async fn a_global_endpoint_gets_license_and_invite_events_of_every_vendor() {
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_WEBHOOK_ALLOW_HTTP", "true"),
        ("CC_WEBHOOK_ALLOW_PRIVATE", "true"),
    ])
    .await;
    let admin = app.admin_token().await;
    let va = app.vendor(&admin, "Vendor A").await;
    app.operator(&admin, "op@a.example", "operator", Some(&va))
        .await;
    let a = app.token("op@a.example", PASSWORD).await;
    let (r, url) = Receiver::start(0).await;
    let (_, secret) = endpoint(&app, &admin, &url, &["license.created", "invite.sent"]).await;
    let cid = customer(&app, &a, "Asiakas Oy", "AOY").await;
    let (s, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{cid}/licenses"),
            &a,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    let lid = l["id"].as_str().unwrap();
    let (s, i) = app
        .api("POST", &format!("/api/v1/licenses/{lid}/invites"), &a, Some(json!({"username": "timo", "email": "timo@asiakas.example", "software_type": "standard", "store_deleted_days": 30})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{i}");
    let iid = i["id"].as_str().unwrap();
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &a,
            Some(json!({"invite_ids": [iid]})),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let got = r.wait_for(2, 15).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let bodies: Vec<Value> = got
        .iter()
        .map(|g| {
            assert!(verify(&secret, g));
            serde_json::from_str(&g.body).unwrap()
        })
        .collect();
    let lic = bodies
        .iter()
        .find(|b| b["type"] == "license.created")
        .unwrap();
    assert_eq!(lic["data"]["license_id"], lid);
    assert_eq!(lic["data"]["customer_id"], cid.as_str());
    assert_eq!(lic["data"]["vendor_id"], va.as_str());
    let inv = bodies.iter().find(|b| b["type"] == "invite.sent").unwrap();
    assert_eq!(inv["data"]["invite_id"], iid);
    assert_eq!(inv["data"]["license_id"], lid);
    app.finish().await;
}

/// 500 queued deliveries all reach a local receiver, and the rate is
/// printed (`cargo test --test it webhook_throughput -- --nocapture`).
#[tokio::test]
async fn webhook_throughput() {
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_WEBHOOK_ALLOW_HTTP", "true"),
        ("CC_WEBHOOK_ALLOW_PRIVATE", "true"),
    ])
    .await;
    let admin = app.admin_token().await;
    let (r, url) = Receiver::start(0).await;
    let (id, _) = endpoint(&app, &admin, &url, &["ping"]).await;
    let n = 500;
    // Queue straight in the table (the figure is the worker's, not the API's).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut sql = String::new();
    for i in 0..n {
        sql.push_str(&format!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, state, attempts, next_attempt_at, created_at) \
             VALUES ('d{i}', '{id}', 'msg_{i}', 'ping', '{{\"type\":\"ping\"}}', 'pending', 0, {now}, {now});"
        ));
    }
    let t0 = std::time::Instant::now();
    app.exec(&sql).await;
    let got = r.wait_for(n, 120).await;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "webhooks: {} deliveries in {secs:.2} s = {:.0}/s",
        got.len(),
        got.len() as f64 / secs
    );
    assert_eq!(got.len(), n);
    app.finish().await;
}
