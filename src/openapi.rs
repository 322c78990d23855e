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
    info(title = "Command Center API", description = "The admin API (`/api/v1`: customers, licenses, invites, installations, monitoring, vendors and operators of a managed-backup service) and the client API (`/client/v1`: what installed backup clients call). Admin API: authenticate with POST /api/v1/auth/token, then send `Authorization: Bearer <token>`; client API: activate with POST /client/v1/activate and send the token it answers the same way. Errors are RFC 9457 problem documents (`application/problem+json`) with a stable `code`; every list answers `{items, next_cursor}` (`next_cursor` is null on the last page). Operation ids are stable."),
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
        crate::api::me::passkeys,
        crate::api::me::remove_passkey,
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
        crate::api::monitoring::csv,
        crate::api::usage::get,
        crate::api::import::customers,
        crate::api::customers::export,
        crate::api::exports::licenses,
        crate::api::exports::invites,
        crate::api::exports::installations,
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
    Json(document()).into_response()
}

/// The document as served: utoipa's output, finished by [`contract`];
/// built once (it is the same for every request).
pub fn document() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        contract(&mut doc);
        doc
    })
}

/// Operations that can answer 429 `rate_limited` (attempt limits, or the
/// password hasher's queue being full), by operation id.
const RATE_LIMITED: &[&str] = &[
    "issue_token",
    "request_password_reset",
    "confirm_password_reset",
    "create_operator",
    "update_operator",
    "confirm_totp_enrolment",
    "disable_totp",
    "activate_client",
    "start_client_trial",
];

/// The rules every operation of the document follows, applied in one
/// place rather than repeated in 65 annotations (where one forgotten
/// answer is how the document drifted from the server before):
///
/// - every error answer is `application/problem+json` with the
///   `ProblemDocument` schema;
/// - answers that can happen on any operation are declared on each: 400
///   (`bad_request`/`bad_query`/`control_characters`: a body or query
///   string that does not parse), 401 and 403 (`insufficient_scope`) where
///   a bearer token is needed, 404 where the path names an object, 429
///   where attempts are limited ([`RATE_LIMITED`]);
/// - a list answers `Page_<Item>` = `{items, next_cursor}`, its items a
///   `$ref` to the item's own schema (utoipa inlines generic arguments);
/// - formats by the API's naming rule (PRODUCT.md: times are RFC 3339,
///   dates ISO 8601): a string `…_at` is a `date-time`, `created` and
///   `valid_to` are `date`s, `email` and `…_email` are `email`s.
pub fn contract(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let problem = |description: &str| json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}}});
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        let names: Vec<String> = schemas.keys().cloned().collect();
        for (name, schema) in schemas.iter_mut() {
            if let Some(item) = name.strip_prefix("Page_")
                && names.iter().any(|n| n == item)
            {
                schema["properties"]["items"]["items"] =
                    json!({"$ref": format!("#/components/schemas/{item}")});
                schema["required"] = json!(["items", "next_cursor"]);
            }
            formats(schema);
        }
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            let rate_limited = op
                .get("operationId")
                .and_then(Value::as_str)
                .is_some_and(|id| RATE_LIMITED.contains(&id));
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            let Some(responses) = responses else { continue };
            for (status, r) in responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let Some(content) = r.get_mut("content").and_then(Value::as_object_mut)
                    && is_error
                    && let Some(body) = content.remove("application/json")
                {
                    content.insert("application/problem+json".into(), body);
                }
            }
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status)
                    .or_insert_with(|| problem(description));
            };
            add(
                "400",
                "A body or query string that does not parse (`bad_request`, `bad_query`) or holds control characters",
            );
            if secured {
                add("401", "No valid bearer token (`unauthorized`)");
                if path.starts_with("/api/") {
                    add(
                        "403",
                        "The token lacks the scope (`insufficient_scope`) or the role does not allow this (`forbidden`)",
                    );
                }
            }
            if path.contains('{') {
                add("404", "Not found, or another vendor's (`not_found`)");
            }
            if rate_limited {
                add("429", "Too many attempts (`rate_limited`); see Retry-After");
            }
        }
    }
}

/// Sets `format` on string properties by the API's naming rule (see
/// [`contract`]), recursing into nested schemas.
fn formats(schema: &mut serde_json::Value) {
    use serde_json::Value;
    let is_string = |v: &Value| match &v["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, p) in props.iter_mut() {
            let format = if name.ends_with("_at") {
                Some("date-time")
            } else if name == "created" || name == "valid_to" {
                Some("date")
            } else if name == "email" || name.ends_with("_email") {
                Some("email")
            } else {
                None
            };
            if let Some(format) = format
                && is_string(p)
                && p.get("format").is_none()
            {
                p["format"] = Value::String(format.into());
            }
            formats(p);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get_mut(key)
            && inner.is_object()
        {
            formats(inner);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema.get_mut(key).and_then(Value::as_array_mut) {
            list.iter_mut().for_each(formats);
        }
    }
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
    let doc = document();
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
