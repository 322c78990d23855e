//! Tenant isolation as a matrix: routes × roles × targets. Another
//! vendor's objects are "not found" on every route, UI and API, read and
//! write; viewers change nothing anywhere.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

struct World {
    app: TestApp,
    customer: String,
    license: String,
    vendor_a: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.vendor(&admin, "Vendor A").await;
    let b = app.vendor(&admin, "Vendor B").await;
    for (email, role, v) in [
        ("op@a.example", "operator", &a),
        ("view@a.example", "viewer", &a),
        ("op@b.example", "operator", &b),
        ("view@b.example", "viewer", &b),
    ] {
        app.operator(&admin, email, role, Some(v)).await;
    }
    let (_, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &admin,
            Some(json!({"name": "A's customer", "vendor_id": a, "encryption_key": "k-123"})),
        )
        .await;
    let customer = c["id"].as_str().unwrap().to_string();
    let (_, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{customer}/licenses"),
            &admin,
            Some(json!({"standard_seats": 5})),
        )
        .await;
    let license = l["id"].as_str().unwrap().to_string();
    World {
        app,
        customer,
        license,
        vendor_a: a,
    }
}

fn api_routes(w: &World) -> Vec<(&'static str, String, Option<serde_json::Value>, bool)> {
    let (c, l) = (&w.customer, &w.license);
    vec![
        ("GET", format!("/api/v1/customers/{c}"), None, false),
        (
            "PUT",
            format!("/api/v1/customers/{c}"),
            Some(json!({"name": "Hijacked"})),
            true,
        ),
        ("DELETE", format!("/api/v1/customers/{c}"), None, true),
        (
            "POST",
            format!("/api/v1/customers/{c}/encryption-key/reveal"),
            None,
            true,
        ),
        (
            "GET",
            format!("/api/v1/customers/{c}/licenses"),
            None,
            false,
        ),
        (
            "POST",
            format!("/api/v1/customers/{c}/licenses"),
            Some(json!({"standard_seats": 1})),
            true,
        ),
        ("GET", format!("/api/v1/licenses/{l}"), None, false),
        (
            "PUT",
            format!("/api/v1/licenses/{l}"),
            Some(json!({"standard_seats": 99})),
            true,
        ),
        (
            "GET",
            format!("/api/v1/customers?vendor_id={}", w.vendor_a),
            None,
            false,
        ),
    ]
}

type UiRoute = (&'static str, String, Vec<(&'static str, &'static str)>);

fn ui_routes(w: &World) -> Vec<UiRoute> {
    let (c, l) = (&w.customer, &w.license);
    vec![
        ("GET", format!("/licenses/{c}"), vec![]),
        ("POST", format!("/licenses/{c}"), vec![("name", "Hijacked")]),
        ("GET", format!("/licenses/{c}/license"), vec![]),
        (
            "POST",
            format!("/licenses/{c}/license"),
            vec![("standard_seats", "1")],
        ),
        (
            "POST",
            format!("/licenses/{c}/license/{l}"),
            vec![("standard_seats", "99")],
        ),
        ("GET", format!("/licenses/{c}/delete"), vec![]),
        ("POST", format!("/licenses/{c}/delete"), vec![]),
        ("POST", format!("/licenses/{c}/reveal-key"), vec![]),
    ]
}

async fn assert_untouched(w: &World) {
    assert_eq!(
        w.app
            .count("SELECT COUNT(*) FROM customers WHERE name = 'A''s customer'")
            .await,
        1
    );
    assert_eq!(w.app.count("SELECT COUNT(*) FROM licenses").await, 1);
    assert_eq!(
        w.app
            .count("SELECT COUNT(*) FROM licenses WHERE standard_seats = 5")
            .await,
        1
    );
    assert_eq!(
        w.app
            .count("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.reveal_encryption_key'")
            .await,
        0
    );
}

#[tokio::test]
async fn another_vendors_objects_are_not_found_in_the_api() {
    let w = world().await;
    for who in ["op@b.example", "view@b.example"] {
        let t = w.app.token(who, PASSWORD).await;
        for (m, path, body, write) in api_routes(&w) {
            let (s, v) = w.app.api(m, &path, &t, body).await;
            let expected = if who.starts_with("view") && write {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(s, expected, "{who} {m} {path}: {v}");
        }
        let (_, list) = w.app.api("GET", "/api/v1/customers", &t, None).await;
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            0,
            "{who} lists nothing of A"
        );
        let (_, list) = w
            .app
            .api("GET", "/api/v1/customers?q=customer", &t, None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0);
    }
    assert_untouched(&w).await;
    w.app.finish().await;
}

#[tokio::test]
async fn another_vendors_objects_are_not_found_in_the_console() {
    let w = world().await;
    let b = Browserless::new(&w.app);
    assert_eq!(
        b.sign_in("op@b.example", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = b.csrf("/licenses").await;
    for (m, path, form) in ui_routes(&w) {
        let s = if m == "GET" {
            b.get(&path).await.0
        } else {
            let mut f = form.clone();
            f.push(("_csrf", &csrf));
            b.post(&path, &f).await.0
        };
        assert_eq!(s, StatusCode::NOT_FOUND, "op@b {m} {path}");
    }
    let (_, html) = b.get(&format!("/licenses?vendor={}", w.vendor_a)).await;
    assert!(
        !html.contains("A&#39;s customer") && !html.contains("A's customer"),
        "the vendor filter is the admin's only"
    );
    let (_, html) = b.get("/licenses/search?q=customer").await;
    assert!(!html.contains("customer</a>"));
    assert_untouched(&w).await;
    w.app.finish().await;
}

#[tokio::test]
async fn viewers_read_but_change_nothing() {
    let w = world().await;
    let t = w.app.token("view@a.example", PASSWORD).await;
    for (m, path, body, write) in api_routes(&w) {
        let (s, v) = w.app.api(m, &path, &t, body).await;
        let expected = if write {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        };
        assert_eq!(s, expected, "viewer {m} {path}: {v}");
    }
    let (s, _) = w
        .app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(json!({"name": "New"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let b = Browserless::new(&w.app);
    assert_eq!(
        b.sign_in("view@a.example", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = b.csrf("/licenses").await;
    for (m, path, form) in ui_routes(&w) {
        let s = if m == "GET" {
            b.get(&path).await.0
        } else {
            let mut f = form.clone();
            f.push(("_csrf", &csrf));
            b.post(&path, &f).await.0
        };
        let expected = if m == "GET" && !path.ends_with("/delete") {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(s, expected, "viewer {m} {path}");
    }
    assert_untouched(&w).await;
    // The operator of A does see and change it.
    let op = w.app.token("op@a.example", PASSWORD).await;
    let (s, _) = w
        .app
        .api(
            "PUT",
            &format!("/api/v1/licenses/{}", w.license),
            &op,
            Some(json!({"standard_seats": 6})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    w.app.finish().await;
}
