//! The public installation page that invitation e-mails link to.

use axum::extract::{Query, State};

use super::session::PageLang;
use super::{AppState, Page, WebResult, render};
use crate::i18n::Lang;

#[derive(askama::Template)]
#[template(path = "install.html")]
struct InstallPage {
    page: Page,
    server: String,
}

/// `?lang=fi`: the invitation's language (the customer's), which wins over
/// the browser's.
#[derive(serde::Deserialize, Default)]
pub struct InstallQuery {
    #[serde(default)]
    lang: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    Query(q): Query<InstallQuery>,
) -> WebResult {
    let lang = q.lang.as_deref().and_then(Lang::from_code).unwrap_or(lang);
    render(&InstallPage {
        page: Page::anonymous(lang, String::new(), "/install"),
        server: state.services.config.public_url.clone(),
    })
}
