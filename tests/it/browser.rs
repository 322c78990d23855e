//! The console in a real headless Chromium (through chromedriver).

use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::harness::*;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or returns None (and
    /// says so) when they are not installed outside CI.
    pub async fn start() -> Option<Browser> {
        if !require_tool("chromedriver", "/usr/bin/chromedriver")
            || !require_tool("chromium", "/usr/bin/chromium")
        {
            return None;
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,900",
                         "--lang=en-US",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }))
        .unwrap();
        let mut last = None;
        for _ in 0..50 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        panic!("chromedriver did not start: {last:?}");
    }

    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    /// Waits (up to 10 s) for an element to appear, as a person would.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(std::time::Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Types into a field (found afresh if the page changed under us).
    pub async fn fill(&self, css: &str, text: &str) {
        for _ in 0..50 {
            let e = self.find(css).await;
            if e.clear().await.is_ok() && e.send_keys(text).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("could not type into {css}");
    }

    pub async fn click(&self, css: &str) {
        for _ in 0..50 {
            if self.find(css).await.click().await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("could not click {css}");
    }

    pub async fn text(&self, css: &str) -> String {
        for _ in 0..50 {
            if let Ok(t) = self.find(css).await.text().await {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("could not read {css}");
    }

    /// Saves a screenshot when `CC_SCREENSHOTS` names a folder (for people
    /// looking at the pages; no test reads them).
    pub async fn shot(&self, name: &str) {
        if let Ok(dir) = std::env::var("CC_SCREENSHOTS") {
            let png = self.client.screenshot().await.unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
        }
    }

    pub async fn sign_in(&self, app: &TestApp, email: &str, password: &str) {
        self.client.goto(&app.url("/login")).await.unwrap();
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("button[type=submit]").await;
    }
}

#[tokio::test]
async fn sign_in_and_see_the_menu() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    browser
        .sign_in(&app, ADMIN_EMAIL, "wrong password, surely")
        .await;
    let err = browser.text("p.error").await;
    assert!(err.contains("Wrong e-mail or password"), "{err}");
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("table.monitoring").await;
    let menu = browser.text("nav .menu").await;
    for entry in [
        "Monitoring",
        "Licenses",
        "Installations",
        "Vendors",
        "Operators",
        "Audit log",
        "Settings",
    ] {
        assert!(menu.contains(entry), "menu has {entry}: {menu}");
    }
    // The current page is marked for screen readers, not only by colour.
    assert_eq!(browser.text("nav a[aria-current=page]").await, "Monitoring");
    browser.click("nav .menu a[href='/vendors']").await;
    browser.find("form[action='/vendors']").await;
    assert_eq!(browser.text("nav a[aria-current=page]").await, "Vendors");
    // Create a vendor from the keyboard-reachable form.
    browser.fill("#name", "Selain Oy").await;
    browser
        .click("form[action='/vendors'] button[type=submit]")
        .await;
    browser
        .find("table a[href^='/vendors/']:not([href$='x'])")
        .await;
    let mut table = String::new();
    for _ in 0..50 {
        table = browser.text("table").await;
        if table.contains("Selain Oy") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(table.contains("Selain Oy"), "{table}");
    // Sign out.
    browser.click("header form button").await;
    browser.find("form[action='/login']").await;
    let url = browser.client.current_url().await.unwrap();
    assert!(url.path().starts_with("/login"), "{url}");
    browser.close().await;
    app.finish().await;
}

/// The seed's steps 1 and 2, as the manual describes them: choose the
/// existing customer, edit, save; open License, enter 5 standard and 1
/// server seats (old licenses included), save, see Total Space 75 GB.
#[tokio::test]
async fn seed_steps_one_and_two_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, _) = crate::customers_licenses::seed_customer(&app, &t).await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("nav .menu").await;
    browser.client.goto(&app.url("/audit")).await.unwrap();
    // 1. Choose "Licenses" from the menu.
    browser.click("nav .menu a[href='/licenses']").await;
    // 2. Choose the customer: type in the picker, results come as you type.
    browser.find("#picker-results").await;
    browser.fill("#q", "testi").await;
    browser
        .find(
            "#picker-results a[href='/licenses/CID']"
                .replace("CID", &cid)
                .as_str(),
        )
        .await;
    browser.shot("1-picker").await;
    browser
        .click(&format!("#picker-results a[href='/licenses/{cid}']"))
        .await;
    browser.find("#street_address").await;
    assert_eq!(
        browser
            .find("#name")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Testiasiakas Oy")
    );
    browser.fill("#street_address", "Katu 15").await;
    browser.shot("2-basics").await;
    browser.click("form.grid button[type=submit]").await;
    browser.find("p.flash").await;
    assert_eq!(
        browser
            .find("#street_address")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Katu 15")
    );
    // Step 2: choose "License" from the sub menu, enter the seats, save.
    browser.click("nav.tabs a[href$='/license']").await;
    browser.fill("input[name=standard_seats]", "5").await;
    browser.fill("input[name=server_seats]", "1").await;
    // Total space follows the seats as they are typed (issue #14, item 6).
    assert_eq!(browser.text("output.total").await, "75", "before saving");
    browser
        .click("section.license .actions button.primary")
        .await;
    browser.find("p.flash").await;
    let total = browser.text("output.total").await;
    assert_eq!(total, "75", "Total Space 75 GB");
    let seats = browser.text("section.license").await;
    assert!(seats.contains("used 0"), "{seats}");
    browser.shot("3-license").await;
    // The same page in Finnish.
    browser.click(".lang a").await;
    browser.find("html[lang=fi]").await;
    let tabs = browser.text("nav.tabs").await;
    assert!(
        tabs.contains("Perustiedot") && tabs.contains("Lisenssi"),
        "{tabs}"
    );
    browser.shot("4-license-fi").await;
    browser.close().await;
    app.finish().await;
}

/// The seed's steps 3 and 4: define the user on the Invites tab, then send
/// the invitation from Installations and watch its sent time arrive
/// without reloading; the mail reaches a real SMTP server.
#[tokio::test]
async fn seed_steps_three_and_four_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &smtp.url()),
    ])
    .await;
    let t = app.admin_token().await;
    let (cid, _) = crate::invites::customer_with_license(&app, &t, None).await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("nav .menu").await;
    // Step 3: Licenses → the customer → Invites.
    browser
        .client
        .goto(&app.url(&format!("/licenses/{cid}")))
        .await
        .unwrap();
    browser.click("nav.tabs a[href$='/invites']").await;
    browser.fill("#username", "testclient@test.com").await;
    browser.fill("#email", "testclient@test.com").await;
    browser.click("form.invite-form button[type=submit]").await;
    browser.find("table.invites tbody tr").await;
    let row = browser.text("table.invites tbody tr").await;
    assert!(row.contains("testclient@test.com"), "{row}");
    assert!(row.contains("not sent"), "no e-mail at this step: {row}");
    let code = browser.text("table.invites tbody tr code.code").await;
    assert_eq!(code.len(), 19, "{code}");
    browser.shot("5-invites").await;
    // Step 4: Installations → choose the customer → select → send.
    browser.click("nav .menu a[href='/installations']").await;
    browser.fill("#q", "testi").await;
    browser.click("form.picker button[type=submit]").await;
    // One customer matches: Show chooses it (issue #14, item 5).
    browser
        .find(&format!("form.picker input[name=customer][value='{cid}']"))
        .await;
    browser.find("#send-form tbody input[name=invite]").await;
    browser.click("#all").await;
    browser.click("#send-form button[type=submit]").await;
    browser.find("p.flash").await;
    assert!(browser.text("p.flash").await.contains("1 invite queued"));
    // Mark the page: if it reloads, the mark is gone.
    browser
        .client
        .execute("window.__stay = 42; return 1;", vec![])
        .await
        .unwrap();
    let mut state = String::new();
    for _ in 0..100 {
        state = browser.text("td.delivery").await;
        if state.contains("sent") && !state.contains("not") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(state.contains("sent"), "the state turned to sent: {state}");
    let stayed = browser
        .client
        .execute("return window.__stay === 42;", vec![])
        .await
        .unwrap();
    assert_eq!(
        stayed,
        serde_json::Value::Bool(true),
        "updated in place, no reload"
    );
    let sent_time = browser.text("#send-form tbody td[id^='sent-']").await;
    assert!(
        sent_time.chars().any(|c| c.is_ascii_digit()) && !sent_time.starts_with("20"),
        "the sent time is shown, as people write it: {sent_time:?}"
    );
    browser.shot("6-installations").await;
    let mails = smtp.wait_for(1, 10).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].to.contains("testclient@test.com"));
    assert!(mails[0].text.contains("testclient@test.com") && mails[0].text.contains(&code));
    browser.close().await;
    app.finish().await;
}

/// Monitoring is the first page after sign-in; its filter narrows the rows.
#[tokio::test]
async fn monitoring_page_and_its_filters() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (_, lid) = crate::invites::customer_with_license(&app, &t, None).await;
    let codes = crate::clients::invites(&app, &t, &lid, 2, "standard", "b").await;
    for (u, c) in &codes {
        crate::clients::activate(&app, u, c).await;
    }
    app.exec(&format!("UPDATE installations SET last_backup_at = 1, last_backup_status = 'failed', last_success_at = NULL, health_base = 4 WHERE username = '{}'", codes[0].0)).await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("table.monitoring").await;
    assert_eq!(browser.text("nav a[aria-current=page]").await, "Monitoring");
    let rows = browser.text("table.monitoring tbody").await;
    assert!(
        rows.contains("Failed") && rows.contains("Never backed up"),
        "{rows}"
    );
    browser
        .find("#health")
        .await
        .select_by_value("failed")
        .await
        .unwrap();
    browser.click("form.picker button[type=submit]").await;
    browser
        .find("select#health option[value=failed][selected]")
        .await;
    let rows = browser.text("table.monitoring tbody").await;
    assert!(
        rows.contains("Failed") && !rows.contains("Never backed up"),
        "{rows}"
    );
    browser.shot("7-monitoring").await;
    // The vendor filter applies as soon as it changes (no Show needed).
    let (_, v) = app
        .api(
            "POST",
            "/api/v1/vendors",
            &t,
            Some(serde_json::json!({"name": "Other Vendor Oy"})),
        )
        .await;
    let vid = v["id"].as_str().unwrap().to_string();
    browser.client.goto(&app.url("/monitoring")).await.unwrap();
    browser
        .find("#vendor_id")
        .await
        .select_by_value(&vid)
        .await
        .unwrap();
    browser
        .find(&format!("select#vendor_id option[value='{vid}'][selected]"))
        .await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains(&vid)
    );
    // It is remembered for the session: the menu's other pages open with
    // the same vendor chosen.
    for (href, select) in [
        ("/licenses", "vendor"),
        ("/installations", "vendor"),
        ("/usage", "vendor_id"),
    ] {
        browser.click(&format!("nav a[href='{href}']")).await;
        browser
            .find(&format!("select#{select} option[value='{vid}'][selected]"))
            .await;
    }
    // "All vendors" on one page is remembered as well.
    browser.click("nav a[href='/licenses']").await;
    browser
        .find("select#vendor")
        .await
        .select_by_value("")
        .await
        .unwrap();
    let mut url = String::new();
    for _ in 0..100 {
        url = browser.client.current_url().await.unwrap().to_string();
        if url.contains("vendor=") && !url.contains(&vid) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!url.contains(&vid), "{url}");
    browser.click("nav a[href='/monitoring']").await;
    browser.find("table.monitoring").await;
    let chosen = browser
        .client
        .execute("return document.getElementById('vendor_id').value", vec![])
        .await
        .unwrap();
    assert_eq!(chosen, serde_json::json!(""));
    let rows = browser.text("table.monitoring tbody").await;
    assert!(rows.contains("Failed"), "every vendor again: {rows}");
    browser.close().await;
    app.finish().await;
}

/// Issue #14, item 1: Back after "Send invite to selected" and Send again
/// does not mail the customer a second time; it asks first.
#[tokio::test]
async fn back_and_send_again_asks_before_mailing_twice() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_SMTP_URL", &smtp.url()),
    ])
    .await;
    let t = app.admin_token().await;
    let (cid, lid) = crate::invites::customer_with_license(&app, &t, None).await;
    crate::invites::invite(&app, &t, &lid, "anna", "anna@example.com").await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("nav .menu").await;
    browser
        .client
        .goto(&app.url(&format!("/installations?customer={cid}")))
        .await
        .unwrap();
    browser.click("#all").await;
    browser.click("#send-form button[type=submit]").await;
    browser.find("p.flash").await;
    smtp.wait_for(1, 10).await;
    // Back: the list again. Tick the invite (as the stale page had it) and
    // press Send again.
    browser.client.back().await.unwrap();
    browser.find("#send-form tbody input[name=invite]").await;
    let ticked = browser
        .client
        .execute(
            "const b = document.querySelector('#send-form tbody input[name=invite]'); if (!b.checked) { b.click(); } return b.checked;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ticked, serde_json::Value::Bool(true));
    browser.click("#send-form button[type=submit]").await;
    browser.find("#resend-form").await;
    let question = browser.text("main").await;
    assert!(
        question.contains("Sent before or on the way already: 1"),
        "{question}"
    );
    browser.shot("7-resend-question").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.count(), 1, "nothing mailed without the yes");
    // Cancel leads back to the list; nothing more is sent.
    browser.click("#resend-cancel").await;
    browser.find("#send-form").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 1);
    // Asked again, saying yes sends it again.
    browser.click("#all").await;
    browser.click("#send-form button[type=submit]").await;
    browser.click("#resend-form button[type=submit]").await;
    browser.find("p.flash").await;
    smtp.wait_for(2, 10).await;
    assert_eq!(smtp.count(), 2);
    browser.close().await;
    app.finish().await;
}

/// Issue #14, item 4: on a 390 × 844 phone no page pans sideways; the
/// header stays compact; activation codes stay on one line with a Copy
/// button.
#[tokio::test]
async fn a_phone_never_scrolls_sideways() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = crate::invites::customer_with_license(&app, &t, None).await;
    for (u, e) in [
        (
            "timo.virtanen@testiasiakas.fi",
            "timo.virtanen@testiasiakas.fi",
        ),
        ("t2testi", "tommi.tanttu.with.a.long.address@example.com"),
    ] {
        crate::invites::invite(&app, &t, &lid, u, e).await;
    }
    let (u, code) = crate::clients::invites(&app, &t, &lid, 1, "standard", "ph")
        .await
        .remove(0);
    let (s, _) = crate::clients::activate(&app, &u, &code).await;
    assert_eq!(s, reqwest::StatusCode::CREATED);
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("nav .menu").await;
    browser.client.set_window_size(390, 844).await.unwrap();
    for lang in ["en", "fi"] {
        browser
            .client
            .goto(&app.url(&format!("/lang/{lang}?back=%2F")))
            .await
            .unwrap();
        for path in [
            "/".to_string(),
            "/licenses".to_string(),
            format!("/installations?customer={cid}&installed=1"),
            "/installations".to_string(),
            format!("/licenses/{cid}/license"),
            format!("/licenses/{cid}/invites"),
        ] {
            browser.client.goto(&app.url(&path)).await.unwrap();
            browser.find("main").await;
            let m = browser
                .client
                .execute(
                    "const d = document.documentElement; const wide = []; for (const e of document.querySelectorAll('body *')) { const r = e.getBoundingClientRect(); const inside = e.parentElement && e.parentElement.closest('.table-scroll, .menu, nav.tabs'); if (!inside && (r.right > d.clientWidth + 1 || (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible'))) wide.push(e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(r.right) + '/' + e.scrollWidth + '/' + e.clientWidth); } return [d.scrollWidth, d.clientWidth, document.querySelector('header.top').getBoundingClientRect().height, wide.slice(0, 8).join(', ')];",
                    vec![],
                )
                .await
                .unwrap();
            let (scroll, width, header) = (
                m[0].as_f64().unwrap(),
                m[1].as_f64().unwrap(),
                m[2].as_f64().unwrap(),
            );
            browser
                .shot(&format!(
                    "phone-{lang}{}",
                    path.replace(['/', '?', '&', '='], "_")
                ))
                .await;
            assert!(
                scroll <= width,
                "{lang} {path}: the page scrolls sideways ({scroll} > {width}): {}",
                m[3]
            );
            assert!(header <= 200.0, "{lang} {path}: header {header} px high");
            eprintln!("phone {lang} {path}: header {header} px, page {scroll}/{width} px wide");
        }
    }
    // Codes on one line, with a Copy button (JavaScript on).
    browser
        .client
        .goto(&app.url(&format!("/licenses/{cid}/invites")))
        .await
        .unwrap();
    browser.find("table.invites code.code").await;
    let m = browser
        .client
        .execute(
            "const c = document.querySelector('table.invites code.code'); const s = getComputedStyle(c); return [c.getClientRects().length, c.textContent.length, s.whiteSpace];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(m[0], 1, "the code is one line box: {m}");
    assert_eq!(m[1], 19, "{m}");
    assert_eq!(m[2], "nowrap", "{m}");
    browser
        .find("table.invites button.copy:not([hidden])")
        .await;
    browser.close().await;
    app.finish().await;
}

/// Where the test harness finds axe-core (`npm install --prefix /opt/axe
/// axe-core`, as `.ci/run` does); `CC_AXE_JS` names another copy.
fn axe_js() -> Option<String> {
    let path = std::env::var("CC_AXE_JS")
        .unwrap_or_else(|_| "/opt/axe/node_modules/axe-core/axe.min.js".into());
    require_tool("axe-core", &path).then(|| std::fs::read_to_string(&path).unwrap())
}

/// Issue #14: axe-core, injected by the test harness (no CDN), finds no
/// violation on the main pages in English and Finnish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_core_finds_no_violations_on_the_main_pages_in_both_languages() {
    let Some(axe) = axe_js() else {
        return;
    };
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let (cid, lid) = crate::invites::customer_with_license(&app, &t, None).await;
    let codes = crate::clients::invites(&app, &t, &lid, 2, "standard", "axe").await;
    let (_, a) = crate::clients::activate(&app, &codes[0].0, &codes[0].1).await;
    let iid = a["installation_id"].as_str().unwrap().to_string();
    let pages = [
        "/monitoring".to_string(),
        "/licenses".into(),
        format!("/licenses/{cid}"),
        format!("/licenses/{cid}/license"),
        format!("/licenses/{cid}/invites"),
        format!("/installations?customer={cid}"),
        format!("/installations/{iid}"),
        "/usage".into(),
        "/audit".into(),
        "/me".into(),
        "/settings".into(),
        "/vendors".into(),
        "/operators".into(),
        "/install".into(),
    ];
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("nav").await;
    let mut found = Vec::new();
    for lang in ["en", "fi"] {
        browser
            .client
            .goto(&app.url(&format!("/lang/{lang}?back=%2Fmonitoring")))
            .await
            .unwrap();
        browser.find(&format!("html[lang='{lang}'] main")).await;
        for path in &pages {
            browser.client.goto(&app.url(path)).await.unwrap();
            browser.find("main").await;
            browser.client.execute(&axe, vec![]).await.unwrap();
            let v = browser
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     axe.run(document, { resultTypes: ['violations'] })
                       .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): '
                         + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
                       .catch(e => done(['axe failed: ' + e]));",
                    vec![],
                )
                .await
                .unwrap();
            let list: Vec<String> = serde_json::from_value(v).unwrap();
            println!("axe-core {lang} {path}: {} violations", list.len());
            for item in list {
                found.push(format!("{lang} {path}: {item}"));
            }
        }
    }
    assert!(found.is_empty(), "axe-core violations: {found:#?}");
    // The check can fail: an image without a text alternative is found.
    let v = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const i = document.createElement('img'); i.src = '/static/none.png';
             document.querySelector('main').appendChild(i);
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => v.id)));",
            vec![],
        )
        .await
        .unwrap();
    assert!(v.to_string().contains("image-alt"), "{v}");
    browser.close().await;
    app.finish().await;
}

/// Settings → Webhooks in Chromium: the menu leads there, a URL typed and
/// Enter pressed makes the endpoint (its secret shown once), Send test
/// event queues a ping, and the delivery log shows the attempt (here the
/// refused loopback address, in words).
#[tokio::test]
async fn webhooks_page_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(&[
        ("CC_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CC_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CC_WEBHOOK_ALLOW_HTTP", "true"),
    ])
    .await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.find("table.monitoring").await;
    browser
        .click("nav .menu a[href='/settings/webhooks']")
        .await;
    browser.find("form[action='/settings/webhooks']").await;
    assert_eq!(browser.text("nav a[aria-current=page]").await, "Webhooks");
    browser.click("label[for='ev-ping']").await;
    // Typed, then Enter: the form is sent from the keyboard.
    browser
        .fill("#url", "http://127.0.0.1:9/hook\u{E007}")
        .await;
    let secret = browser
        .find("#created-secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.click("table a[href^='/settings/webhooks/']").await;
    browser.find("form[action$='/test']").await;
    let page = browser.client.current_url().await.unwrap();
    browser
        .click("form[action$='/test'] button[type=submit]")
        .await;
    let mut log = String::new();
    for _ in 0..50 {
        browser.client.goto(page.as_str()).await.unwrap();
        log = browser.text("main").await;
        if log.contains("refused") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(log.contains("refused"), "{log}");
    browser.shot("webhook").await;
    browser.close().await;
    app.finish().await;
}
