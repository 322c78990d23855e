//! The public installation page that invitation e-mails link to, and the
//! backup program's download: the console's own executable, which is the
//! agent too (`command-center agent …`), or the file `CC_AGENT_BINARY`
//! names.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::session::PageLang;
use super::{AppState, Page, WebResult, render};
use crate::http::file_body::FileBody;
use crate::i18n::Lang;

/// Where the download is served.
pub const DOWNLOAD_PATH: &str = "/install/command-center";
/// The name the downloaded file gets (the page's commands use it).
const FILE_NAME: &str = "command-center";

#[derive(askama::Template)]
#[template(path = "install.html")]
struct InstallPage {
    page: Page,
    server: String,
    /// "Linux x86_64 · 45,2 MB" when there is a download.
    download: Option<String>,
    download_path: &'static str,
    file_name: &'static str,
}

/// `?lang=fi`: the invitation's language (the customer's), which wins over
/// the browser's.
#[derive(serde::Deserialize, Default)]
pub struct InstallQuery {
    #[serde(default)]
    lang: Option<String>,
}

/// The file to offer: `CC_AGENT_BINARY`, else the running executable.
fn agent_binary(state: &AppState) -> Option<std::path::PathBuf> {
    match &state.services.config.agent_binary {
        Some(p) => Some(p.clone()),
        None => std::env::current_exe().ok(),
    }
}

/// The platform the binary runs on (the server's own).
fn platform() -> String {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    };
    format!("{os} {}", std::env::consts::ARCH)
}

pub async fn show(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    Query(q): Query<InstallQuery>,
) -> WebResult {
    let lang = q.lang.as_deref().and_then(Lang::from_code).unwrap_or(lang);
    let size = match agent_binary(&state) {
        Some(p) => tokio::fs::metadata(&p).await.ok().filter(|m| m.is_file()),
        None => None,
    };
    let download = size.map(|m| {
        let mb = lang.decimal(&format!("{:.1}", m.len() as f64 / 1e6));
        format!("{} · {mb} MB", platform())
    });
    render(&InstallPage {
        page: Page::anonymous(lang, String::new(), "/install"),
        server: state.services.config.public_url.clone(),
        download,
        download_path: DOWNLOAD_PATH,
        file_name: FILE_NAME,
    })
}

/// `GET /install/command-center`: the backup program, as an attachment.
pub async fn download(State(state): State<AppState>) -> Response {
    let Some(path) = agent_binary(&state) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the agent's download is not readable");
            return StatusCode::NOT_FOUND.into_response();
        }
    };
    let len = match file.metadata().await {
        Ok(m) if m.is_file() => m.len(),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut r = Response::new(Body::new(FileBody::new(file, len)));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{FILE_NAME}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    // The same file for everyone; a browser may keep it a day.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}
