//! Sign-in, sign-out, first-admin setup, and the language switch.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use super::session::{self, PENDING_COOKIE, PRE_COOKIE, PageLang, PreForm, SESSION_COOKIE};
use super::{AppState, CsrfForm, Ctx, FormErrors, Lang, Page, WebResult, render, render_status};
use crate::http::{ClientIp, ClientOrigin};
use crate::keys::random_token;
use crate::service::ServiceError;
use crate::service::auth::SignedIn;

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    page: Page,
    /// ask, sent, choose, done or invalid.
    step: &'static str,
    email: String,
    errors: FormErrors,
}

#[derive(askama::Template)]
#[template(path = "setup.html")]
struct SetupPage {
    page: Page,
    email: String,
    name: String,
    /// The service's name, as typed (or as `CC_SERVICE_NAME` set it).
    service_name: String,
    errors: FormErrors,
}

/// The pre-session CSRF token (double-submit cookie) for sign-in and setup:
/// the one the browser has, or a new one set in the returned jar.
fn pre_token(state: &AppState, jar: CookieJar) -> WebResult<(String, CookieJar)> {
    let have = jar.get(PRE_COOKIE).map(|c| c.value().to_string());
    if let Some(t) = have.filter(|t| t.len() >= 32) {
        return Ok((t, jar));
    }
    let t = random_token().map_err(ServiceError::Internal)?.into_inner();
    let jar = jar.add(session::new_cookie(state, PRE_COOKIE, t.clone(), 3600));
    Ok((t, jar))
}

/// The session cookie after a sign-in, for as long as the session lasts.
fn session_cookie(
    state: &AppState,
    jar: CookieJar,
    s: &crate::service::auth::NewSession,
) -> CookieJar {
    let max_age = (s.expires_at - crate::domain::now_millis()) / 1000;
    jar.add(session::new_cookie(
        state,
        SESSION_COOKIE,
        s.token.expose().clone(),
        max_age,
    ))
}

/// A same-origin path to go to after sign-in or a language switch, else
/// `/`. Browsers drop tabs and line breaks from a URL and read `\` as
/// `/`, so `/%09/evil.example` would become `//evil.example`: a single
/// leading `/`, and no backslash, control character or space anywhere.
pub(crate) fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next[1..].starts_with('/')
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    if ok {
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
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> WebResult {
    let (csrf, jar) = pre_token(&state, jar)?;
    let page = LoginPage {
        page: Page::anonymous(lang, csrf, "/login"),
        email: String::new(),
        next: safe_next(q.next.as_deref().unwrap_or("/")),
        error: None,
    };
    Ok((jar, render(&page)?).into_response())
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientOrigin(origin): ClientOrigin,
    PreForm { form: f, pre, lang }: PreForm<LoginForm>,
) -> WebResult {
    let next = safe_next(&f.next);
    let fail = |key: &str, status: StatusCode| -> WebResult {
        let page = LoginPage {
            page: Page::anonymous(lang, pre.clone(), "/login"),
            email: f.email.clone(),
            next: next.clone(),
            error: Some(lang.t(key).to_string()),
        };
        render_status(status, &page)
    };
    // A new sign-in replaces a half-finished one.
    if let Some(p) = jar.get(PENDING_COOKIE) {
        state.services.end_pending_session(p.value()).await?;
    }
    let ip = origin.ip.clone();
    match state
        .services
        .sign_in(&f.email, &f.password, None, ip)
        .await
    {
        Ok(SignedIn::Done(actor)) => {
            let s = state
                .services
                .create_session(actor.operator_id, &origin)
                .await?;
            let jar = session_cookie(&state, jar, &s);
            Ok((jar, Redirect::to(&next)).into_response())
        }
        Ok(SignedIn::NeedsCode(actor)) => {
            let s = state
                .services
                .create_pending_session(actor.operator_id, "totp", &origin)
                .await?;
            let jar = pending_cookie(&state, jar, &s);
            let to = format!("/login/code?next={}", encode(&next));
            Ok((jar, Redirect::to(&to)).into_response())
        }
        Ok(SignedIn::NeedsEnrolment(actor)) => {
            let s = state
                .services
                .create_pending_session(actor.operator_id, "enrol", &origin)
                .await?;
            let jar = pending_cookie(&state, jar, &s);
            let to = format!("/login/enrol?next={}", encode(&next));
            Ok((jar, Redirect::to(&to)).into_response())
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

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The half signed-in session's cookie (ten minutes).
fn pending_cookie(
    state: &AppState,
    jar: CookieJar,
    s: &crate::service::auth::NewSession,
) -> CookieJar {
    let max_age = (s.expires_at - crate::domain::now_millis()) / 1000;
    jar.add(session::new_cookie(
        state,
        PENDING_COOKIE,
        s.token.expose().clone(),
        max_age,
    ))
}

fn drop_pending(state: &AppState, jar: CookieJar) -> CookieJar {
    jar.add(session::new_cookie(state, PENDING_COOKIE, String::new(), 0))
}

/// The QR code of an otpauth URL as inline SVG (no script, no CDN).
pub fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    // Inline in HTML: without the XML declaration.
    Some(match svg.find("<svg") {
        Some(i) => svg[i..].to_string(),
        None => svg,
    })
}

/// A TOTP secret being set up: its QR code and the text to type by hand.
pub struct TotpSetup {
    pub qr_svg: String,
    pub secret: String,
}

impl TotpSetup {
    pub fn new(secret: String, otpauth_url: &str) -> TotpSetup {
        TotpSetup {
            qr_svg: qr_svg(otpauth_url).unwrap_or_default(),
            secret,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "login_code.html")]
struct LoginCodePage {
    page: Page,
    next: String,
    error: Option<String>,
    /// The operator has TOTP (a code answers).
    totp: bool,
    /// The operator has a passkey (it answers, with JavaScript).
    passkey: bool,
}

#[derive(askama::Template)]
#[template(path = "login_enrol.html")]
struct LoginEnrolPage {
    page: Page,
    next: String,
    setup: Option<TotpSetup>,
    code_error: Option<String>,
    recovery_codes: Vec<String>,
}

/// The second step: a code from the authenticator app or a recovery code.
pub async fn code_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    jar: CookieJar,
    ip: ClientIp,
    Query(q): Query<NextQuery>,
) -> WebResult {
    let pending = jar.get(PENDING_COOKIE).map(|c| c.value().to_string());
    let live = match &pending {
        Some(t) => state.services.pending_actor(t, ip.0).await?,
        None => None,
    };
    let actor = match live {
        Some((a, stage)) if stage == "totp" => a,
        _ => return Ok(Redirect::to("/login").into_response()),
    };
    let (totp, passkey) = state.services.second_factors(actor.operator_id).await?;
    let (csrf, jar) = pre_token(&state, jar)?;
    let page = LoginCodePage {
        page: Page::anonymous(lang, csrf, "/login/code"),
        next: safe_next(q.next.as_deref().unwrap_or("/")),
        error: None,
        totp,
        passkey,
    };
    Ok((jar, render(&page)?).into_response())
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

pub async fn code_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientOrigin(origin): ClientOrigin,
    PreForm { form: f, pre, lang }: PreForm<CodeForm>,
) -> WebResult {
    let next = safe_next(&f.next);
    let Some(pending) = jar.get(PENDING_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let (totp, passkey) = match state
        .services
        .pending_actor(&pending, origin.ip.clone())
        .await?
    {
        Some((a, _)) => state.services.second_factors(a.operator_id).await?,
        None => (true, false),
    };
    let fail = |key: &str, status: StatusCode| -> WebResult {
        let page = LoginCodePage {
            page: Page::anonymous(lang, pre.clone(), "/login/code"),
            next: next.clone(),
            error: Some(lang.t(key).to_string()),
            totp,
            passkey,
        };
        render_status(status, &page)
    };
    match state
        .services
        .sign_in_second_step(&pending, &f.code, origin.ip.clone())
        .await
    {
        Ok(actor) => {
            let s = state
                .services
                .create_session(actor.operator_id, &origin)
                .await?;
            let jar = drop_pending(&state, session_cookie(&state, jar, &s));
            Ok((jar, Redirect::to(&next)).into_response())
        }
        Err(ServiceError::SecondFactorInvalid) => {
            fail("login.code_failed", StatusCode::UNAUTHORIZED)
        }
        Err(ServiceError::InvalidCredentials) => {
            let jar = drop_pending(&state, jar);
            Ok((jar, Redirect::to("/login")).into_response())
        }
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

/// The operator behind an `enrol` half session, or a redirect to sign-in.
async fn enrolling(
    state: &AppState,
    jar: &CookieJar,
    ip: Option<String>,
) -> WebResult<Result<(crate::service::Actor, String), Response>> {
    let Some(pending) = jar.get(PENDING_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(Err(Redirect::to("/login").into_response()));
    };
    match state.services.pending_actor(&pending, ip).await? {
        Some((actor, stage)) if stage == "enrol" => Ok(Ok((actor, pending))),
        _ => Ok(Err(Redirect::to("/login").into_response())),
    }
}

/// Two factors are required and none is set up: the operator sets up
/// TOTP before anything else.
pub async fn enrol_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    jar: CookieJar,
    ip: ClientIp,
    Query(q): Query<NextQuery>,
) -> WebResult {
    let (actor, _) = match enrolling(&state, &jar, ip.0).await? {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let status = state.services.totp_status(&actor).await?;
    let (secret, url) = match status.pending {
        Some(p) => p,
        None => {
            let e = state.services.start_totp(&actor).await?;
            (e.secret, e.otpauth_url)
        }
    };
    let (csrf, jar) = pre_token(&state, jar)?;
    let page = LoginEnrolPage {
        page: Page::anonymous(lang, csrf, "/login/enrol"),
        next: safe_next(q.next.as_deref().unwrap_or("/")),
        setup: Some(TotpSetup::new(secret, &url)),
        code_error: None,
        recovery_codes: Vec::new(),
    };
    Ok((jar, render(&page)?).into_response())
}

pub async fn enrol_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientOrigin(origin): ClientOrigin,
    PreForm { form: f, pre, lang }: PreForm<CodeForm>,
) -> WebResult {
    let next = safe_next(&f.next);
    let (actor, pending) = match enrolling(&state, &jar, origin.ip.clone()).await? {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    match state.services.confirm_totp(&actor, &f.code).await {
        Ok(codes) => {
            state
                .services
                .finish_enrolment_sign_in(&pending, &actor)
                .await?;
            let s = state
                .services
                .create_session(actor.operator_id, &origin)
                .await?;
            let jar = drop_pending(&state, session_cookie(&state, jar, &s));
            let page = LoginEnrolPage {
                page: Page::anonymous(lang, pre, "/login/enrol"),
                next,
                setup: None,
                code_error: None,
                recovery_codes: codes,
            };
            Ok((jar, render(&page)?).into_response())
        }
        Err(ServiceError::Invalid(_)) => {
            let status = state.services.totp_status(&actor).await?;
            let page = LoginEnrolPage {
                page: Page::anonymous(lang, pre, "/login/enrol"),
                next,
                setup: status.pending.map(|(s, u)| TotpSetup::new(s, &u)),
                code_error: Some(lang.t("error.totp_code").to_string()),
                recovery_codes: Vec::new(),
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    form: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx: Ctx = form.ctx;
    state
        .services
        .end_session(&ctx.session_token, Some(&ctx.actor))
        .await?;
    // Max-Age=0 with the same attributes: the browser drops the cookie.
    let jar = jar.add(session::new_cookie(
        &state,
        SESSION_COOKIE,
        String::new(),
        0,
    ));
    Ok((jar, Redirect::to("/login")).into_response())
}

/// A used setup link says so (and where to go) instead of a bare 404.
fn setup_done() -> Response {
    super::error_page(
        StatusCode::GONE,
        "This one-time setup link has been used: the console is set up. Sign in instead.",
        "Tämä kertakäyttöinen käyttöönottolinkki on jo käytetty: konsoli on otettu käyttöön. Kirjaudu sisään.",
    )
}

pub async fn setup_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    jar: CookieJar,
    Path(token): Path<String>,
) -> WebResult {
    if !state.services.needs_setup().await? {
        return Ok(setup_done());
    }
    if !state.services.setup_token_valid(&token).await? {
        return Err(ServiceError::NotFound.into());
    }
    let (csrf, jar) = pre_token(&state, jar)?;
    let page = SetupPage {
        page: Page::anonymous(lang, csrf, "/setup"),
        email: String::new(),
        name: String::new(),
        service_name: state.services.service_name().await?.unwrap_or_default(),
        errors: FormErrors::new(lang),
    };
    Ok((jar, render(&page)?).into_response())
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
    service_name: String,
}

pub async fn setup_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientOrigin(origin): ClientOrigin,
    Path(token): Path<String>,
    PreForm { form: f, pre, lang }: PreForm<SetupForm>,
) -> WebResult {
    if !state.services.needs_setup().await? {
        return Ok(setup_done());
    }
    let result = if f.password != f.password_again {
        Err(ServiceError::invalid(
            "password_again",
            "error.password_mismatch",
        ))
    } else {
        state
            .services
            .complete_setup(
                &token,
                &f.email,
                &f.name,
                &f.password,
                &f.service_name,
                origin.ip.clone(),
            )
            .await
    };
    match result {
        Ok(id) => {
            let s = state.services.create_session(id, &origin).await?;
            let jar = session_cookie(&state, jar, &s);
            Ok((jar, Redirect::to("/")).into_response())
        }
        Err(e) => {
            let errors = FormErrors::from_service(lang, e)?;
            let page = SetupPage {
                page: Page::anonymous(lang, pre, "/setup"),
                email: f.email,
                name: f.name,
                service_name: f.service_name,
                errors,
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

fn reset_page(lang: Lang, csrf: String, step: &'static str) -> ResetPage {
    ResetPage {
        page: Page::anonymous(lang, csrf, "/password-reset"),
        step,
        email: String::new(),
        errors: FormErrors::new(lang),
    }
}

/// `GET /password-reset`: asks for the e-mail address.
pub async fn reset_ask_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    jar: CookieJar,
) -> WebResult {
    let (csrf, jar) = pre_token(&state, jar)?;
    Ok((jar, render(&reset_page(lang, csrf, "ask"))?).into_response())
}

#[derive(serde::Deserialize)]
pub struct ResetAskForm {
    #[serde(default)]
    email: String,
}

/// `POST /password-reset`: the same page whether or not the address is
/// an operator's.
pub async fn reset_ask_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PreForm { form: f, pre, lang }: PreForm<ResetAskForm>,
) -> WebResult {
    match state.services.request_password_reset(&f.email, ip).await {
        Ok(()) => render(&reset_page(lang, pre, "sent")),
        Err(e @ ServiceError::RateLimited { .. }) => {
            let mut p = reset_page(lang, pre, "ask");
            p.email = f.email;
            p.errors = FormErrors::from_service(lang, e)?;
            render_status(StatusCode::TOO_MANY_REQUESTS, &p)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /password-reset/{token}`: the new password form.
pub async fn reset_choose_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    jar: CookieJar,
) -> WebResult {
    let (csrf, jar) = pre_token(&state, jar)?;
    Ok((jar, render(&reset_page(lang, csrf, "choose"))?).into_response())
}

#[derive(serde::Deserialize)]
pub struct ResetChooseForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

/// `POST /password-reset/{token}`: sets the password (once), or says the
/// link is used or expired.
pub async fn reset_choose_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    PreForm { form: f, pre, lang }: PreForm<ResetChooseForm>,
) -> WebResult {
    let result = if f.password != f.password_again {
        Err(ServiceError::invalid(
            "password_again",
            "error.password_mismatch",
        ))
    } else {
        state
            .services
            .reset_password(&token, &crate::domain::Secret::new(f.password), ip)
            .await
    };
    match result {
        Ok(()) => render(&reset_page(lang, pre, "done")),
        Err(ServiceError::Conflict { .. }) => {
            render_status(StatusCode::CONFLICT, &reset_page(lang, pre, "invalid"))
        }
        Err(e @ ServiceError::Invalid(_)) => {
            let mut p = reset_page(lang, pre, "choose");
            p.errors = FormErrors::from_service(lang, e)?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
        Err(e) => Err(e.into()),
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
    let mut c = session::new_cookie(
        &state,
        session::LANG_COOKIE,
        lang.code().to_string(),
        365 * 24 * 3600,
    );
    // The language is not a secret: let the page read it too.
    c.set_http_only(false);
    let back = Redirect::to(&safe_next(q.back.as_deref().unwrap_or("/")));
    (CookieJar::new().add(c), back).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_site() {
        assert_eq!(super::safe_next("/vendors?x=1"), "/vendors?x=1");
        assert_eq!(super::safe_next("//evil.example"), "/");
        assert_eq!(super::safe_next("https://evil.example"), "/");
        assert_eq!(super::safe_next("/\\evil.example"), "/");
        assert_eq!(super::safe_next("/\t/evil.example/x"), "/");
        assert_eq!(super::safe_next("/\n/evil.example"), "/");
        assert_eq!(super::safe_next("/a\\b"), "/");
    }
}
