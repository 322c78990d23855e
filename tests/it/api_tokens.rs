//! Scoped API tokens (#16): scopes checked on every write route of the
//! router's own table, expiry and revocation (seen at once by a second
//! instance on the same database), audit rows naming the token, the
//! recognisable `cc_` shape, and disabling an operator revoking its tokens.

use command_center::config::{Config, ConfigArgs};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

async fn make_token(app: &TestApp, by: &str, name: &str, scopes: &[&str]) -> (String, String) {
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/tokens",
            by,
            Some(json!({"name": name, "scopes": scopes, "expires_in_days": 30})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (
        v["token"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_read_token_is_refused_on_every_write_route_of_the_router() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendor = app.vendor(&admin, "Vendor A").await;
    app.operator(&admin, "op@a.example", "operator", Some(&vendor))
        .await;
    let op = app.token("op@a.example", PASSWORD).await;
    let (read, _) = make_token(&app, &op, "PSA read-only", &["read"]).await;
    assert!(
        command_center::domain::api_token::looks_like_token(&read),
        "{read}"
    );

    // Reading works.
    let (s, v) = app.api("GET", "/api/v1/customers", &read, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Every path of the router's table, with every writing method: either
    // the route has no such method (405) or the token is refused (403).
    let id = "0190b0b0-0000-7000-8000-000000000000";
    let mut refused = 0;
    let paths = command_center::api::route_paths();
    assert!(paths.len() > 30, "{paths:?}");
    for path in &paths {
        let concrete = path.replace("{id}", id).replace("{delivery}", id);
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let (s, v) = app
                .api(method, &format!("/api{concrete}"), &read, Some(json!({})))
                .await;
            match s {
                StatusCode::METHOD_NOT_ALLOWED => {}
                StatusCode::FORBIDDEN => {
                    assert_eq!(v["code"], "insufficient_scope", "{method} {path}: {v}");
                    refused += 1;
                }
                other => panic!("{method} {path}: {other} {v}"),
            }
        }
    }
    assert!(refused >= 25, "only {refused} write routes found");
    // Nothing was written by all that.
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 0);

    // A write token writes, and cannot make a token with more than it has.
    let (write, _) = make_token(&app, &op, "billing", &["read", "write"]).await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/tokens",
            &write,
            Some(json!({"name": "x", "scopes": ["read", "admin"]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "not an admin: {v}");
    // Bad input: clear field errors, nothing made.
    let before = app.count("SELECT COUNT(*) FROM api_tokens").await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/tokens",
            &write,
            Some(json!({"name": "", "scopes": ["root"], "expires_in_days": 400})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, before);

    // An admin's token without `admin` cannot do admin work.
    let (admin_rw, _) = make_token(&app, &admin, "admin rw", &["read", "write"]).await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/vendors",
            &admin_rw,
            Some(json!({"name": "Vendor C"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], "insufficient_scope");
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/tokens",
            &admin_rw,
            Some(json!({"name": "escalate", "scopes": ["read", "write", "admin"]})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], "insufficient_scope");
    let (admin_full, _) = make_token(&app, &admin, "admin full", &["read", "write", "admin"]).await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/vendors",
            &admin_full,
            Some(json!({"name": "Vendor C"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // The OpenAPI document declares the scopes.
    let doc: Value = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["paths"]["/api/v1/customers"]["get"]["security"][0]["bearer"],
        json!(["read"])
    );
    assert_eq!(
        doc["paths"]["/api/v1/customers"]["post"]["security"][0]["bearer"],
        json!(["write"])
    );
    assert_eq!(
        doc["paths"]["/api/v1/vendors"]["post"]["security"][0]["bearer"],
        json!(["write", "admin"])
    );
    app.finish().await;
}

#[tokio::test]
async fn tokens_are_listed_audited_expire_and_revoke_on_every_instance() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let va = app.vendor(&admin, "Vendor A").await;
    let vb = app.vendor(&admin, "Vendor B").await;
    let op_a = app
        .operator(&admin, "op@a.example", "operator", Some(&va))
        .await;
    app.operator(&admin, "op@b.example", "operator", Some(&vb))
        .await;
    let a = app.token("op@a.example", PASSWORD).await;
    let b = app.token("op@b.example", PASSWORD).await;
    let (psa, psa_id) = make_token(&app, &a, "PSA", &["read", "write"]).await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/customers",
            &psa,
            Some(json!({"name": "Asiakas Oy", "vat_id": "fi 0112 0389", "postal_code": "00100", "username_prefix": "AOY"})),
        )
        .await;
    assert!(s.is_success(), "{v}");

    // The audit row names the token and its creator.
    let (_, v) = app
        .api("GET", "/api/v1/audit?action=customer.", &admin, None)
        .await;
    let row = &v["items"][0];
    assert_eq!(row["actor_kind"], "api_token", "{v}");
    assert_eq!(row["actor"], "PSA (op@a.example)", "{v}");

    // Listed with its last use; never its secret. Vendor B sees none of A's.
    let (s, v) = app.api("GET", "/api/v1/tokens", &a, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mine = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == psa_id)
        .unwrap()
        .clone();
    assert_eq!(mine["name"], "PSA");
    assert_eq!(mine["scopes"], json!(["read", "write"]));
    assert_eq!(mine["created_by"], "op@a.example");
    assert!(mine["last_used_at"].is_string(), "{mine}");
    assert!(mine["last_used_ip"].is_string(), "{mine}");
    assert!(!v.to_string().contains(&psa));
    let (_, v) = app.api("GET", "/api/v1/tokens", &b, None).await;
    assert!(!v.to_string().contains(&psa_id), "{v}");
    let (s, _) = app
        .api("DELETE", &format!("/api/v1/tokens/{psa_id}"), &b, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The owner's sessions list shows it too.
    let (_, v) = app.api("GET", "/api/v1/me/sessions", &a, None).await;
    assert!(v.to_string().contains(&psa_id), "{v}");

    // A second instance on the same database.
    let mut env = app.env.clone();
    env.insert("CC_LISTEN".into(), "127.0.0.1:0".into());
    let second = command_center::start(Config::from_sources(&ConfigArgs::default(), env).unwrap())
        .await
        .unwrap();
    let url2 = format!("http://{}/api/v1/customers", second.addr);
    let get2 = |t: String| {
        let url2 = url2.clone();
        async move {
            reqwest::Client::new()
                .get(url2)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get2(psa.clone()).await, StatusCode::OK);
    let (s, _) = app
        .api("DELETE", &format!("/api/v1/tokens/{psa_id}"), &a, None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(get2(psa.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.api("GET", "/api/v1/customers", &psa, None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Expired: 401.
    let (old, old_id) = make_token(&app, &a, "old", &["read"]).await;
    assert_eq!(get2(old.clone()).await, StatusCode::OK);
    app.exec(&format!(
        "UPDATE api_tokens SET expires_at = 1 WHERE id = '{old_id}'"
    ))
    .await;
    assert_eq!(get2(old.clone()).await, StatusCode::UNAUTHORIZED);
    second.stop().await.unwrap();

    // Disabling the operator revokes its tokens.
    let (live, _) = make_token(&app, &a, "live", &["read"]).await;
    let (s, v) = app
        .api(
            "PUT",
            &format!("/api/v1/operators/{op_a}"),
            &admin,
            Some(json!({"role": "operator", "vendor_id": va, "disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    app.exec(&format!(
        "UPDATE operators SET disabled_at = NULL WHERE id = '{op_a}'"
    ))
    .await;
    assert_eq!(
        app.api("GET", "/api/v1/customers", &live, None).await.0,
        StatusCode::UNAUTHORIZED,
        "revoked, not only refused while disabled"
    );
    app.stop().await;
    app.finish().await;
}

#[tokio::test]
async fn the_console_makes_shows_once_and_revokes_a_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let va = app.vendor(&admin, "Vendor A").await;
    app.operator(&admin, "view@a.example", "viewer", Some(&va))
        .await;
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in("view@a.example", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (s, html) = b.get("/settings/api-tokens").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains("href=\"/settings/api-tokens\""),
        "in the menu"
    );
    // A viewer is offered `read` only, and every field has a label.
    assert!(!html.contains("name=\"write\""));
    assert!(!html.contains("name=\"admin\""));
    for id in ["name", "scope-read", "days"] {
        assert!(html.contains(&format!("for=\"{id}\"")), "{id}");
    }
    let csrf = csrf_of(&html);
    // Bad input: the form comes back with the message, nothing made.
    let (s, html, _) = b
        .post(
            "/settings/api-tokens",
            &[("_csrf", &csrf), ("name", "x"), ("days", "500")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Choose 1 to 365 days."), "{html}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM api_tokens WHERE name IS NOT NULL")
            .await,
        0
    );
    // A viewer asking for write (by hand) is refused.
    let (s, _, _) = b
        .post(
            "/settings/api-tokens",
            &[
                ("_csrf", &csrf),
                ("name", "x"),
                ("days", "30"),
                ("write", "on"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, html, _) = b
        .post(
            "/settings/api-tokens",
            &[("_csrf", &csrf), ("name", "Dashboard"), ("days", "30")],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{html}");
    let token = html
        .split("id=\"created-token\" type=\"text\" readonly value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(command_center::domain::api_token::looks_like_token(&token));
    assert_eq!(
        app.api("GET", "/api/v1/customers", &token, None).await.0,
        StatusCode::OK
    );
    // Shown once: the list never shows it again.
    let (_, html) = b.get("/settings/api-tokens").await;
    assert!(!html.contains(&token));
    assert!(html.contains("Dashboard"));
    let id = html
        .split("action=\"/settings/api-tokens/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let (s, _, loc) = b
        .post(
            &format!("/settings/api-tokens/{id}/revoke"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc.as_deref(), Some("/settings/api-tokens"));
    assert_eq!(
        app.api("GET", "/api/v1/customers", &token, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // In Finnish too.
    b.get("/lang/fi?back=/settings/api-tokens").await;
    let (_, html) = b.get("/settings/api-tokens").await;
    assert!(html.contains("API-tunnisteet"), "{html}");
    app.finish().await;
}
