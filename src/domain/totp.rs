//! TOTP (RFC 6238: HMAC-SHA-1, 30-second steps, six digits), the base32
//! text of its secret, recovery codes, and the device named by a
//! User-Agent. Pure: the caller brings the time and the randomness.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps accepted either side of now (clock drift of a phone).
pub const DRIFT_STEPS: i64 = 1;
/// Recovery codes handed out at enrolment.
pub const RECOVERY_CODES: usize = 10;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 (RFC 4648) without padding, as authenticator apps expect.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buf: u64 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buf = (buf << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32, ignoring case, spaces and padding; `None` if a
/// character is outside the alphabet.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buf: u64 = 0;
    let mut bits = 0u32;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let c = c.to_ascii_uppercase() as u8;
        let v = ALPHABET.iter().position(|&a| a == c)? as u64;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buf >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The time step of a moment (milliseconds since the epoch).
pub fn step_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000).div_euclid(STEP_SECS)
}

/// The code of one time step (RFC 4226's dynamic truncation).
pub fn code_at(secret: &[u8], step: i64) -> String {
    let mut mac = match <Hmac<Sha1> as KeyInit>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes any key length"),
    };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    format!(
        "{:0width$}",
        bin % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// A typed code as six digits (spaces and dashes dropped), or `None`.
pub fn parse_code(typed: &str) -> Option<String> {
    let digits: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// The step whose code is `code`, within the drift around `now_ms`, and
/// after `last_step` (a step once used is not taken again). Compared in
/// constant time.
pub fn matching_step(
    secret: &[u8],
    code: &str,
    now_ms: i64,
    last_step: Option<i64>,
) -> Option<i64> {
    use subtle::ConstantTimeEq;
    let now = step_of(now_ms);
    let mut found = None;
    for step in (now - DRIFT_STEPS)..=(now + DRIFT_STEPS) {
        let fresh = last_step.is_none_or(|l| step > l);
        let same = bool::from(code_at(secret, step).as_bytes().ct_eq(code.as_bytes()));
        if fresh && same && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URL an authenticator app reads from the QR code.
pub fn otpauth_url(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
        enc(issuer),
        enc(account),
        secret_b32,
        enc(issuer),
        DIGITS,
        STEP_SECS
    )
}

/// A recovery code for showing: ten base32 characters from 7 random bytes
/// (50 bits), as `xxxxx-xxxxx`.
pub fn recovery_code(random: &[u8; 7]) -> String {
    let s = base32_encode(random).to_lowercase();
    format!("{}-{}", &s[0..5], &s[5..10])
}

/// A typed recovery code, normalised (lower case, no spaces or dashes), if
/// it has the shape of one.
pub fn parse_recovery_code(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == 10
        && s.bytes()
            .all(|b| ALPHABET.contains(&b.to_ascii_uppercase())))
    .then_some(s)
}

/// "Firefox on Linux" and the like, from a User-Agent header; what an
/// operator needs to tell their sessions apart, not a full parser.
pub fn device_of(user_agent: &str) -> String {
    let ua = user_agent;
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("reqwest", "reqwest"),
        ("python-requests", "Python requests"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => {
            let s: String = ua.chars().filter(|c| !c.is_control()).take(40).collect();
            if s.is_empty() { "?".to_string() } else { s }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, the last six digits of each.
        let key = b"12345678901234567890";
        for (t, code) in [
            (59i64, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(code_at(key, t / 30), code, "t={t}");
        }
    }

    #[test]
    fn base32_round_trip() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        for n in 0..40u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base32_decode(&base32_encode(&v)).unwrap(), v);
        }
        assert!(base32_decode("abc1").is_none());
    }

    #[test]
    fn a_step_is_taken_once_and_drift_is_bounded() {
        let key = b"12345678901234567890";
        let now = 1_234_567_890_000;
        let code = code_at(key, step_of(now));
        let s = matching_step(key, &code, now, None).unwrap();
        assert_eq!(s, step_of(now));
        assert_eq!(matching_step(key, &code, now, Some(s)), None);
        let old = code_at(key, step_of(now) - 3);
        assert_eq!(matching_step(key, &old, now, None), None);
        assert_eq!(parse_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(parse_code("12345"), None);
        assert_eq!(parse_code("abcdef"), None);
    }

    #[test]
    fn recovery_codes_parse_back() {
        let c = recovery_code(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(c.len(), 11);
        assert_eq!(
            parse_recovery_code(&c.to_uppercase()),
            Some(c.replace('-', ""))
        );
        assert_eq!(parse_recovery_code("123456"), None);
    }

    #[test]
    fn devices() {
        let ff = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device_of(ff), "Firefox on Linux");
        let ch = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(device_of(ch), "Chrome on Windows");
        assert_eq!(device_of(""), "?");
    }
}
