//! Sign-in, sign-out, first-admin setup, and the language switch.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::session::{self, PRE_COOKIE, PageLang, SESSION_COOKIE, cookie};
use super::{AppState, CsrfForm, Ctx, FormErrors, Lang, Page, WebResult, render, render_status};
use crate::http::ClientIp;
use crate::keys::random_token;
use crate::service::ServiceError;

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "setup.html")]
struct SetupPage {
    page: Page,
    email: String,
    name: String,
    errors: FormErrors,
}

/// The pre-session CSRF token (double-submit cookie) for sign-in and setup.
fn pre_token(state: &AppState, headers: &HeaderMap) -> WebResult<(String, Option<String>)> {
    if let Some(t) = cookie(headers, PRE_COOKIE).filter(|t| t.len() >= 32) {
        return Ok((t.to_string(), None));
    }
    let t = random_token().map_err(ServiceError::Internal)?.into_inner();
    let set = session::set_cookie(state, PRE_COOKIE, &t, 3600);
    Ok((t, Some(set)))
}

fn with_cookie(mut r: Response, set: Option<String>) -> Response {
    if let Some(c) = set.and_then(|c| c.parse().ok()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// Only same-site paths are followed after sign-in.
fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next.to_string()
    } else {
        "/".to_string()
    }
}

#[derive(serde::Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> WebResult {
    let (csrf, set) = pre_token(&state, &headers)?;
    let page = LoginPage {
        page: Page::anonymous(lang, csrf, "/login"),
        email: String::new(),
        next: safe_next(q.next.as_deref().unwrap_or("/")),
        error: None,
    };
    Ok(with_cookie(render(&page)?, set))
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    _csrf: String,
}

pub async fn login_submit(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    parts: ClientIp,
    Form(f): Form<LoginForm>,
) -> WebResult {
    let pre = cookie(&headers, PRE_COOKIE).unwrap_or("");
    if pre.is_empty() || !crate::keys::same(pre, &f._csrf) {
        return Ok(session::csrf_rejected(lang));
    }
    let next = safe_next(&f.next);
    let fail = |key: &str, status: StatusCode| -> WebResult {
        let page = LoginPage {
            page: Page::anonymous(lang, pre.to_string(), "/login"),
            email: f.email.clone(),
            next: next.clone(),
            error: Some(lang.t(key).to_string()),
        };
        render_status(status, &page)
    };
    match state.services.sign_in(&f.email, &f.password, parts.0).await {
        Ok((_actor, id)) => {
            let s = state.services.create_session(id).await?;
            let max_age = (s.expires_at - crate::domain::now_millis()) / 1000;
            let mut r = Redirect::to(&next).into_response();
            if let Ok(v) =
                session::set_cookie(&state, SESSION_COOKIE, s.token.expose(), max_age).parse()
            {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(r)
        }
        Err(ServiceError::InvalidCredentials) => fail("login.failed", StatusCode::UNAUTHORIZED),
        Err(ServiceError::RateLimited { retry_after_secs }) => {
            let mut r = fail("login.rate_limited", StatusCode::TOO_MANY_REQUESTS)?;
            if let Ok(v) = retry_after_secs.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    form: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx: Ctx = form.ctx;
    state
        .services
        .end_session(&ctx.session_token, Some(&ctx.actor))
        .await?;
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = session::set_cookie(&state, SESSION_COOKIE, "", 0).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

pub async fn setup_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> WebResult {
    if !state.services.setup_token_valid(&token).await? || !state.services.needs_setup().await? {
        return Err(ServiceError::NotFound.into());
    }
    let (csrf, set) = pre_token(&state, &headers)?;
    let page = SetupPage {
        page: Page::anonymous(lang, csrf, "/setup"),
        email: String::new(),
        name: String::new(),
        errors: FormErrors::new(lang),
    };
    Ok(with_cookie(render(&page)?, set))
}

#[derive(serde::Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
    #[serde(default)]
    _csrf: String,
}

pub async fn setup_submit(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    ip: ClientIp,
    Path(token): Path<String>,
    Form(f): Form<SetupForm>,
) -> WebResult {
    let pre = cookie(&headers, PRE_COOKIE).unwrap_or("");
    if pre.is_empty() || !crate::keys::same(pre, &f._csrf) {
        return Ok(session::csrf_rejected(lang));
    }
    let result = if f.password != f.password_again {
        Err(ServiceError::invalid(
            "password_again",
            "error.password_mismatch",
        ))
    } else {
        state
            .services
            .complete_setup(&token, &f.email, &f.name, &f.password, ip.0)
            .await
    };
    match result {
        Ok(id) => {
            let s = state.services.create_session(id).await?;
            let max_age = (s.expires_at - crate::domain::now_millis()) / 1000;
            let mut r = Redirect::to("/").into_response();
            if let Ok(v) =
                session::set_cookie(&state, SESSION_COOKIE, s.token.expose(), max_age).parse()
            {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(r)
        }
        Err(e) => {
            let errors = FormErrors::from_service(lang, e)?;
            let page = SetupPage {
                page: Page::anonymous(lang, pre.to_string(), "/setup"),
                email: f.email,
                name: f.name,
                errors,
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct BackQuery {
    #[serde(default)]
    back: Option<String>,
}

/// Switches the language (a cookie for a year) and goes back.
pub async fn set_lang(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<BackQuery>,
) -> Response {
    let lang = Lang::from_code(&code).unwrap_or(Lang::En);
    let mut r = Redirect::to(&safe_next(q.back.as_deref().unwrap_or("/"))).into_response();
    let mut c = session::set_cookie(&state, session::LANG_COOKIE, lang.code(), 365 * 24 * 3600);
    // The language is not a secret: let the page read it too.
    c = c.replace("; HttpOnly", "");
    if let Ok(v) = c.parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_site() {
        assert_eq!(super::safe_next("/vendors?x=1"), "/vendors?x=1");
        assert_eq!(super::safe_next("//evil.example"), "/");
        assert_eq!(super::safe_next("https://evil.example"), "/");
        assert_eq!(super::safe_next("/\\evil.example"), "/");
    }
}
