//! What the three faces (console `web/`, admin API `api/`, client API
//! `client_api/`) share: the state every handler reaches, the caller's
//! address, the bearer token, the problem document and CSV downloads.
//! The faces import this room and `service/`, never each other.

pub mod controls;
pub mod csv;
pub mod file_body;
pub mod problem;
pub mod serve;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts};

pub use problem::{ApiResult, Body, Problem, ProblemDocument, ProblemField};

use crate::service::Services;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// The caller's address: the socket peer, or — when the operator said a
/// trusted proxy sits in front — the last `X-Forwarded-For` entry, the one
/// that proxy appended. (The first entries are whatever the client wrote:
/// trusting them would let anyone pick the address its rate limits count
/// against.)
pub fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<String> {
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok());
    if let (true, Some(first)) = (trust_forwarded_for, forwarded) {
        return Some(first.to_string());
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
}

/// The caller's address as an extractor (for the audit log and rate limits).
pub struct ClientIp(pub Option<String>);

/// Where a request comes from — address and User-Agent (cut to 300
/// characters, control characters dropped) — kept with a new session or
/// API token so its owner can tell them apart.
pub struct ClientOrigin(pub crate::service::auth::Origin);

impl FromRequestParts<AppState> for ClientOrigin {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().filter(|c| !c.is_control()).take(300).collect());
        Ok(ClientOrigin(crate::service::auth::Origin {
            user_agent,
            ip: client_ip(parts, state.services.config.trust_forwarded_for),
        }))
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(
            parts,
            state.services.config.trust_forwarded_for,
        )))
    }
}

/// A query string parsed into `T`; one that does not parse (`limit=abc`, a
/// missing parameter) is a 400 problem document with code `bad_query`,
/// not axum's plain text.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(Problem::new(
                axum::http::StatusCode::BAD_REQUEST,
                "bad_query",
                e.body_text(),
            )),
        }
    }
}

/// Path parameters parsed into `T`; one that does not decode (`%FF` is
/// not UTF-8) is a 404 problem document like an id that does not exist,
/// not axum's plain text.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(Problem::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "Not found.",
            )),
        }
    }
}

/// A router and the paths it holds, recorded as they are added, so that
/// tests can walk every route of an API (and compare them with the
/// OpenAPI document).
#[derive(Default)]
pub struct RouteTable {
    pub router: axum::Router<AppState>,
    pub paths: Vec<&'static str>,
}

impl RouteTable {
    pub fn route(mut self, path: &'static str, m: axum::routing::MethodRouter<AppState>) -> Self {
        self.paths.push(path);
        self.router = self.router.route(path, m);
        self
    }
}

/// The token of `Authorization: Bearer <token>`. The scheme is
/// case-insensitive (RFC 9110 §11.1), the same for both APIs.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    fn parts(auth: &str) -> axum::http::request::Parts {
        Request::builder()
            .header("authorization", auth)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn the_proxys_own_entry_counts() {
        let p = axum::http::Request::builder()
            .header("x-forwarded-for", "6.6.6.6, 10.0.0.7")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(super::client_ip(&p, true).as_deref(), Some("10.0.0.7"));
        assert_eq!(super::client_ip(&p, false), None);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(super::bearer_token(&parts("Bearer abc")), Some("abc"));
        assert_eq!(super::bearer_token(&parts("bearer abc")), Some("abc"));
        assert_eq!(super::bearer_token(&parts("BEARER  abc ")), Some("abc"));
        assert_eq!(super::bearer_token(&parts("Basic abc")), None);
        assert_eq!(super::bearer_token(&parts("Bearer ")), None);
        assert_eq!(super::bearer_token(&parts("Bearerabc")), None);
    }
}
