//! Passkeys (WebAuthn) in a real headless Chromium with chromedriver's
//! virtual authenticator (the W3C WebDriver "Virtual Authenticators"
//! extension): registered on /me, used alone and as the second step after
//! the password, refused once removed, and a replayed or foreign challenge
//! refused. A passkey's origin must be a host name (browsers refuse an IP
//! address as relying party), so the console runs as `http://localhost:PORT`.

use fantoccini::wd::WebDriverCompatibleCommand;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::harness::*;

/// A WebDriver extension command under the session's URL.
#[derive(Debug)]
struct SessionCmd {
    method: axum::http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCmd {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(|b| b.to_string()),
        )
    }
}

/// Adds a CTAP2 platform authenticator that keeps resident keys, verifies
/// the user and always consents (as a person touching it would).
async fn add_virtual_authenticator(browser: &Browser) -> String {
    let v = browser
        .client
        .issue_cmd(SessionCmd {
            method: axum::http::Method::POST,
            path: "webauthn/authenticator".into(),
            body: Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserConsenting": true,
                "isUserVerified": true
            })),
        })
        .await
        .expect("chromedriver adds a virtual authenticator");
    v.as_str().expect("authenticator id").to_string()
}

/// How many credentials the virtual authenticator holds.
async fn credentials_held(browser: &Browser, authenticator: &str) -> usize {
    let v = browser
        .client
        .issue_cmd(SessionCmd {
            method: axum::http::Method::GET,
            path: format!("webauthn/authenticator/{authenticator}/credentials"),
            body: None,
        })
        .await
        .unwrap();
    v.as_array().map(|a| a.len()).unwrap_or(0)
}

async fn path_of(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .unwrap()
        .path()
        .to_string()
}

/// Waits (up to 10 s) until the page is no longer under `prefix`.
async fn wait_until_left(browser: &Browser, prefix: &str) -> String {
    for _ in 0..100 {
        let p = path_of(browser).await;
        if !p.starts_with(prefix) {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("still on {prefix}");
}

async fn sign_out(browser: &Browser, site: &str) {
    browser.client.goto(&format!("{site}/me")).await.unwrap();
    browser.click("form[action='/logout'] button").await;
    for _ in 0..100 {
        if path_of(browser).await == "/login" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("not signed out");
}

/// One signed-in page works (the session is full).
async fn signed_in(browser: &Browser, site: &str) {
    browser.client.goto(&format!("{site}/me")).await.unwrap();
    assert_eq!(path_of(browser).await, "/me", "signed in");
    browser.find("#passkeys").await;
}

async fn audit(app: &TestApp, action: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
    ))
    .await
}

/// In the page: a sign-in with a passkey done by hand, then the same
/// answer sent again (replay), then sent to a fresh challenge (it was
/// signed over the old one). Returns the statuses, the answer, and an
/// unused challenge for another browser to try.
const REPLAY: &str = r#"
var done = arguments[arguments.length - 1];
var csrf = document.querySelector('form[data-passkey] input[name=_csrf]').value;
function post(url, f) {
  var b = new URLSearchParams();
  for (var k in f) b.append(k, f[k]);
  return fetch(url, {method: 'POST', body: b, credentials: 'same-origin'})
    .then(function (r) { return r.text().then(function (t) { return {status: r.status, body: t}; }); });
}
var out = {};
post('/login/passkey/start', {_csrf: csrf}).then(function (r) {
  var c = JSON.parse(r.body); out.first = c.challenge_id;
  return window.ccPasskeys.assertion(c.options).then(function (cred) {
    out.credential = cred;
    return post('/login/passkey/finish', {_csrf: csrf, challenge_id: c.challenge_id, credential: cred, next: '/'});
  });
}).then(function (r) {
  out.ok = r.status;
  return post('/login/passkey/finish', {_csrf: csrf, challenge_id: out.first, credential: out.credential, next: '/'});
}).then(function (r) {
  out.replay = r.status;
  return post('/login/passkey/start', {_csrf: csrf});
}).then(function (r) {
  var c = JSON.parse(r.body);
  return post('/login/passkey/finish', {_csrf: csrf, challenge_id: c.challenge_id, credential: out.credential, next: '/'});
}).then(function (r) {
  out.other_challenge = r.status;
  return post('/login/passkey/start', {_csrf: csrf});
}).then(function (r) {
  out.unused = JSON.parse(r.body).challenge_id;
  done(out);
}, function (e) { done({error: String(e)}); });
"#;

/// In the page: asks for a challenge and has the authenticator answer it,
/// without sending the answer (the test sends it elsewhere).
const ASK_ONLY: &str = r#"
var done = arguments[arguments.length - 1];
var csrf = document.querySelector('form[data-passkey] input[name=_csrf]').value;
var b = new URLSearchParams(); b.append('_csrf', csrf);
fetch('/login/passkey/start', {method: 'POST', body: b, credentials: 'same-origin'})
  .then(function (r) { return r.json(); })
  .then(function (c) {
    return window.ccPasskeys.assertion(c.options).then(function (cred) {
      done({challenge_id: c.challenge_id, credential: cred, csrf: csrf});
    });
  }).then(null, function (e) { done({error: String(e)}); });
"#;

#[tokio::test]
async fn passkeys_register_sign_in_alone_and_as_second_factor_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let port = free_port();
    let site = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_LISTEN", &listen),
        ("CC_PUBLIC_URL", &site),
    ])
    .await;
    let admin = app.admin_token().await;
    let authenticator = add_virtual_authenticator(&browser).await;

    // Register a passkey on the operator's own page.
    browser.client.goto(&format!("{site}/login")).await.unwrap();
    browser.fill("#email", ADMIN_EMAIL).await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    wait_until_left(&browser, "/login").await;
    browser.client.goto(&format!("{site}/me")).await.unwrap();
    browser.fill("#passkey-name", "Virtual key").await;
    browser.fill("#passkey-password", ADMIN_PASSWORD).await;
    browser.click("#passkey-add").await;
    let name = browser.text("#passkeys td.passkey-name").await;
    assert_eq!(name, "Virtual key");
    browser.shot("passkeys-me").await;
    assert_eq!(credentials_held(&browser, &authenticator).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM passkeys").await, 1);
    assert_eq!(audit(&app, "passkey.added").await, 1);
    // The challenge was used up.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webauthn_challenges").await,
        0
    );

    // The API lists it.
    let (s, v) = app.api("GET", "/api/v1/me/passkeys", &admin, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["items"][0]["name"], "Virtual key", "{v}");
    assert!(v["items"][0]["last_used_at"].is_null(), "{v}");

    // Two factors required of everyone: the passkey counts, so the
    // password leads to the second step, not to enrolment.
    let (s, _) = app
        .api(
            "PUT",
            "/api/v1/security/two-factor",
            &admin,
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Sign out; sign in with the passkey alone.
    sign_out(&browser, &site).await;
    browser.click("#passkey-sign-in").await;
    let landed = wait_until_left(&browser, "/login").await;
    assert_ne!(landed, "/login/enrol");
    signed_in(&browser, &site).await;
    assert_eq!(audit(&app, "passkey.used").await, 1);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'signin.success' \
             AND after_json LIKE '%\"factor\":\"passkey\"%'"
        )
        .await,
        1
    );
    // Its use is shown on /me.
    let html = browser.client.source().await.unwrap();
    assert!(!html.contains("not yet"), "last used is shown");

    // Sign out; the password, then the passkey as the second step.
    sign_out(&browser, &site).await;
    browser.fill("#email", ADMIN_EMAIL).await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    for _ in 0..100 {
        if path_of(&browser).await == "/login/code" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        path_of(&browser).await,
        "/login/code",
        "second step, not enrolment"
    );
    browser.shot("passkeys-second-step").await;
    // No TOTP is set up: only the passkey is offered.
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css("#code"))
            .await
            .is_err()
    );
    browser.click("#passkey-second").await;
    wait_until_left(&browser, "/login").await;
    signed_in(&browser, &site).await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'signin.success' \
             AND after_json LIKE '%\"second_factor\":\"passkey\"%'"
        )
        .await,
        1
    );

    let (_, v) = app.api("GET", "/api/v1/me/passkeys", &admin, None).await;
    assert!(v["items"][0]["last_used_at"].is_string(), "{v}");

    // A replayed answer and an answer to another challenge are refused.
    sign_out(&browser, &site).await;
    let out = browser
        .client
        .execute_async(REPLAY, vec![])
        .await
        .expect("replay script");
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(out["ok"], 200, "the first answer signs in: {out}");
    assert_eq!(out["replay"], 401, "the same challenge twice: {out}");
    assert_eq!(
        out["other_challenge"], 401,
        "signed over another challenge: {out}"
    );
    // Another browser (its own cookies) cannot answer this one's challenge.
    let other = Browserless {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let (_, html) = other.get("/login").await;
    let csrf = csrf_of(&html);
    let (s, body, _) = other
        .post(
            "/login/passkey/finish",
            &[
                ("_csrf", csrf.as_str()),
                ("challenge_id", out["unused"].as_str().unwrap()),
                ("credential", out["credential"].as_str().unwrap()),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a foreign challenge: {body}");
    assert!(audit(&app, "passkey.failed").await >= 3);

    // A ceremony may span instances: the challenge asked of this one is
    // answered, with the browser's cookie, to a second instance on the
    // same database (as behind a load balancer: the same public URL).
    let asked = browser
        .client
        .execute_async(ASK_ONLY, vec![])
        .await
        .expect("ask script");
    assert!(asked.get("error").is_none(), "{asked}");
    let pre = browser.client.get_named_cookie("cc_pre").await.unwrap();
    let mut env = app.env.clone();
    env.insert("CC_LISTEN".into(), "127.0.0.1:0".into());
    let second = command_center::start(
        command_center::config::Config::from_sources(
            &command_center::config::ConfigArgs::default(),
            env,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://{}/login/passkey/finish", second.addr))
        .header("cookie", format!("cc_pre={}", pre.value()))
        .form(&[
            ("_csrf", asked["csrf"].as_str().unwrap()),
            ("challenge_id", asked["challenge_id"].as_str().unwrap()),
            ("credential", asked["credential"].as_str().unwrap()),
            ("next", "/monitoring"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("cc_session=")),
        "a session from the second instance"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["redirect"], "/monitoring");
    second.stop().await.unwrap();

    // Remove the passkey: it signs in no more.
    browser.client.goto(&format!("{site}/me")).await.unwrap();
    browser
        .click("#passkeys form[action$='/remove'] button")
        .await;
    browser.find(".flash, [role=status]").await;
    for _ in 0..50 {
        if app.count("SELECT COUNT(*) FROM passkeys").await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM passkeys").await, 0);
    assert_eq!(audit(&app, "passkey.removed").await, 1);
    sign_out(&browser, &site).await;
    let failed_before = audit(&app, "passkey.failed").await;
    browser.click("#passkey-sign-in").await;
    let status = browser.find(".passkey-status.error").await;
    let text = status.text().await.unwrap();
    assert!(text.contains("not accepted"), "{text}");
    browser.shot("passkeys-login-refused").await;
    assert_eq!(path_of(&browser).await, "/login");
    assert_eq!(audit(&app, "passkey.failed").await, failed_before + 1);
    // The authenticator still holds it: the console refused it.
    assert_eq!(credentials_held(&browser, &authenticator).await, 1);

    // Reached by IP address (where browsers refuse passkeys) the button
    // stays hidden; the password form is there.
    browser
        .client
        .goto(&format!("http://127.0.0.1:{port}/login"))
        .await
        .unwrap();
    browser.find("#password").await;
    let button = browser.find("#passkey-sign-in").await;
    assert!(
        !button.is_displayed().await.unwrap(),
        "hidden on an IP address"
    );

    browser.close().await;
    app.finish().await;
}

/// The passkey endpoints without a browser: CSRF, options from
/// `CC_PUBLIC_URL`, bad answers refused with nothing stored (never a 500),
/// a challenge used once, and a parallel burst of bad answers evaluated
/// at most up to the address's sign-in limit.
#[tokio::test]
async fn passkey_endpoints_refuse_bad_input_and_hold_the_limit() {
    let port = free_port();
    let site = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_LISTEN", &listen),
        ("CC_PUBLIC_URL", &site),
    ])
    .await;
    let b = Browserless::new(&app);
    assert_eq!(
        b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let csrf = b.csrf("/me").await;

    // Without the CSRF token: refused.
    let (s, _, _) = b.post("/me/passkeys/start", &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The options name this console (its host as the relying party) and
    // ask for a discoverable, user-verifying credential.
    // Adding a passkey asks for the password again (a passkey signs in
    // alone: a borrowed session must not add one): none or a wrong one is
    // 422 and starts no ceremony.
    for pw in ["", "not the password at all"] {
        let (s, body, _) = b
            .post("/me/passkeys/start", &[("_csrf", &csrf), ("password", pw)])
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("Wrong password"), "{body}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webauthn_challenges").await,
        0
    );
    let (s, body, _) = b
        .post(
            "/me/passkeys/start",
            &[("_csrf", &csrf), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let pk = &v["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost", "{v}");
    assert_eq!(
        pk["authenticatorSelection"]["residentKey"], "required",
        "{v}"
    );
    assert_eq!(
        pk["authenticatorSelection"]["userVerification"], "required",
        "{v}"
    );
    let challenge = v["challenge_id"].as_str().unwrap().to_string();
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webauthn_challenges").await,
        1
    );

    // A name with a line break: 422, the challenge still there.
    let (s, body, _) = b
        .post(
            "/me/passkeys/finish",
            &[
                ("_csrf", &csrf),
                ("challenge_id", &challenge),
                ("name", "Key\r\nBcc: x"),
                ("credential", "{}"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // NUL in the answer: refused at the door (400).
    let (s, body, _) = b
        .post(
            "/me/passkeys/finish",
            &[
                ("_csrf", &csrf),
                ("challenge_id", &challenge),
                ("name", "Key"),
                ("credential", "{\"id\": \"\u{0}\"}"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // Not an answer at all: 422.
    let (s, body, _) = b
        .post(
            "/me/passkeys/finish",
            &[
                ("_csrf", &csrf),
                ("challenge_id", &challenge),
                ("name", "Key"),
                ("credential", "{\"id\": 5}"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A well-formed answer that no authenticator made: refused by the
    // verification, nothing stored, and the challenge is used up.
    let forged = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}
    })
    .to_string();
    let (s, body, _) = b
        .post(
            "/me/passkeys/finish",
            &[
                ("_csrf", &csrf),
                ("challenge_id", &challenge),
                ("name", "Key"),
                ("credential", &forged),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("could not be registered"), "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM passkeys").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webauthn_challenges").await,
        0
    );
    // The same challenge again, or one that never was.
    for id in [challenge.as_str(), "0123456789abcdef0123456789abcdef"] {
        let (s, body, _) = b
            .post(
                "/me/passkeys/finish",
                &[
                    ("_csrf", &csrf),
                    ("challenge_id", id),
                    ("name", "Key"),
                    ("credential", &forged),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("expired or was already used"), "{body}");
    }
    // Removing a passkey that is not yours (or not there): 404.
    let (s, _, _) = b
        .post("/me/passkeys/nope/remove", &[("_csrf", &csrf)])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The API documents its passkey endpoints.
    let (s, doc) = app.api_anon("GET", "/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/me/passkeys"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/me/passkeys/{id}"]["delete"].is_object());

    // Sign-in with a passkey: only with the pre-session token.
    let anon = Browserless::new(&app);
    let (_, html) = anon.get("/login").await;
    let pre = csrf_of(&html);
    let (s, _, _) = anon.post("/login/passkey/start", &[("_csrf", "x")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The second step without a half signed-in session: 401.
    let (s, _, _) = anon
        .post("/login/code/passkey/start", &[("_csrf", &pre)])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // 40 parallel bad answers from one address: at most the address's
    // limit (20) is evaluated, the rest get 429.
    let mut challenges = Vec::new();
    for _ in 0..40 {
        let (s, body, _) = anon.post("/login/passkey/start", &[("_csrf", &pre)]).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        challenges.push(v["challenge_id"].as_str().unwrap().to_string());
    }
    let assertion = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA",
                     "signature": "AAAA", "userHandle": "AAAA"}
    })
    .to_string();
    let tasks: Vec<_> = challenges
        .iter()
        .map(|c| {
            let client = anon.client.clone();
            let url = format!("{}/login/passkey/finish", anon.base);
            let form = vec![
                ("_csrf".to_string(), pre.clone()),
                ("challenge_id".to_string(), c.clone()),
                ("credential".to_string(), assertion.clone()),
                ("next".to_string(), "/".to_string()),
            ];
            tokio::spawn(async move { client.post(url).form(&form).send().await.unwrap().status() })
        })
        .collect();
    let mut tally = std::collections::BTreeMap::new();
    for t in tasks {
        *tally.entry(t.await.unwrap().as_u16()).or_insert(0) += 1;
    }
    eprintln!("40 parallel bad passkey answers: {tally:?}");
    assert_eq!(tally.get(&401).copied().unwrap_or(0), 20, "{tally:?}");
    assert_eq!(tally.get(&429).copied().unwrap_or(0), 20, "{tally:?}");
    assert_eq!(audit(&app, "passkey.failed").await, 20);
    // Starting a sign-in stores a challenge before anyone is known: one
    // address gets 100 per window (40 were started above), then 429.
    let mut started = 40;
    loop {
        let (s, _, _) = anon.post("/login/passkey/start", &[("_csrf", &pre)]).await;
        if s != StatusCode::OK {
            assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
            break;
        }
        started += 1;
        assert!(started <= 100, "more than 100 starts");
    }
    assert_eq!(started, 100);
    app.finish().await;
}

/// Two factors required, none set up: at the next sign-in the operator is
/// led to enrol, and a passkey is enough; then it signs in alone.
#[tokio::test]
async fn a_required_operator_enrols_with_a_passkey_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let port = free_port();
    let site = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_LISTEN", &listen),
        ("CC_PUBLIC_URL", &site),
    ])
    .await;
    let admin = app.admin_token().await;
    let (s, _) = app
        .api(
            "PUT",
            "/api/v1/security/two-factor",
            &admin,
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    add_virtual_authenticator(&browser).await;

    browser.client.goto(&format!("{site}/login")).await.unwrap();
    browser.fill("#email", ADMIN_EMAIL).await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    for _ in 0..100 {
        if path_of(&browser).await == "/login/enrol" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(path_of(&browser).await, "/login/enrol");
    browser.fill("#passkey-name", "Enrolled key").await;
    browser.click("#passkey-add").await;
    wait_until_left(&browser, "/login").await;
    signed_in(&browser, &site).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM passkeys").await, 1);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'signin.success' \
             AND after_json LIKE '%\"enrolled\":true%' AND after_json LIKE '%passkey%'"
        )
        .await,
        1
    );
    sign_out(&browser, &site).await;
    browser.click("#passkey-sign-in").await;
    wait_until_left(&browser, "/login").await;
    signed_in(&browser, &site).await;

    // Removed through the API (a lost device): it signs in no more.
    let (_, v) = app.api("GET", "/api/v1/me/passkeys", &admin, None).await;
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .api("DELETE", &format!("/api/v1/me/passkeys/{id}"), &admin, None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .api("DELETE", &format!("/api/v1/me/passkeys/{id}"), &admin, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    sign_out(&browser, &site).await;
    browser.click("#passkey-sign-in").await;
    browser.find(".passkey-status.error").await;
    assert_eq!(path_of(&browser).await, "/login");
    // With two factors required and none left, the password leads to
    // enrolment again.
    browser.fill("#email", ADMIN_EMAIL).await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    for _ in 0..100 {
        if path_of(&browser).await == "/login/enrol" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(path_of(&browser).await, "/login/enrol");
    browser.close().await;
    app.finish().await;
}
