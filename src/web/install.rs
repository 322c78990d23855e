//! The public installation page that invitation e-mails link to.

use axum::extract::State;

use super::session::PageLang;
use super::{AppState, Page, WebResult, render};

#[derive(askama::Template)]
#[template(path = "install.html")]
struct InstallPage {
    page: Page,
    server: String,
}

pub async fn show(State(state): State<AppState>, PageLang(lang): PageLang) -> WebResult {
    render(&InstallPage {
        page: Page::anonymous(lang, String::new(), "/install"),
        server: state.services.config.public_url.clone(),
    })
}
