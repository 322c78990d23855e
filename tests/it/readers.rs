//! Numbers and times in the reader's language (#14): every main page, in
//! English and Finnish, shows times as people write them — never a raw
//! ISO timestamp — and Finnish pages write a decimal comma.

use reqwest::StatusCode;
use serde_json::json;

use crate::clients::{activate, client_post, invites, report_body};
use crate::harness::*;
use crate::invites::customer_with_license;

/// The text a reader sees: tags (and so their attributes, where
/// `datetime="…"` rightly keeps the machine's form) left out.
fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// `2026-11-30T22:47` or `2026-11-30 22:47` anywhere in the text.
fn iso_timestamp(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_digit());
    (0..b.len()).find_map(|i| {
        let shape = (0..4).all(|k| d(i + k))
            && b.get(i + 4) == Some(&b'-')
            && d(i + 5)
            && d(i + 6)
            && b.get(i + 7) == Some(&b'-')
            && d(i + 8)
            && d(i + 9)
            && matches!(b.get(i + 10), Some(b'T') | Some(b' '))
            && d(i + 11)
            && d(i + 12)
            && b.get(i + 13) == Some(&b':');
        shape.then(|| String::from_utf8_lossy(&b[i..(i + 20).min(b.len())]).to_string())
    })
}

#[test]
fn the_timestamp_check_finds_both_spellings() {
    assert!(iso_timestamp("at 2026-11-30T22:47:22.784Z.").is_some());
    assert!(iso_timestamp("at 2026-11-30 22:47 UTC").is_some());
    assert!(iso_timestamp("30.11.2026 klo 22.47 UTC · 30 Nov 2026 22:47 UTC").is_none());
    assert_eq!(
        visible_text("<time datetime=\"2026-11-30T22:47:22Z\">30 Nov</time>"),
        " 30 Nov "
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_pages_show_no_raw_timestamps_in_either_language() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = customer_with_license(&app, &t, None).await;
    // An installation with a backup, an invite that was sent, a trial:
    // every kind of time the pages show.
    let inv = invites(&app, &t, &lid, 2, "standard", "reader").await;
    let (s, a) = activate(&app, &inv[0].0, &inv[0].1).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let iid = a["installation_id"].as_str().unwrap().to_string();
    let token = a["token"].as_str().unwrap().to_string();
    let (s, v, _) = client_post(
        &app,
        "/client/v1/reports",
        Some(&token),
        report_body("success", 182_100_000_000),
    )
    .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = app
        .api("GET", &format!("/api/v1/licenses/{lid}/invites"), &t, None)
        .await;
    assert!(s.is_success(), "{v}");
    let second = v
        .as_array()
        .or(v["items"].as_array())
        .unwrap()
        .iter()
        .find(|i| i["username"] == inv[1].0.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/invites/send",
            &t,
            Some(json!({"invite_ids": [second]})),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let (s, v, _) = client_post(
        &app,
        "/client/v1/trial",
        None,
        json!({"email": "liisa@example.com", "hostname": "LIISA-PC", "os": "linux", "software_type": "standard"}),
    )
    .await;
    assert!(s.is_success(), "{v}");
    // The invite is sent (to an .eml file: no SMTP is set).
    for _ in 0..100 {
        if app
            .count("SELECT COUNT(*) FROM invites WHERE sent_at IS NOT NULL")
            .await
            == 1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A webhook endpoint with a test event: its delivery is refused at
    // send time (loopback), which logs an attempt with its time.
    let (s, hook) = app
        .api(
            "POST",
            "/api/v1/webhooks",
            &t,
            Some(json!({"url": "https://127.0.0.1:9/hook", "events": ["ping"]})),
        )
        .await;
    assert!(s.is_success(), "{hook}");
    let hook = hook["id"].as_str().unwrap().to_string();
    let (s, v) = app
        .api("POST", &format!("/api/v1/webhooks/{hook}/test"), &t, None)
        .await;
    assert!(s.is_success(), "{v}");
    for _ in 0..100 {
        if app.count("SELECT COUNT(*) FROM webhook_attempts").await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(app.count("SELECT COUNT(*) FROM webhook_attempts").await > 0);

    let pages = [
        "/monitoring".to_string(),
        "/licenses".into(),
        format!("/licenses/{cid}"),
        format!("/licenses/{cid}/license"),
        format!("/licenses/{cid}/invites"),
        format!("/installations?customer={cid}&sent=1"),
        format!("/installations/{iid}"),
        "/usage".into(),
        "/audit".into(),
        "/me".into(),
        "/settings".into(),
        "/settings/api-tokens".into(),
        "/settings/webhooks".into(),
        format!("/settings/webhooks/{hook}"),
        "/vendors".into(),
        "/operators".into(),
    ];
    for lang in ["en", "fi"] {
        let web = Browserless::new(&app);
        web.get(&format!("/lang/{lang}?back=%2F")).await;
        web.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        for path in &pages {
            let (s, html) = web.get(path).await;
            assert_eq!(s, StatusCode::OK, "{lang} {path}");
            assert!(
                html.contains(&format!("<html lang=\"{lang}\"")),
                "{lang} {path}"
            );
            let text = visible_text(&html);
            assert!(
                iso_timestamp(&text).is_none(),
                "{lang} {path} shows a raw time {:?}",
                iso_timestamp(&text)
            );
        }
        // Times in the language's own form, and a Finnish decimal comma.
        let (_, html) = web.get(&format!("/installations/{iid}")).await;
        let text = visible_text(&html);
        let (time_mark, bytes) = match lang {
            "fi" => (" klo ", "182,1 GB"),
            _ => (" UTC", "182.1 GB"),
        };
        assert!(text.contains(time_mark), "{lang}: {text}");
        assert!(text.contains(bytes), "{lang}: {text}");
        assert!(html.contains("<time class=\"local\" datetime=\""), "{html}");
        let (_, html) = web.get(&format!("/licenses/{cid}/invites")).await;
        assert!(visible_text(&html).contains(time_mark), "{lang}: sent time");
    }
    app.finish().await;
}

/// Issue #14: `/install` offers the backup program the console really has
/// (its own executable, which is the agent) and shows the real steps in
/// the customer's language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_page_offers_the_agent_and_its_steps() {
    let binary = env!("CARGO_BIN_EXE_command-center");
    let app = TestApp::spawn_with(&[("CC_AGENT_BINARY", binary)]).await;
    let web = Browserless::new(&app);
    let (s, html) = web.get("/install?lang=fi").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<html lang=\"fi\""), "{html}");
    assert!(
        html.contains("href=\"/install/command-center\"")
            && html.contains("Lataa varmuuskopio-ohjelma"),
        "{html}"
    );
    assert!(html.contains("chmod +x command-center"), "{html}");
    assert!(
        html.contains("./command-center agent activate --server http://127.0.0.1:")
            && html.contains("--username USERNAME --code ACTIVATION-CODE"),
        "the server's own address in the command: {html}"
    );
    assert!(html.contains("Aktivoi se sähköpostin"), "{html}");
    let size = std::fs::metadata(binary).unwrap().len();
    let mb = format!("{:.1}", size as f64 / 1e6).replace('.', ",");
    assert!(
        html.contains(&format!("{mb} MB")),
        "the size in Finnish: {html}"
    );
    let (_, en) = web.get("/install?lang=en").await;
    assert!(
        en.contains("Download the backup program") && en.contains("Activate it with the username"),
        "{en}"
    );

    // The download is the file itself, as an attachment.
    let r = web
        .client
        .get(app.url("/install/command-center"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"command-center\""
    );
    assert_eq!(r.headers()["content-length"], size.to_string().as_str());
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, size);
    assert!(
        bytes[..] == std::fs::read(binary).unwrap()[..],
        "the same bytes"
    );
    // And it runs as the agent the page describes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("command-center");
    std::fs::write(&path, &bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(&path)
        .args(["agent", "activate", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    assert!(
        help.contains("--server") && help.contains("--username") && help.contains("--code"),
        "{help}"
    );
    app.finish().await;
}

/// Without a readable program the page keeps the general steps and the
/// download answers 404.
#[tokio::test]
async fn the_install_page_without_a_download() {
    let app = TestApp::spawn_with(&[("CC_AGENT_BINARY", "/nonexistent/command-center")]).await;
    let web = Browserless::new(&app);
    let (s, html) = web.get("/install?lang=en").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("/install/command-center"), "{html}");
    assert!(html.contains("When it asks for the server"), "{html}");
    let (s, _) = web.get("/install/command-center").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.finish().await;
}
