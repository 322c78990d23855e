//! The restic REST backend (protocol v1 and v2, per restic's "REST
//! Backend" document), one repository per installation at
//! `/repo/{installation_id}/`. HTTP Basic: the installation id and its
//! client token. This face parses names and headers and calls one
//! `service::repositories` operation; errors are problem documents.

mod range;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, head, post};
use base64::Engine;
use tokio::io::AsyncSeekExt;

use crate::domain::repository::{FileKind, FileName, RepoFile};
use crate::http::file_body::FileBody;
use crate::http::{AppState, Problem};
use crate::service::repositories::RepoError;

/// The most one request may upload (restic's pack files stay far below).
pub const MAX_UPLOAD: usize = 256 * 1024 * 1024;

const V2: &str = "application/vnd.x.restic.rest.v2";
const V1: &str = "application/vnd.x.restic.rest.v1";

/// The repository routes, with their own body limit (the rest of the app
/// keeps its 2 MiB).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{id}", post(create).delete(delete_repo))
        .route("/{id}/", post(create).delete(delete_repo))
        .route(
            "/{id}/config",
            head(head_config)
                .get(get_config)
                .post(post_config)
                .delete(delete_config),
        )
        .route("/{id}/{kind}/", get(list))
        .route(
            "/{id}/{kind}/{name}",
            head(head_file)
                .get(get_file)
                .post(post_file)
                .delete(delete_file),
        )
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_UPLOAD))
}

impl IntoResponse for RepoError {
    fn into_response(self) -> Response {
        let problem = match self {
            RepoError::Unauthorized => {
                let mut r = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Sign in with the installation id and its client token.",
                )
                .into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"command-center\""),
                );
                return r;
            }
            RepoError::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", "Not found."),
            RepoError::BadRequest(d) => Problem::new(StatusCode::BAD_REQUEST, "bad_request", d),
            RepoError::Forbidden { code, detail } => {
                Problem::new(StatusCode::FORBIDDEN, code, detail)
            }
            RepoError::NoSpace { code, detail } => {
                Problem::new(StatusCode::INSUFFICIENT_STORAGE, code, detail)
            }
            RepoError::Internal(e) => {
                tracing::error!(error = %e, "repository request failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error; it has been logged.",
                )
            }
        };
        problem.into_response()
    }
}

type Result<T> = std::result::Result<T, RepoError>;

/// The installation behind the request's Basic credentials, for the
/// repository in the path.
async fn client(
    state: &AppState,
    headers: &HeaderMap,
    path_id: &str,
) -> Result<crate::service::clients::ClientSession> {
    let (user, password) = basic(headers).ok_or(RepoError::Unauthorized)?;
    state.services.repo_client(&user, &password, path_id).await
}

/// `Authorization: Basic base64(user:password)`.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn named(kind: &str, name: &str) -> Result<RepoFile> {
    let kind = FileKind::parse(kind)
        .ok_or_else(|| RepoError::BadRequest(format!("No such file type: {kind:.20}.")))?;
    let name = FileName::parse(name).ok_or_else(|| {
        RepoError::BadRequest("A file name is 64 lower-case hexadecimal digits.".into())
    })?;
    Ok(RepoFile::Named(kind, name))
}

#[derive(serde::Deserialize)]
struct CreateQuery {
    create: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<CreateQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    let n = client(&state, &headers, &id).await?;
    if q.create.as_deref() != Some("true") {
        return Err(RepoError::BadRequest("Use POST ?create=true.".into()));
    }
    state.services.repo_create(&n).await?;
    Ok(StatusCode::OK.into_response())
}

async fn delete_repo(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    client(&state, &headers, &id).await?;
    Err(RepoError::Forbidden {
        code: "forbidden",
        detail: "A client cannot delete its repository.".into(),
    })
}

async fn head_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    stat(&state, &headers, &id, RepoFile::Config).await
}

async fn get_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    read(&state, &headers, &id, RepoFile::Config).await
}

async fn post_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response> {
    upload(&state, &id, RepoFile::Config, req).await
}

async fn delete_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    remove(&state, &headers, &id, RepoFile::Config).await
}

async fn head_file(
    State(state): State<AppState>,
    Path((id, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let n = client(&state, &headers, &id).await?;
    let f = named(&kind, &name)?;
    stat_of(&state, &n, f).await
}

async fn get_file(
    State(state): State<AppState>,
    Path((id, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let n = client(&state, &headers, &id).await?;
    let f = named(&kind, &name)?;
    read_of(&state, &headers, &n, f).await
}

async fn post_file(
    State(state): State<AppState>,
    Path((id, kind, name)): Path<(String, String, String)>,
    req: Request,
) -> Result<Response> {
    let n = client(&state, req.headers(), &id).await?;
    let f = named(&kind, &name)?;
    upload_of(&state, &n, f, req).await
}

async fn delete_file(
    State(state): State<AppState>,
    Path((id, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let n = client(&state, &headers, &id).await?;
    let f = named(&kind, &name)?;
    state.services.repo_delete(&n, &f).await?;
    Ok(StatusCode::OK.into_response())
}

async fn stat(state: &AppState, headers: &HeaderMap, id: &str, f: RepoFile) -> Result<Response> {
    let n = client(state, headers, id).await?;
    stat_of(state, &n, f).await
}

async fn stat_of(
    state: &AppState,
    n: &crate::service::clients::ClientSession,
    f: RepoFile,
) -> Result<Response> {
    let size = state.services.repo_stat(n, &f).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_TYPE, "application/octet-stream".into()),
        ],
    )
        .into_response())
}

async fn read(state: &AppState, headers: &HeaderMap, id: &str, f: RepoFile) -> Result<Response> {
    let n = client(state, headers, id).await?;
    read_of(state, headers, &n, f).await
}

/// A whole file (200) or one range of it (206, or 416 when the range
/// cannot be served).
async fn read_of(
    state: &AppState,
    headers: &HeaderMap,
    n: &crate::service::clients::ClientSession,
    f: RepoFile,
) -> Result<Response> {
    let (mut file, size) = state.services.repo_open(n, &f).await?;
    let wanted = headers
        .get(header::RANGE)
        .map(|v| range::parse(v.to_str().unwrap_or(""), size));
    let (status, start, len) = match wanted {
        None => (StatusCode::OK, 0, size),
        Some(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Some(None) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response());
        }
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await?;
    }
    let mut r = Response::new(Body::new(FileBody::new(file, len)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(r)
}

async fn upload(state: &AppState, id: &str, f: RepoFile, req: Request) -> Result<Response> {
    let n = client(state, req.headers(), id).await?;
    upload_of(state, &n, f, req).await
}

async fn upload_of(
    state: &AppState,
    n: &crate::service::clients::ClientSession,
    f: RepoFile,
    req: Request,
) -> Result<Response> {
    let len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    state
        .services
        .repo_upload(n, &f, len, req.into_body())
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn remove(state: &AppState, headers: &HeaderMap, id: &str, f: RepoFile) -> Result<Response> {
    let n = client(state, headers, id).await?;
    state.services.repo_delete(&n, &f).await?;
    Ok(StatusCode::OK.into_response())
}

#[derive(serde::Serialize)]
struct Entry {
    name: String,
    size: u64,
}

/// v1: a JSON array of names; v2 (asked for with `Accept`): names and
/// sizes, answered with the v2 content type.
async fn list(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let n = client(&state, &headers, &id).await?;
    let kind = FileKind::parse(&kind)
        .ok_or_else(|| RepoError::BadRequest(format!("No such file type: {kind:.20}.")))?;
    let files = state.services.repo_list(&n, kind).await?;
    let v2 = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with(V2)));
    let (body, content_type) = if v2 {
        let entries: Vec<Entry> = files
            .into_iter()
            .map(|e| Entry {
                name: e.name,
                size: e.size,
            })
            .collect();
        (serde_json::to_string(&entries), V2)
    } else {
        let names: Vec<String> = files.into_iter().map(|e| e.name).collect();
        (serde_json::to_string(&names), V1)
    };
    let body = body.map_err(|e| RepoError::Internal(e.into()))?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
