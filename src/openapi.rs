//! The OpenAPI 3.1 document of both APIs (admin and client; composed here,
//! above the faces, so neither API imports the other), generated from the handlers' annotations and
//! the types they exchange, and a plain page that lists it (`/api/docs`),
//! rendered on the server with nothing loaded from elsewhere.

use axum::Json;
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "Command Center admin API", description = "Customers, licenses, vendors and operators of a managed-backup service. Authenticate with POST /api/v1/auth/token, then send `Authorization: Bearer <token>`. Errors are RFC 9457 problem documents with a stable `code`; lists answer `{items, next_cursor}`."),
    paths(
        crate::api::issue_token,
        crate::api::revoke_token,
        crate::api::tokens::list,
        crate::api::tokens::create,
        crate::api::tokens::revoke,
        crate::api::webhooks::list,
        crate::api::webhooks::create,
        crate::api::webhooks::get,
        crate::api::webhooks::update,
        crate::api::webhooks::delete,
        crate::api::webhooks::deliveries,
        crate::api::webhooks::test,
        crate::api::webhooks::redeliver,
        crate::api::webhooks::attempts,
        crate::api::webhooks::rotate,
        crate::api::request_password_reset,
        crate::api::confirm_password_reset,
        crate::api::audit,
        crate::api::me::start_totp,
        crate::api::me::confirm_totp,
        crate::api::me::disable_totp,
        crate::api::me::sessions,
        crate::api::me::end_session,
        crate::api::me::end_operator_sessions,
        crate::api::me::set_two_factor,
        crate::api::vendors::list,
        crate::api::vendors::get,
        crate::api::vendors::create,
        crate::api::vendors::update,
        crate::api::operators::list,
        crate::api::operators::get,
        crate::api::operators::create,
        crate::api::operators::update,
        crate::api::customers::list,
        crate::api::customers::create,
        crate::api::customers::get,
        crate::api::customers::update,
        crate::api::customers::delete,
        crate::api::customers::reveal_key,
        crate::api::customers::list_licenses,
        crate::api::customers::create_license,
        crate::api::customers::get_license,
        crate::api::customers::update_license,
        crate::api::invites::list,
        crate::api::invites::create,
        crate::api::invites::get,
        crate::api::invites::revoke,
        crate::api::invites::send,
        crate::api::monitoring::list,
        crate::api::monitoring::alerts,
        crate::api::usage::get,
        crate::api::import::customers,
        crate::api::customers::export,
        crate::api::installations::list,
        crate::api::installations::get,
        crate::api::installations::history,
        crate::api::installations::snapshots,
        crate::api::installations::deactivate,
        crate::api::installations::delete_backup_data,
        crate::api::installations::trials,
        crate::api::installations::connect_trial,
        crate::client_api::activate,
        crate::client_api::trial,
        crate::client_api::policy,
        crate::client_api::report,
        crate::client_api::deactivate,
    ),
    modifiers(&BearerAuth, &TokenScopes)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// Declares the scope every bearer-authenticated admin operation needs,
/// by the same rule the API enforces (`api::authenticate`): `read` for
/// GET, `write` for every other method. Admin-only operations also need
/// `admin` (their summaries say "admins").
struct TokenScopes;

impl utoipa::Modify for TokenScopes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityRequirement;
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            let ops = [
                ("GET", item.get.as_mut()),
                ("POST", item.post.as_mut()),
                ("PUT", item.put.as_mut()),
                ("DELETE", item.delete.as_mut()),
                ("PATCH", item.patch.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let bearer = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if !bearer {
                    continue;
                }
                let mut scopes = vec![crate::domain::api_token::scope_for_method(method).as_str()];
                if op.summary.as_deref().is_some_and(|s| s.contains("(admins")) {
                    scopes.push("admin");
                }
                op.security = Some(vec![SecurityRequirement::new("bearer", scopes)]);
            }
        }
    }
}

/// `GET /api/openapi.json`
pub async fn json() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// One operation for the docs page.
pub struct Endpoint {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub tag: String,
    pub responses: String,
}

#[derive(askama::Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    endpoints: Vec<Endpoint>,
    schemas: Vec<(String, String)>,
}

/// `GET /api/docs`: every endpoint and schema of the document, readable
/// without JavaScript or anything from outside.
pub async fn docs() -> Response {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut endpoints = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "delete"] {
                let op = &item[method];
                if op.is_null() {
                    continue;
                }
                let responses = op["responses"]
                    .as_object()
                    .map(|r| r.keys().cloned().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default();
                endpoints.push(Endpoint {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: op["summary"].as_str().unwrap_or("").to_string(),
                    tag: op["tags"][0].as_str().unwrap_or("").to_string(),
                    responses,
                });
            }
        }
    }
    endpoints.sort_by(|a, b| (&a.tag, &a.path).cmp(&(&b.tag, &b.path)));
    let schemas = doc["components"]["schemas"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        serde_json::to_string_pretty(v).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    match askama::Template::render(&DocsPage { endpoints, schemas }) {
        Ok(html) => Html(html).into_response(),
        Err(e) => crate::http::Problem::from(crate::service::ServiceError::Internal(
            anyhow::anyhow!("docs template: {e}"),
        ))
        .into_response(),
    }
}
