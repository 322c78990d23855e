//! Health, readiness, metrics, configuration and the server key.

use reqwest::StatusCode;

use crate::harness::*;

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = TestApp::spawn().await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(app.url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        c.get(app.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Metrics are for administrators on the main address.
    assert_eq!(
        c.get(app.url("/metrics")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let admin = app.admin_token().await;
    let m = c
        .get(app.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("cc_http_requests_total"), "{m}");
    // Assets come from the binary.
    let r = c.get(app.url("/static/htmx.min.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    app.finish().await;
}

#[tokio::test]
async fn a_different_server_key_refuses_to_start() {
    let mut app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SECRET_KEY", &"ab".repeat(32)),
    ])
    .await;
    app.stop().await;
    app.env.insert("CC_SECRET_KEY".into(), "cd".repeat(32));
    let Err(err) = app.start().await else {
        panic!("must refuse another key")
    };
    assert!(err.to_string().contains("another key"), "{err}");
    // The right key starts again.
    app.env.insert("CC_SECRET_KEY".into(), "ab".repeat(32));
    app.start().await.unwrap();
    app.finish().await;
}

#[tokio::test]
async fn restart_keeps_data_and_key() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.vendor(&admin, "Survivor Oy").await;
    app.stop().await;
    app.start().await.unwrap();
    let admin = app.admin_token().await;
    let (_, v) = app.api("GET", "/api/v1/vendors", &admin, None).await;
    assert!(v.to_string().contains("Survivor Oy"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM vendors WHERE is_default = 1")
            .await,
        1,
        "one default vendor after restarts"
    );
    app.finish().await;
}

#[tokio::test]
async fn json_errors_are_problem_documents() {
    let app = TestApp::spawn().await;
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "bad_request");
    app.finish().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/api/v1/auth/token", "post"),
        ("/api/v1/vendors", "post"),
        ("/api/v1/operators/{id}", "put"),
        ("/api/v1/customers", "get"),
        ("/api/v1/customers/{id}", "delete"),
        ("/api/v1/customers/{id}/licenses", "post"),
        ("/api/v1/licenses/{id}", "put"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let license = &doc["components"]["schemas"]["License"]["properties"];
    for field in [
        "number",
        "type",
        "state",
        "standard_seats",
        "standard_used",
        "server_seats",
        "server_used",
        "extra_space_gb",
        "total_space_gb",
        "client_limit_gb",
        "created",
        "valid_to",
        "comments",
    ] {
        assert!(license[field].is_object(), "License.{field} in the schema");
    }
    let html = reqwest::get(app.url("/api/docs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("/api/v1/customers/{id}/licenses") && !html.contains("<script"),
        "docs page lists endpoints, loads nothing"
    );
    app.finish().await;
}
