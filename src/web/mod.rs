//! The operator console: server-rendered HTML (askama templates under
//! `templates/`), htmx for live parts, every asset served from the binary.

pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod import;
pub mod install;
pub mod installation;
pub mod installations;
pub mod invites;
pub mod licenses;
pub mod me;
pub mod monitoring;
pub mod operators;
pub mod passkeys;
pub mod session;
pub mod settings;
pub mod usage;
pub mod vendors;
pub mod webhooks;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

pub use crate::http::AppState;
pub use crate::i18n::Lang;
pub use session::{CsrfForm, Ctx};

use crate::domain::FieldError;
use crate::service::{Actor, ServiceError};

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/logout", post(auth::logout))
        .route(
            "/setup/{token}",
            get(auth::setup_page).post(auth::setup_submit),
        )
        .route("/login/code", get(auth::code_page).post(auth::code_submit))
        .route(
            "/login/enrol",
            get(auth::enrol_page).post(auth::enrol_submit),
        )
        .route("/lang/{code}", get(auth::set_lang))
        .route(
            "/password-reset",
            get(auth::reset_ask_page).post(auth::reset_ask_submit),
        )
        .route(
            "/password-reset/{token}",
            get(auth::reset_choose_page).post(auth::reset_choose_submit),
        )
        .route("/me", get(me::show))
        .route("/me/totp", post(me::start_totp))
        .route("/me/totp/confirm", post(me::confirm_totp))
        .route("/me/totp/disable", post(me::disable_totp))
        .route("/me/sessions/{id}/end", post(me::end_session))
        .route("/me/passkeys/start", post(passkeys::register_start))
        .route("/me/passkeys/finish", post(passkeys::register_finish))
        .route("/me/passkeys/{id}/remove", post(passkeys::remove))
        .route("/login/passkey/start", post(passkeys::sign_in_start))
        .route("/login/passkey/finish", post(passkeys::sign_in_finish))
        .route("/login/code/passkey/start", post(passkeys::second_start))
        .route("/login/enrol/passkey/start", post(passkeys::enrol_start))
        .route("/login/enrol/passkey/finish", post(passkeys::enrol_finish))
        .route("/login/code/passkey/finish", post(passkeys::second_finish))
        .route("/settings/two-factor", post(settings::two_factor))
        .route("/vendors/{id}/two-factor", post(vendors::two_factor))
        .route(
            "/operators/{id}/end-sessions",
            post(operators::end_sessions),
        )
        .route("/licenses", get(licenses::index))
        .route("/licenses/search", get(licenses::search))
        .route(
            "/licenses/new",
            get(licenses::new_form).post(licenses::create),
        )
        .route("/licenses/{id}", get(licenses::basics).post(licenses::save))
        .route("/licenses/{id}/reveal-key", post(licenses::reveal_key))
        .route(
            "/licenses/{id}/delete",
            get(licenses::delete_confirm).post(licenses::delete),
        )
        .route(
            "/licenses/{id}/license",
            get(licenses::license).post(licenses::license_create),
        )
        .route(
            "/licenses/{id}/license/{license_id}",
            post(licenses::license_save),
        )
        .route(
            "/licenses/{id}/license/{license_id}/connect-trial",
            post(licenses::connect_trial),
        )
        .route(
            "/licenses/{id}/installations/{installation}/deactivate",
            post(licenses::deactivate_installation),
        )
        .route(
            "/licenses/{id}/invites",
            get(invites::show).post(invites::add),
        )
        .route(
            "/licenses/{id}/invites/{invite}/revoke",
            get(invites::revoke_confirm).post(invites::revoke),
        )
        .route(
            "/licenses/{id}/invites/{invite}/preview",
            get(invites::preview),
        )
        .route(
            "/licenses/{id}/invites/{invite}/preview.html",
            get(invites::preview_html),
        )
        .route("/monitoring", get(monitoring::show))
        .route("/monitoring.csv", get(monitoring::csv))
        .route("/usage", get(usage::show))
        .route("/licenses/import", get(import::show).post(import::post))
        .route("/licenses/export.csv", get(import::export))
        .route("/licenses/licenses.csv", get(import::export_licenses))
        .route("/installations/invites.csv", get(import::export_invites))
        .route(
            "/installations/installations.csv",
            get(import::export_installations),
        )
        .route("/usage.csv", get(usage::csv))
        .route("/installations", get(installations::show))
        .route("/installations/send", post(installations::send))
        .route("/installations/states", post(installations::states))
        .route("/installations/{id}", get(installation::show))
        .route(
            "/installations/{id}/deactivate",
            get(installation::deactivate_confirm).post(installation::deactivate),
        )
        .route(
            "/installations/{id}/delete-backup",
            get(installation::delete_backup_confirm).post(installation::delete_backup),
        )
        .route("/settings", get(settings::show))
        .route("/settings/test-mail", post(settings::test_mail))
        .route("/settings/service-name", post(settings::service_name))
        .route(
            "/settings/api-tokens",
            get(api_tokens::show).post(api_tokens::create),
        )
        .route("/settings/api-tokens/{id}/revoke", post(api_tokens::revoke))
        .route(
            "/settings/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/settings/webhooks/{id}",
            get(webhooks::show).post(webhooks::update),
        )
        .route("/settings/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/settings/webhooks/{id}/delete", post(webhooks::delete))
        .route("/settings/webhooks/{id}/test", post(webhooks::test))
        .route(
            "/settings/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/install", get(install::show))
        .route(install::DOWNLOAD_PATH, get(install::download))
        .route("/vendors", get(vendors::list).post(vendors::create))
        .route("/vendors/{id}", get(vendors::edit).post(vendors::update))
        .route("/operators", get(operators::list).post(operators::create))
        .route(
            "/operators/{id}",
            get(operators::edit).post(operators::update),
        )
        .route("/audit", get(audit::list))
        .route("/static/{*path}", get(static_file))
}

/// The first page after sign-in.
async fn home(ctx: Ctx) -> Redirect {
    Redirect::to(menu(&ctx).first().map(|m| m.href).unwrap_or("/audit"))
}

/// One entry of the main menu.
pub struct MenuItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

/// The main menu: only pages that exist, admin entries for admins.
pub fn menu(ctx: &Ctx) -> Vec<MenuItem> {
    let mut items: Vec<(&'static str, &'static str)> = vec![
        ("/monitoring", "menu.monitoring"),
        ("/licenses", "menu.licenses"),
        ("/installations", "menu.installations"),
        ("/usage", "menu.usage"),
    ];
    if ctx.actor.is_admin() {
        items.push(("/vendors", "menu.vendors"));
        items.push(("/operators", "menu.operators"));
    }
    items.push(("/audit", "menu.audit"));
    if ctx.actor.is_admin() {
        items.push(("/settings", "menu.settings"));
    }
    items.push(("/settings/api-tokens", "menu.api_tokens"));
    items.push(("/settings/webhooks", "menu.webhooks"));
    // The longest entry the path is under is the current one.
    let current = items
        .iter()
        .map(|(href, _)| *href)
        .filter(|href| ctx.path == *href || ctx.path.starts_with(&format!("{href}/")))
        .max_by_key(|href| href.len());
    items
        .into_iter()
        .map(|(href, key)| MenuItem {
            href,
            label: ctx.lang.t(key),
            active: current == Some(href),
        })
        .collect()
}

/// What the page layout needs: language, who is signed in, CSRF token, menu.
pub struct Page {
    pub lang: Lang,
    pub actor: Option<Actor>,
    pub csrf: String,
    pub menu: Vec<MenuItem>,
    pub path: String,
    pub flash: Option<String>,
}

impl Page {
    pub fn new(ctx: &Ctx) -> Page {
        Page {
            lang: ctx.lang,
            actor: Some(ctx.actor.clone()),
            csrf: ctx.csrf.clone(),
            menu: menu(ctx),
            path: ctx.path.clone(),
            flash: None,
        }
    }

    pub fn anonymous(lang: Lang, csrf: String, path: &str) -> Page {
        Page {
            lang,
            actor: None,
            csrf,
            menu: Vec::new(),
            path: path.to_string(),
            flash: None,
        }
    }

    pub fn with_flash(mut self, key: &str) -> Page {
        self.flash = Some(self.lang.t(key).to_string());
        self
    }

    pub fn can_write(&self) -> bool {
        self.actor.as_ref().is_some_and(|a| a.role.can_write())
    }

    pub fn is_admin(&self) -> bool {
        self.actor.as_ref().is_some_and(|a| a.is_admin())
    }

    /// Bytes in GB with one decimal, in the page's language (`182,5` in
    /// Finnish).
    pub fn gb(&self, bytes: &i64) -> String {
        self.lang.decimal(&monitoring::gb(bytes))
    }

    /// A stored time (RFC 3339, UTC) for people, in the page's language:
    /// `30 Nov 2026 22:47 UTC`, `30.11.2026 klo 22.47 UTC`; inside
    /// `<time class="local">` app.js rewrites it into the reader's own zone.
    pub fn when(&self, t: &str) -> String {
        self.lang.time(t)
    }

    /// A stored time as a `<time class="local">` element (see
    /// [`Page::when`]); a dash when there is none.
    pub fn time(&self, t: &str) -> askama::filters::Safe<String> {
        if t.trim().is_empty() {
            return askama::filters::Safe("—".into());
        }
        askama::filters::Safe(format!(
            "<time class=\"local\" datetime=\"{}\">{}</time>",
            html_escape(t),
            html_escape(&self.lang.time(t))
        ))
    }

    /// [`Page::time`] of a time that may be missing.
    pub fn time_opt(&self, t: &Option<String>) -> askama::filters::Safe<String> {
        self.time(t.as_deref().unwrap_or(""))
    }

    /// A day (`2026-11-30`) as the page's language writes it.
    pub fn date(&self, d: &str) -> String {
        if d.trim().is_empty() {
            "—".into()
        } else {
            self.lang.date(d)
        }
    }

    /// A number as the page's language writes it (decimal comma in Finnish).
    pub fn num(&self, s: &str) -> String {
        self.lang.decimal(s)
    }

    /// A translated string.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    pub fn role_label(&self) -> &'static str {
        match &self.actor {
            Some(a) => self.lang.t(&format!("role.{}", a.role.as_str())),
            None => "",
        }
    }

    /// The language switch target back to this page.
    pub fn back(&self) -> String {
        url::form_urlencoded::byte_serialize(self.path.as_bytes()).collect()
    }
}

/// Text for an HTML element or attribute (for the few bits of markup built
/// in Rust, like [`Page::time`]).
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Field errors of a form, looked up by field name in templates.
#[derive(Default)]
pub struct FormErrors {
    lang: Option<Lang>,
    errors: Vec<FieldError>,
    pub general: Option<String>,
}

impl FormErrors {
    pub fn new(lang: Lang) -> FormErrors {
        FormErrors {
            lang: Some(lang),
            ..Default::default()
        }
    }

    /// Turns a service error into messages on the form, or passes it on
    /// if it is not about the input.
    pub fn from_service(lang: Lang, e: ServiceError) -> Result<FormErrors, WebError> {
        let mut f = FormErrors::new(lang);
        match e {
            ServiceError::Invalid(list) | ServiceError::Refused { errors: list, .. } => {
                f.errors = list
            }
            ServiceError::Conflict { code, message } => {
                let key = format!("error.{code}");
                let t = lang.t(&key);
                f.general = Some(if t == key { message } else { t.to_string() });
            }
            other => return Err(WebError::Service(other)),
        }
        Ok(f)
    }

    pub fn any(&self) -> bool {
        !self.errors.is_empty() || self.general.is_some()
    }

    /// The message for one field, translated, or "" when it is fine.
    pub fn get(&self, field: &str) -> String {
        let lang = self.lang.unwrap_or(Lang::En);
        self.errors
            .iter()
            .filter(|e| e.field == field)
            .map(|e| lang.msg(&e.message))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn has(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }
}

/// Errors of the console, answered as pages.
#[derive(Debug)]
pub enum WebError {
    Service(ServiceError),
    Render(askama::Error),
}

impl From<ServiceError> for WebError {
    fn from(e: ServiceError) -> Self {
        WebError::Service(e)
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Render(e)
    }
}

/// A bare error page in both languages; it needs no session, so it works
/// for every error, signed in or not.
#[derive(askama::Template)]
#[template(path = "error_page.html")]
struct ErrorPage<'a> {
    code: u16,
    en: &'a str,
    fi: &'a str,
}

pub(crate) fn error_page(status: StatusCode, en: &str, fi: &str) -> Response {
    let page = ErrorPage {
        code: status.as_u16(),
        en,
        fi,
    };
    match askama::Template::render(&page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "error page template");
            status.into_response()
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::Service(ServiceError::NotFound) => {
                error_page(StatusCode::NOT_FOUND, "Not found.", "Ei löytynyt.")
            }
            WebError::Service(ServiceError::Forbidden | ServiceError::InsufficientScope(_)) => {
                error_page(
                    StatusCode::FORBIDDEN,
                    "You are not allowed to do that.",
                    "Sinulla ei ole oikeutta tähän.",
                )
            }
            WebError::Service(ServiceError::RateLimited { retry_after_secs }) => {
                let mut r = error_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts. Try again later.",
                    "Liian monta yritystä. Yritä myöhemmin uudelleen.",
                );
                if let Ok(v) = retry_after_secs.to_string().parse() {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            WebError::Service(
                ServiceError::Invalid(list) | ServiceError::Refused { errors: list, .. },
            ) => {
                let msg = list
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ");
                error_page(StatusCode::UNPROCESSABLE_ENTITY, &msg, &msg)
            }
            WebError::Service(ServiceError::Conflict { message, .. }) => {
                error_page(StatusCode::CONFLICT, &message, &message)
            }
            WebError::Service(ServiceError::AlreadySent { invites }) => {
                let n = invites.len();
                error_page(
                    StatusCode::CONFLICT,
                    &Lang::En.count("error.already_sent", n),
                    &Lang::Fi.count("error.already_sent", n),
                )
            }
            WebError::Service(ServiceError::InvalidCredentials) => error_page(
                StatusCode::UNAUTHORIZED,
                "Wrong e-mail or password.",
                "Väärä sähköposti tai salasana.",
            ),
            WebError::Service(
                ServiceError::SecondFactorRequired
                | ServiceError::SecondFactorEnrolmentRequired
                | ServiceError::SecondFactorInvalid,
            ) => error_page(
                StatusCode::UNAUTHORIZED,
                "Sign in again to continue.",
                "Kirjaudu uudelleen jatkaaksesi.",
            ),
            WebError::Service(ServiceError::Internal(e)) => {
                tracing::error!(error = %e, "internal error");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side; it has been logged.",
                    "Palvelussa tapahtui virhe; se on kirjattu.",
                )
            }
            WebError::Render(e) => {
                tracing::error!(error = %e, "template error");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side; it has been logged.",
                    "Palvelussa tapahtui virhe; se on kirjattu.",
                )
            }
        }
    }
}

pub type WebResult<T = Response> = Result<T, WebError>;

/// Renders a template into a response.
pub fn render<T: askama::Template>(t: &T) -> WebResult {
    Ok(Html(t.render()?).into_response())
}

/// Renders with a status (e.g. 422 for a form with errors).
pub fn render_status<T: askama::Template>(status: StatusCode, t: &T) -> WebResult {
    Ok((status, Html(t.render()?)).into_response())
}

/// Files under `static/`, compiled into the binary.
#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Assets;

async fn static_file(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match Assets::get(&path) {
        Some(f) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_string()),
                    (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
                ],
                f.data.into_owned(),
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_pages_escape_what_they_show() {
        let r = error_page(StatusCode::CONFLICT, "<b>x</b> & y", "<i>z</i>");
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("<h1>409</h1>"), "{html}");
        assert!(html.contains("&#60;b&#62;x&#60;/b&#62; &#38; y"), "{html}");
        assert!(!html.contains("<i>"), "{html}");
    }

    #[tokio::test]
    async fn csrf_page_is_403_in_the_language_asked_for() {
        let r = session::csrf_rejected(Lang::Fi);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains(Lang::Fi.t("error.csrf")), "{html}");
        assert!(html.contains(Lang::Fi.t("nav.back_home")), "{html}");
    }
}
