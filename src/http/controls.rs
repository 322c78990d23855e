//! Control characters in a request are refused at the door: a NUL (or any
//! other control character) in the query string, and a NUL in a JSON or
//! form body, is a 400 before any handler runs. PostgreSQL cannot store a
//! NUL in text, so letting one through turned a search or a sign-in into
//! a 500 there (and into data no other tool reads elsewhere); other
//! controls are each field's own rule (a message may span lines, a name
//! may not).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Problem;

/// Bodies inspected at most (larger ones are refused by the body limit of
/// the routes that take JSON and forms anyway).
const MAX_INSPECTED: usize = 2 * 1024 * 1024;

pub async fn refuse_control_characters(req: Request, next: Next) -> Response {
    if let Some(q) = req.uri().query()
        && percent_decoded_has_control(q)
    {
        return refuse(req.uri().path());
    }
    let kind = body_kind(&req);
    if kind == BodyKind::Other {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_INSPECTED).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "The request body is too large.",
            )
            .into_response();
        }
    };
    let nul = match kind {
        BodyKind::Json => json_has_nul(&bytes),
        BodyKind::Form => percent_decoded_has_nul(&bytes),
        BodyKind::Other => false,
    };
    if nul {
        return refuse(&path);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum BodyKind {
    Json,
    Form,
    Other,
}

fn body_kind(req: &Request) -> BodyKind {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("application/json") || ct.contains("+json") {
        BodyKind::Json
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        BodyKind::Form
    } else {
        BodyKind::Other
    }
}

fn refuse(path: &str) -> Response {
    let detail = "Control characters (such as NUL) are not allowed in a request.";
    if path.starts_with("/api/") || path.starts_with("/client/") {
        Problem::new(StatusCode::BAD_REQUEST, "control_character", detail).into_response()
    } else {
        (StatusCode::BAD_REQUEST, detail).into_response()
    }
}

/// Any control character once `%XX` escapes (and `+`) are decoded.
fn percent_decoded_has_control(q: &str) -> bool {
    decoded(q.as_bytes()).any(|b| b < 0x20 || b == 0x7f)
}

fn percent_decoded_has_nul(body: &[u8]) -> bool {
    decoded(body).any(|b| b == 0)
}

fn decoded(raw: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *raw.get(i)?;
        if b == b'%'
            && let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            )
        {
            i += 3;
            return Some(h * 16 + l);
        }
        i += 1;
        Some(b)
    })
}

/// A NUL in a JSON text can only be the escape `\u0000` inside a string
/// (a raw control character is not JSON); an escaped backslash before it
/// (`\\u0000`) is text, not a NUL.
fn json_has_nul(body: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &b) in body.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if b == b'u' && backslashes % 2 == 1 && body[i + 1..].starts_with(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_json_is_the_escape_not_the_text() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(json_has_nul(br#"{"a":"\\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"\u00e4 \n"}"#));
    }

    #[test]
    fn query_and_form_decoding() {
        assert!(percent_decoded_has_control("q=a%00b"));
        assert!(percent_decoded_has_control("back=/%0ax"));
        assert!(!percent_decoded_has_control("q=%C3%A4%20b+c"));
        assert!(!percent_decoded_has_control("q=100%"));
        assert!(percent_decoded_has_nul(b"email=a%00b"));
        assert!(!percent_decoded_has_nul(b"email=a%2500"));
    }
}
