//! Customers in by CSV: dry run and apply through the API, semicolons, a
//! byte-order mark, quoted line breaks, bad rows (every error with its
//! row and field, nothing written), matching by VAT id and by name,
//! tenancy, and 10,000 rows timed.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;

async fn import(app: &TestApp, token: &str, csv: &str, dry_run: bool) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/import/customers?dry_run={dry_run}")))
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap())
}

fn actions(v: &Value) -> Vec<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}", r["row"], r["action"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_finnish_excel_file_imports_after_a_dry_run() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    // Semicolons, a byte-order mark, a quoted line break and a quoted
    // semicolon, CRLF; a license on the first row.
    let csv = "\u{feff}name;vat_id;street_address;postal_code;postal_area;contact_email;language;standard_seats;server_seats;valid_to\r\n\
               Äkäs Oy;0112038-9;\"Mäkitie 1\r\nB 2\";02190;Espoo;it@akas.example;fi;5;1;2027-12-31\r\n\
               \"Beta; Oy\";;Katu 2;00100;Helsinki;;en;;;\r\n";
    let before = app.count("SELECT COUNT(*) FROM customers").await;
    let (s, r) = import(&app, &t, csv, true).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(actions(&r), ["2:create", "4:create"], "{r}");
    assert_eq!(r["rows"][0]["license"], "create");
    assert_eq!(r["rows"][1]["name"], "Beta; Oy");
    assert_eq!(
        (r["dry_run"].as_bool(), r["applied"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers").await,
        before,
        "a dry run writes nothing"
    );

    let (s, r) = import(&app, &t, csv, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["applied"], true);
    assert_eq!(
        (r["created"].as_u64(), r["licenses"].as_u64()),
        (Some(2), Some(1))
    );
    let id = r["rows"][0]["customer_id"].as_str().unwrap().to_string();
    let (_, c) = app
        .api("GET", &format!("/api/v1/customers/{id}"), &t, None)
        .await;
    assert_eq!(c["name"], "Äkäs Oy");
    assert_eq!(c["street_address"], "Mäkitie 1\nB 2");
    assert_eq!(c["contact_email"], "it@akas.example");
    assert_eq!(c["encryption_key_set"], true, "a new customer gets a key");
    let (_, ls) = app
        .api("GET", &format!("/api/v1/customers/{id}/licenses"), &t, None)
        .await;
    assert_eq!(
        ls.as_array()
            .map(Vec::len)
            .or(ls["items"].as_array().map(Vec::len)),
        Some(1),
        "{ls}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.import'")
            .await,
        1,
        "one audit row for the import"
    );

    // Again, with changes: matched by VAT id (whatever the name) and by
    // name (no VAT id); columns not in the file keep their values; the
    // license is not doubled.
    let again = "name,vat_id,postal_area,standard_seats\nÄkäs Group Oy,FI01120389,Vantaa,9\nbeta; oy,,Turku,\n";
    let (s, r) = import(&app, &t, again, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // FI01120389 is the VAT number of business id 0112038-9, but a
    // different text: it is another customer to the console.
    assert_eq!(actions(&r), ["2:create", "3:update"], "{r}");
    let again = "name,vat_id,postal_area,standard_seats\nÄkäs Group Oy,0112038-9,Vantaa,9\n";
    let (s, r) = import(&app, &t, again, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(actions(&r), ["2:update"]);
    assert_eq!(r["rows"][0]["license"], "keep");
    assert_eq!(r["rows"][0]["customer_id"], id.as_str());
    let (_, c) = app
        .api("GET", &format!("/api/v1/customers/{id}"), &t, None)
        .await;
    assert_eq!(
        (
            c["name"].as_str(),
            c["postal_area"].as_str(),
            c["contact_email"].as_str()
        ),
        (
            Some("Äkäs Group Oy"),
            Some("Vantaa"),
            Some("it@akas.example")
        )
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM licenses WHERE customer_id = '{id}'"
        ))
        .await,
        1
    );
    app.finish().await;
}

#[tokio::test]
async fn bad_rows_are_reported_by_row_and_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let csv = "name,vat_id,postal_code,language,contact_email,standard_seats,valid_to,created\n\
               Good Oy,,00100,fi,,,,\n\
               ,0112038-8,2190,sv,not-an-address,-1,2020-01-01,2021-01-01\n\
               Good Oy,,,,,,,\n\
               Other Oy,,,,,many,,\n";
    let before = app.count("SELECT COUNT(*) FROM customers").await;
    for dry_run in [true, false] {
        let (s, r) = import(&app, &t, csv, dry_run).await;
        if dry_run {
            assert_eq!(s, StatusCode::OK, "{r}");
        } else {
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
            assert_eq!(r["code"], "import_rows_invalid");
        }
        assert_eq!(
            actions(&r),
            ["2:create", "3:error", "4:error", "5:error"],
            "{r}"
        );
        let fields = |i: usize| -> Vec<String> {
            r["rows"][i]["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect()
        };
        // Every error of the row at once, in the forms' words.
        assert_eq!(
            fields(1),
            [
                "standard_seats",
                "valid_to",
                "name",
                "vat_id",
                "postal_code",
                "language",
                "contact_email"
            ],
            "{r}"
        );
        let msgs: Vec<&str> = r["rows"][1]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("check digit") || m.contains("check")),
            "{msgs:?}"
        );
        assert_eq!(fields(2), ["name"]);
        assert_eq!(
            r["rows"][2]["errors"][0]["message"],
            "The same customer as on row 2."
        );
        assert_eq!(fields(3), ["standard_seats"]);
        assert_eq!(r["error_rows"], 3);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers").await,
        before,
        "nothing written"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.import'")
            .await,
        0
    );

    // A file that cannot be read at all.
    let (s, r) = import(&app, &t, "name,colour\nX,red\n", true).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert_eq!(r["errors"][0]["field"], "file");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let (s, r) = import(&app, &t, "name\n\"open\n", true).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/import/customers?dry_run=true"))
        .bearer_auth(&t)
        .body(vec![b'n', b'a', b'm', b'e', b'\n', 0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.finish().await;
}

#[tokio::test]
async fn an_operator_imports_only_into_its_own_vendor() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let mine = app.vendor(&t, "Mine Oy").await;
    let theirs = app.vendor(&t, "Theirs Oy").await;
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(serde_json::json!({"name": "Shared Name Oy", "vendor_id": theirs})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    app.operator(&t, "op@mine.example", "operator", Some(&mine))
        .await;
    let op = app.token("op@mine.example", PASSWORD).await;
    // Another vendor's customer of the same name is not "matched": the
    // operator's row creates its own.
    let (s, r) = import(
        &app,
        &op,
        &format!("name,vendor_id\nShared Name Oy,\nSneaky Oy,{theirs}\nOwn Oy,{mine}\n"),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(actions(&r), ["2:create", "3:error", "4:create"], "{r}");
    assert_eq!(r["rows"][1]["errors"][0]["field"], "vendor_id");
    let (s, r) = import(&app, &op, "name\nShared Name Oy\nOwn Oy\n", false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM customers WHERE vendor_id = '{mine}'"
        ))
        .await,
        2
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM customers WHERE vendor_id = '{theirs}'"
        ))
        .await,
        1
    );
    // A viewer cannot import.
    app.operator(&t, "viewer@mine.example", "viewer", Some(&mine))
        .await;
    let viewer = app.token("viewer@mine.example", PASSWORD).await;
    let (s, _) = import(&app, &viewer, "name\nX Oy\n", true).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.finish().await;
}

#[tokio::test]
async fn ten_thousand_rows_import_in_one_transaction() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let mut csv = String::from(
        "name;vat_id;street_address;postal_code;postal_area;contact_email;username_prefix;standard_seats;server_seats\n",
    );
    for i in 0..10_000 {
        csv.push_str(&format!(
            "Asiakas {i} Oy;SE{i:012};Katu {i};00100;Helsinki;it{i}@example.com;c{i}.;3;1\n"
        ));
    }
    let started = std::time::Instant::now();
    let (s, r) = import(&app, &t, &csv, true).await;
    let dry = started.elapsed();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["created"], 10_000);
    let started = std::time::Instant::now();
    let (s, r) = import(&app, &t, &csv, false).await;
    let applied = started.elapsed();
    assert_eq!(s, StatusCode::OK, "{}", r["detail"]);
    assert_eq!(
        (r["created"].as_u64(), r["licenses"].as_u64()),
        (Some(10_000), Some(10_000))
    );
    println!(
        "import of 10,000 customers with a license each ({} bytes, {}): dry run {:.2} s, applied {:.2} s",
        csv.len(),
        if postgres() { "PostgreSQL" } else { "SQLite" },
        dry.as_secs_f64(),
        applied.as_secs_f64()
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 10_000);
    // The same file again: every row an update, found by VAT id (and
    // not written, as nothing changes); then every name changed.
    let started = std::time::Instant::now();
    let (s, r) = import(&app, &t, &csv, false).await;
    let backend = if postgres() { "PostgreSQL" } else { "SQLite" };
    println!(
        "the same 10,000 rows again (matched, unchanged; {backend}): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["updated"], 10_000);
    let renamed = csv.replace(" Oy;", " Ab;");
    let started = std::time::Instant::now();
    let (s, r) = import(&app, &t, &renamed, false).await;
    println!(
        "10,000 rows updating every customer's name (batched UPDATE; {backend}): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["updated"], 10_000);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE name LIKE '% Ab'")
            .await,
        10_000
    );
    // An invite for each customer's one license (a code drawn, encrypted
    // and hashed per invite).
    let mut invites = String::from("name;vat_id;username;email;software_type\n");
    for i in 0..10_000 {
        invites.push_str(&format!(
            "Asiakas {i} Ab;SE{i:012};u{i};u{i}@example.com;standard\n"
        ));
    }
    let started = std::time::Instant::now();
    let (s, r) = import(&app, &t, &invites, false).await;
    println!(
        "10,000 rows adding an invite each ({backend}): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(s, StatusCode::OK, "{}", r["detail"]);
    assert_eq!(r["invites"], 10_000);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites WHERE username LIKE 'c%.u%'")
            .await,
        10_000
    );
    app.finish().await;
}

#[tokio::test]
async fn the_console_checks_then_imports_without_javascript() {
    let app = TestApp::spawn().await;
    let b = Browserless::new(&app);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = b.get("/licenses").await;
    assert!(html.contains("href=\"/licenses/import\""), "{html}");
    let (s, html) = b.get("/licenses/import").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<label for=\"csv\">"));
    // The invite columns are documented on the page.
    assert!(
        html.contains("<code>username,email,software_type,store_deleted_days</code>")
            && html.contains("id=\"import-help-invites\""),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let csv = "name;postal_code\nKonsoli Oy;00100\nHuono Oy;123\n";
    let (s, html, _) = b
        .post(
            "/licenses/import",
            &[("_csrf", csrf.as_str()), ("csv", csv), ("check", "1")],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("import-create") && html.contains("import-error"),
        "{html}"
    );
    assert!(
        html.contains("postal_code: A Finnish postal code has five digits."),
        "{html}"
    );
    assert!(
        !html.contains("id=\"import-confirm\""),
        "no Import button while rows have errors"
    );
    // Fixed: the Import button appears, and importing saves the rows.
    let csv = "name;postal_code\nKonsoli Oy;00100\nHyvä Oy;00200\n";
    let (_, html, _) = b
        .post(
            "/licenses/import",
            &[("_csrf", csrf.as_str()), ("csv", csv), ("check", "1")],
        )
        .await;
    assert!(html.contains("id=\"import-confirm\""), "{html}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE name = 'Hyvä Oy'")
            .await,
        0
    );
    let (s, html, _) = b
        .post(
            "/licenses/import",
            &[("_csrf", csrf.as_str()), ("csv", csv), ("confirm", "1")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("Customers imported."), "{html}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE name IN ('Konsoli Oy', 'Hyvä Oy')")
            .await,
        2
    );
    // Invites in the file: the page shows each row's invite and result.
    let csv = "name;standard_seats;username;email;software_type\nKutsuttu Oy;2;anna;anna@k.example;standard\nKutsuttu Oy;;ben;ben@k.example;server\n";
    let (s, html, _) = b
        .post(
            "/licenses/import",
            &[("_csrf", csrf.as_str()), ("csv", csv), ("check", "1")],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("class=\"import-invite\"")
            && html.contains("Adds an invite")
            && html.contains("<td>ben</td>"),
        "{html}"
    );
    // Without the CSRF token nothing happens.
    let (s, _, _) = b
        .post(
            "/licenses/import",
            &[("csv", "name\nX Oy\n"), ("confirm", "1")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.finish().await;
}

#[tokio::test]
async fn exported_customers_import_into_an_empty_console_as_new() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    // Formula-looking cells, a semicolon, a quote, a line break, non-ASCII.
    let csv = "name,vat_id,street_address,postal_area,contact_email,username_prefix\n\
               =HYPERLINK(\"x\") Oy,0112038-9,\"Katu 1; \"\"B\"\"\nPL 3\",+Espoo,it@x.example,exp.\n\
               Åke Ab,,-,@Vaasa,,\n";
    let (s, r) = import(&app, &t, csv, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let other = app.vendor(&t, "Elsewhere Oy").await;
    app.operator(&t, "op@elsewhere.example", "operator", Some(&other))
        .await;
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(serde_json::json!({"name": "Hidden Oy", "vendor_id": other})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    async fn export(app: &TestApp, token: String, q: &str) -> String {
        let url = app.url(&format!("/api/v1/customers.csv{q}"));
        let res = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap()
    }
    // An admin's export of the default vendor.
    let default_vendor = app
        .count("SELECT COUNT(*) FROM vendors WHERE is_default = 1")
        .await;
    assert_eq!(default_vendor, 1);
    let all = export(&app, t.clone(), "?bom=true").await;
    assert!(all.starts_with('\u{feff}'), "the byte-order mark for Excel");
    assert!(all.contains("Hidden Oy"));
    assert!(all.contains("'=HYPERLINK"), "formula cells defused: {all}");
    assert!(
        all.contains(",'+Espoo,") && all.contains(",'-,") && all.contains(",'@Vaasa,"),
        "{all}"
    );
    assert!(
        !all.contains("encryption_key,"),
        "the key is never exported"
    );
    // An operator exports only its own vendor's customers.
    let op = app.token("op@elsewhere.example", PASSWORD).await;
    let own = export(&app, op, "").await;
    assert_eq!(own.lines().count(), 2, "{own}");
    assert!(own.contains("Hidden Oy") && !own.contains("Åke Ab"));

    // Into an empty console: every row would be created, no errors, and
    // the values come back as they were (the ' taken off again).
    let fresh = TestApp::spawn().await;
    let ft = fresh.admin_token().await;
    let without_hidden: String = all
        .lines()
        .filter(|l| !l.contains("Hidden Oy"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (s, r) = import(&fresh, &ft, &without_hidden, true).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(actions(&r), ["2:create", "4:create"], "{r}");
    let (s, r) = import(&fresh, &ft, &without_hidden, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let back = export(&fresh, ft, "").await;
    let fields = |text: &str, name: &str| -> Vec<String> {
        let t = text.trim_start_matches('\u{feff}');
        let line_start = t.find(name).unwrap();
        let rest = &t[line_start..];
        rest.split(",fi,")
            .next()
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect()
    };
    assert_eq!(fields(&all, "Åke Ab"), fields(&back, "Åke Ab"));
    assert_eq!(fields(&all, "HYPERLINK"), fields(&back, "HYPERLINK"));
    assert_eq!(
        fresh.count("SELECT COUNT(*) FROM customers WHERE name = '=HYPERLINK(\"x\") Oy' AND postal_area = '+Espoo'").await,
        1
    );
    assert!(
        back.contains("\"Katu 1; \"\"B\"\"\r\nPL 3\"")
            || back.contains("\"Katu 1; \"\"B\"\"\nPL 3\""),
        "{back}"
    );
    fresh.finish().await;
    app.finish().await;
}

#[tokio::test]
async fn a_reimport_updates_in_batches_and_keeps_installations_in_step() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    let v1 = app.vendor(&t, "First Reseller Oy").await;
    let csv = format!(
        "name,vat_id,vendor_id,standard_seats,contact_email\n\
         Alpha Oy,SE000000000001,{v1},2,a@x.example\n\
         Beta Oy,SE000000000002,{v1},2,\n\
         Gamma Oy,SE000000000003,{v1},2,g@x.example\n"
    );
    let (s, r) = import(&app, &t, &csv, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let alpha = r["rows"][0]["customer_id"].as_str().unwrap().to_string();
    let (_, ls) = app
        .api(
            "GET",
            &format!("/api/v1/customers/{alpha}/licenses"),
            &t,
            None,
        )
        .await;
    let lid = ls
        .as_array()
        .or(ls["items"].as_array())
        .unwrap()
        .first()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let codes = crate::clients::invites(&app, &t, &lid, 1, "standard", "alp").await;
    let (s, _) = crate::clients::activate(&app, &codes[0].0, &codes[0].1).await;
    assert_eq!(s, StatusCode::CREATED);
    app.exec("UPDATE customers SET updated_at = 1").await;

    // Alpha renamed (matched by VAT id within its vendor), Beta given an
    // e-mail (a NULL becoming a value), Gamma unchanged.
    let csv = format!(
        "name,vat_id,vendor_id,contact_email\n\
         Alpha Renamed Oy,SE000000000001,{v1},a@x.example\n\
         Beta Oy,SE000000000002,{v1},b@x.example\n\
         Gamma Oy,SE000000000003,{v1},g@x.example\n"
    );
    let (s, r) = import(&app, &t, &csv, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(actions(&r), ["2:update", "3:update", "4:update"], "{r}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM customers WHERE id = '{alpha}' AND name = 'Alpha Renamed Oy' AND vendor_id = '{v1}'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE name = 'Beta Oy' AND contact_email = 'b@x.example' AND updated_at > 1").await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE name = 'Gamma Oy' AND updated_at = 1")
            .await,
        1,
        "an unchanged row is not written"
    );
    // The installation's copies follow (the monitoring view sorts and
    // scopes by them).
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM installations WHERE customer_id = '{alpha}' AND sort_name = 'alpha renamed oy' AND vendor_id = '{v1}'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE search_text LIKE 'alpha renamed oy%'")
            .await,
        1
    );
    app.finish().await;
}

/// The errors of a row as "field:code" strings.
fn row_errors(v: &Value, row: usize) -> Vec<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == row)
        .unwrap()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn invites_come_in_the_same_file_checked_and_in_one_transaction() {
    let app = TestApp::spawn().await;
    let t = app.admin_token().await;
    // A username in use already (on another customer).
    let (s, c) = app
        .api(
            "POST",
            "/api/v1/customers",
            &t,
            Some(serde_json::json!({"name": "Vanha Oy"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let old = c["id"].as_str().unwrap();
    let (_, l) = app
        .api(
            "POST",
            &format!("/api/v1/customers/{old}/licenses"),
            &t,
            Some(serde_json::json!({"type": "purchased", "standard_seats": 1, "server_seats": 0})),
        )
        .await;
    crate::clients::invites(
        &app,
        &t,
        l["id"].as_str().unwrap(),
        1,
        "standard",
        "varattu",
    )
    .await;
    let invites_before = app.count("SELECT COUNT(*) FROM invites").await;

    let head = "name;vat_id;username_prefix;standard_seats;server_seats;username;email;software_type;store_deleted_days\n";
    // Row 2 a customer with a license and an invite; 3 adds an invite by
    // name only, 4 by VAT id; 5 repeats a username of row 2; 6 has a bad
    // e-mail and software type; 7 changes the license on a repeat row;
    // 8 a customer without a license; 9 a username taken in the console.
    let bad = format!(
        "{head}\
         Kutsu Oy;0112038-9;kutsu.;3;1;matti;matti@kutsu.example;standard;\n\
         Kutsu Oy;;;;;liisa;liisa@kutsu.example;server;60\n\
         Kutsu Oy;0112038-9;;;;pekka;pekka@kutsu.example;standard;\n\
         Kutsu Oy;0112038-9;;;;Matti;m2@kutsu.example;standard;\n\
         Kutsu Oy;0112038-9;;;;ville;ei-osoite;desktop;\n\
         Kutsu Oy;0112038-9;;5;;kalle;kalle@kutsu.example;standard;\n\
         Ilman Oy;;;;;x;x@ilman.example;standard;\n\
         Toinen Oy;;;1;0;varattu0;v@toinen.example;standard;\n"
    );
    let (s, r) = import(&app, &t, &bad, false).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert_eq!(
        actions(&r),
        [
            "2:create", "3:invite", "4:invite", "5:error", "6:error", "7:error", "8:error",
            "9:error"
        ],
        "{r}"
    );
    assert_eq!(
        row_errors(&r, 5),
        ["username:error.import_duplicate_username"]
    );
    assert_eq!(
        row_errors(&r, 6),
        [
            "email:error.email_invalid",
            "software_type:error.software_type"
        ]
    );
    assert_eq!(
        row_errors(&r, 7),
        ["standard_seats:error.import_repeat_differs"]
    );
    assert_eq!(
        row_errors(&r, 8),
        ["username:error.import_invite_no_license"]
    );
    assert_eq!(row_errors(&r, 9), ["username:error.username_taken"]);
    assert_eq!(r["rows"][3]["invite"], "kutsu.matti", "the prefix applied");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites").await,
        invites_before,
        "nothing written"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE name = 'Kutsu Oy'")
            .await,
        0
    );

    // The good rows: checked, then applied in one go.
    let good: String = bad.lines().take(4).map(|l| format!("{l}\n")).collect();
    let (s, r) = import(&app, &t, &good, true).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(actions(&r), ["2:create", "3:invite", "4:invite"], "{r}");
    assert_eq!(
        (r["invites"].as_u64(), r["licenses"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites").await,
        invites_before
    );
    let (s, r) = import(&app, &t, &good, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let cid = r["rows"][0]["customer_id"].as_str().unwrap().to_string();
    assert_eq!(r["rows"][2]["customer_id"], cid.as_str());
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM invites i JOIN licenses l ON l.id = i.license_id WHERE l.customer_id = '{cid}' \
             AND i.username IN ('kutsu.matti', 'kutsu.liisa', 'kutsu.pekka') AND i.sent_at IS NULL"
        ))
        .await,
        3
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites WHERE username = 'kutsu.liisa' AND software_type = 'server' AND store_deleted_days = 60").await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.import'")
            .await,
        1
    );
    // The codes work: an imported invite activates.
    let (_, ls) = app
        .api(
            "GET",
            &format!("/api/v1/customers/{cid}/licenses"),
            &t,
            None,
        )
        .await;
    let lid = ls.as_array().or(ls["items"].as_array()).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, list) = app
        .api("GET", &format!("/api/v1/licenses/{lid}/invites"), &t, None)
        .await;
    let items = list.as_array().or(list["items"].as_array()).unwrap();
    let matti = items
        .iter()
        .find(|i| i["username"] == "kutsu.matti")
        .unwrap();
    let (s, a) = crate::clients::activate(
        &app,
        "kutsu.matti",
        matti["activation_code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");

    // A later file adds an invite to the customer's one license.
    // (Without a username_prefix column the customer keeps its prefix.)
    let more = "name;vat_id;username;email;software_type\nKutsu Oy;0112038-9;uusi;uusi@kutsu.example;standard\n";
    let (s, r) = import(&app, &t, more, false).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(actions(&r), ["2:update"], "{r}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM invites WHERE username = 'kutsu.uusi' AND license_id = '{lid}'"
        ))
        .await,
        1
    );
    app.finish().await;
}
