//! Cookies, the signed-in context, and CSRF-checked forms.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::AppState;
use crate::i18n::Lang;
use crate::service::Actor;

pub const SESSION_COOKIE: &str = "cc_session";
pub const PRE_COOKIE: &str = "cc_pre";
/// The half signed-in session between the password and the second factor
/// (or enrolment): a cookie of its own, so no page but that step sees it.
pub const PENDING_COOKIE: &str = "cc_pending";
pub const LANG_COOKIE: &str = "cc_lang";

/// A cookie of the console: HttpOnly, SameSite=Lax, Path=/, Secure when the
/// console is served over https. `max_age` 0 deletes the cookie.
pub fn new_cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(max_age_secs))
        .secure(state.services.config.secure_cookies())
        .build()
}

/// The page language: the `cc_lang` cookie, else `Accept-Language`.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    CookieJar::from_headers(headers)
        .get(LANG_COOKIE)
        .and_then(|c| Lang::from_code(c.value()))
        .unwrap_or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Lang::from_accept_language)
                .unwrap_or(Lang::En)
        })
}

/// The language of a request, for pages without a session.
pub struct PageLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang(lang_of(&parts.headers)))
    }
}

/// A signed-in request: the actor, its CSRF token and language. Handlers
/// that take a `Ctx` cannot be reached without a live session.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub csrf: String,
    pub lang: Lang,
    pub session_token: String,
    /// The session's id (what the sessions list names).
    pub session_id: String,
    /// The path asked for, so the menu can mark where we are.
    pub path: String,
}

impl<S> FromRequestParts<S> for Ctx
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let lang = lang_of(&parts.headers);
        let path = parts.uri.path().to_string();
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            let target = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            if parts.headers.contains_key("hx-request") {
                // htmx follows HX-Redirect with a full page load.
                (StatusCode::UNAUTHORIZED, [("hx-redirect", target)]).into_response()
            } else {
                Redirect::to(&target).into_response()
            }
        };
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) else {
            return Err(to_login());
        };
        let ip = crate::http::client_ip(parts, state.services.config.trust_forwarded_for);
        match state.services.session_actor(&token, ip).await {
            Ok(Some((actor, csrf, session_id))) => Ok(Ctx {
                actor,
                csrf,
                lang,
                session_token: token,
                session_id,
                path,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(super::WebError::from(e).into_response()),
        }
    }
}

/// A form posted by a signed-in operator, after the CSRF check: the token
/// comes in the `_csrf` field or the `x-csrf-token` header (htmx). The body
/// is read by `axum_extra`'s `Form`, so a name that repeats (checkboxes)
/// fills a `Vec<String>` field of `T`.
pub struct CsrfForm<T> {
    pub ctx: Ctx,
    pub form: T,
}

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, state).await?;
        let header_token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (form, form_token) = read_form(parts, body, state).await?;
        let ok = [header_token, form_token]
            .into_iter()
            .flatten()
            .any(|t| crate::keys::same(&t, &ctx.csrf));
        if !ok {
            return Err(csrf_rejected(ctx.lang));
        }
        Ok(CsrfForm {
            ctx,
            form: form.map_err(|e| *e)?,
        })
    }
}

/// A form of the pages before a session exists (sign-in, its second step,
/// setup, password reset, passkey sign-in): its `_csrf` must equal the
/// pre-session cookie (`cc_pre`, a double-submit token), else the CSRF
/// page and nothing happens. Carries the page's language and that token
/// (for a page rendered back).
pub struct PreForm<T> {
    pub form: T,
    pub pre: String,
    pub lang: Lang,
}

impl<S, T> FromRequest<S> for PreForm<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let lang = lang_of(&parts.headers);
        let pre = CookieJar::from_headers(&parts.headers)
            .get(PRE_COOKIE)
            .map(|c| c.value().to_string())
            .unwrap_or_default();
        let (form, sent) = read_form(parts, body, state).await?;
        if pre.is_empty() || !crate::keys::same(&pre, &sent.unwrap_or_default()) {
            return Err(csrf_rejected(lang));
        }
        Ok(PreForm {
            form: form.map_err(|e| *e)?,
            pre,
            lang,
        })
    }
}

/// Reads a form body once: its `_csrf` field and the typed form (read by
/// `axum_extra`'s `Form`, so a repeated name fills a `Vec`). The typed
/// form's error waits until the token has been checked, so a forged
/// request is refused as such whatever its fields.
async fn read_form<S, T>(
    parts: Parts,
    body: axum::body::Body,
    state: &S,
) -> Result<(Result<T, Box<Response>>, Option<String>), Response>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.into_owned());
    let req = Request::from_parts(parts, axum::body::Body::from(bytes));
    let form = Form::<T>::from_request(req, state)
        .await
        .map(|Form(f)| f)
        .map_err(|e| {
            Box::new(
                (
                    e.status(),
                    format!("The form could not be read: {}", e.body_text()),
                )
                    .into_response(),
            )
        });
    Ok((form, token))
}

#[derive(askama::Template)]
#[template(path = "csrf_rejected.html")]
struct CsrfRejected {
    lang: Lang,
}

/// The answer to a form without a valid CSRF token: nothing was changed.
pub fn csrf_rejected(lang: Lang) -> Response {
    match askama::Template::render(&CsrfRejected { lang }) {
        Ok(html) => (StatusCode::FORBIDDEN, axum::response::Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "csrf page template");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

/// The vendor filter an admin last chose, for this browser session.
pub const VENDOR_COOKIE: &str = "cc_vendor";

/// The pages with a vendor filter and the name of their parameter.
fn vendor_param(path: &str) -> Option<&'static str> {
    match path {
        "/monitoring" | "/usage" => Some("vendor_id"),
        "/licenses" | "/installations" => Some("vendor"),
        _ => None,
    }
}

/// Remembers the vendor filter for the browser session across the pages
/// that have one: a page opened with the filter (a vendor, or "All" as an
/// empty value) stores it in a session cookie (no Max-Age: it ends with the
/// browser session); a page opened plainly (the menu, no query) while a
/// vendor is remembered is sent to itself with that filter, so the address
/// always says what is shown. A page opened with other parameters is left
/// as asked.
pub async fn remember_vendor(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let param = match vendor_param(req.uri().path()) {
        Some(p) if req.method() == axum::http::Method::GET => p,
        _ => return next.run(req).await,
    };
    let query = req.uri().query().unwrap_or("");
    let given = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == param)
        .map(|(_, v)| v.trim().to_string());
    match given {
        // Only an id (or nothing) is remembered: the value goes back into
        // a URL.
        Some(v) if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && v.len() <= 64 => {
            let mut resp = next.run(req).await;
            if resp.status().is_success() {
                let c = Cookie::build((VENDOR_COOKIE, v))
                    .path("/")
                    .http_only(true)
                    .same_site(SameSite::Lax)
                    .secure(state.services.config.secure_cookies())
                    .build();
                if let Ok(h) = c.to_string().parse() {
                    resp.headers_mut().append(header::SET_COOKIE, h);
                }
            }
            resp
        }
        Some(_) => next.run(req).await,
        None if query.is_empty() => {
            let remembered = CookieJar::from_headers(req.headers())
                .get(VENDOR_COOKIE)
                .map(|c| c.value().to_string())
                .filter(|v| {
                    !v.is_empty()
                        && v.len() <= 64
                        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            match remembered {
                Some(v) => {
                    Redirect::to(&format!("{}?{param}={v}", req.uri().path())).into_response()
                }
                None => next.run(req).await,
            }
        }
        None => next.run(req).await,
    }
}
