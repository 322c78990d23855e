//! RFC 9457 problem documents: the JSON error of the admin API and the
//! client API (and of the repository endpoints), with a stable `code`.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::FieldError;
use crate::i18n::Lang;
use crate::service::ServiceError;

/// The body of every JSON error (RFC 9457), with a stable `code`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProblemDocument {
    /// `urn:command-center:problem:<code>`
    r#type: String,
    title: String,
    status: u16,
    /// Stable, machine-readable: `not_found`, `validation_failed`, `seats_below_used`, …
    code: String,
    detail: String,
    /// For `validation_failed` and refusals: one entry per field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ProblemField>,
    /// For `already_sent`: how many of the invites were sent before or are
    /// on their way (send again with `resend: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    field: String,
    message: String,
    code: String,
}

/// An RFC 9457 problem document.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    count: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            count: None,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemDocument {
            r#type: format!("urn:command-center:problem:{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail,
            errors: self
                .errors
                .iter()
                .map(|e| ProblemField {
                    field: e.field.to_string(),
                    message: Lang::En.msg(&e.message),
                    code: e.message.split('|').next().unwrap_or("").to_string(),
                })
                .collect(),
            count: self.count,
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(s) = self.retry_after.and_then(|s| s.to_string().parse().ok()) {
            r.headers_mut().insert(header::RETRY_AFTER, s);
        }
        r
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Problem {
        match e {
            ServiceError::Invalid(errors) => Problem {
                detail: field_detail(&errors),
                errors,
                ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "")
            },
            ServiceError::Refused { code, errors } => Problem {
                detail: field_detail(&errors),
                errors,
                ..Problem::new(StatusCode::CONFLICT, code.code(), "")
            },
            ServiceError::NotFound => {
                Problem::new(StatusCode::NOT_FOUND, "not_found", "Not found.")
            }
            ServiceError::Forbidden => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Your role does not allow this.",
            ),
            ServiceError::InsufficientScope(needed) => Problem::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("This token lacks the `{}` scope.", needed.as_str()),
            ),
            ServiceError::Conflict { code, message } => {
                Problem::new(StatusCode::CONFLICT, code.code(), message)
            }
            ServiceError::AlreadySent { invites } => Problem {
                count: Some(invites.len() as u64),
                ..Problem::new(
                    StatusCode::CONFLICT,
                    "already_sent",
                    format!(
                        "{} of the invites have been sent before or are on their way; nothing was queued. Send again with \"resend\": true.",
                        invites.len()
                    ),
                )
            },
            ServiceError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Wrong e-mail or password.",
            ),
            ServiceError::SecondFactorRequired => Problem::new(
                StatusCode::UNAUTHORIZED,
                "totp_required",
                "Two-factor sign-in is on for this account: send `totp` (a code from the authenticator app, or a recovery code) too.",
            ),
            ServiceError::SecondFactorEnrolmentRequired => Problem::new(
                StatusCode::FORBIDDEN,
                "totp_enrolment_required",
                "Two-factor sign-in is required for this account and not set up yet: sign in to the console once to set it up.",
            ),
            ServiceError::SecondFactorInvalid => Problem::new(
                StatusCode::UNAUTHORIZED,
                "totp_invalid",
                "Wrong, expired or already used code.",
            ),
            ServiceError::RateLimited { retry_after_secs } => Problem {
                retry_after: Some(retry_after_secs),
                ..Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many attempts; try again later.",
                )
            },
            ServiceError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error; it has been logged.",
                )
            }
        }
    }
}

fn field_detail(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, Lang::En.msg(&e.message)))
        .collect::<Vec<_>>()
        .join("; ")
}

pub type ApiResult<T> = Result<T, Problem>;

/// A JSON body; a body that does not parse is a 400 problem, not axum's text.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Problem;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                e.body_text(),
            )),
        }
    }
}
