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

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
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
    browser.find("table").await;
    let menu = browser.text("nav .menu").await;
    for entry in ["Vendors", "Operators", "Audit log"] {
        assert!(menu.contains(entry), "menu has {entry}: {menu}");
    }
    // The current page is marked for screen readers, not only by colour.
    let current = browser.text("nav a[aria-current=page]").await;
    assert_eq!(current, "Vendors");
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
