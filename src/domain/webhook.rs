//! Webhooks: event types, endpoint URLs, which addresses may be called,
//! and Standard Webhooks signatures (<https://www.standardwebhooks.com>).

use std::net::IpAddr;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::FieldError;

/// Every event type an endpoint may subscribe to.
pub const EVENTS: &[&str] = &[
    "installation.activated",
    "installation.deactivated",
    "backup.completed",
    "backup.failed",
    "alert.opened",
    "alert.closed",
    "invite.sent",
    "invite.failed",
    "license.created",
    "license.updated",
    "customer.created",
    "customer.deleted",
    "ping",
];

/// Parses the subscribed event types; stored as ` a b c ` (a space on
/// both sides of each, so `LIKE '% t %'` finds subscribers).
pub fn parse_events<S: AsRef<str>>(field: &'static str, names: &[S]) -> Result<String, FieldError> {
    if names.is_empty() {
        return Err(FieldError::new(field, "error.webhook_events_invalid"));
    }
    let mut out: Vec<&str> = Vec::new();
    for n in names {
        let n = n.as_ref().trim();
        match EVENTS.iter().find(|e| **e == n) {
            Some(e) => {
                if !out.contains(e) {
                    out.push(e);
                }
            }
            None => return Err(FieldError::new(field, "error.webhook_events_invalid")),
        }
    }
    Ok(format!(" {} ", out.join(" ")))
}

/// The stored event list as names.
pub fn events_of(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(String::from).collect()
}

/// An endpoint URL: absolute, https (or http when allowed), with a host,
/// no user or password in it, at most 2000 characters.
pub fn parse_url(field: &'static str, raw: &str, allow_http: bool) -> Result<url::Url, FieldError> {
    let raw = raw.trim();
    let bad = || FieldError::new(field, "error.webhook_url_invalid");
    if raw.len() > 2000 {
        return Err(bad());
    }
    let u = url::Url::parse(raw).map_err(|_| bad())?;
    match u.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(FieldError::new(field, "error.webhook_https_required")),
    }
    if u.host_str().is_none_or(str::is_empty) || !u.username().is_empty() || u.password().is_some()
    {
        return Err(bad());
    }
    Ok(u)
}

/// True for addresses a webhook must not reach unless allowed: loopback,
/// private, link-local, unspecified, multicast, shared (CGNAT),
/// unique-local and the IPv4 ones mapped into IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v) => {
            if let Some(m) = v.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(m));
            }
            let s = v.segments();
            v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// A new signing secret: `whsec_` + base64 of 24 random bytes.
pub fn format_secret(random: &[u8; 24]) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(random)
    )
}

/// The `webhook-signature` value for one message: `v1,` + base64 of
/// HMAC-SHA256 over `id.timestamp.body` keyed with the secret's bytes.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut m = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key).ok()?;
    m.update(msg_id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_example_signature() {
        // The example of the specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = sign(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn urls_and_addresses() {
        assert!(parse_url("url", "https://psa.example/hook", false).is_ok());
        assert!(parse_url("url", "http://psa.example/hook", false).is_err());
        assert!(parse_url("url", "http://psa.example/hook", true).is_ok());
        assert!(parse_url("url", "https://u:p@psa.example/", false).is_err());
        assert!(parse_url("url", "ftp://psa.example/", true).is_err());
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
        ] {
            assert!(is_internal(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "2606:4700::1111"] {
            assert!(!is_internal(a.parse().unwrap()), "{a}");
        }
        assert_eq!(
            parse_events("e", &["ping", "ping", "customer.created"]).unwrap(),
            " ping customer.created "
        );
        assert!(parse_events("e", &["nope"]).is_err());
    }
}
