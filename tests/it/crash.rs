//! The console killed with SIGKILL 30 times at random moments under a
//! mixed load of activations and reports, restarted each time. Afterwards
//! the database is sound (SQLite's integrity_check), every license's used
//! seats equal its live installations, and every activation and report
//! the console acknowledged is stored.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_load::{admin_token_at, server_env, spawn_server, wait_healthy};
use crate::harness::*;

const KILLS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_kills_under_load_lose_nothing_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let (db, db_name) = fresh_database_url(data.path()).await;
    let env = server_env(data.path(), &db, &[]);
    let http = reqwest::Client::new();

    // A license with room for everything, and invites to use up.
    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    let base = server.base.clone();
    let t = admin_token_at(&base).await;
    let post = |path: String, body: Value| {
        let (http, t) = (http.clone(), t.clone());
        async move {
            let r = http
                .post(path)
                .bearer_auth(t)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    let c = post(
        format!("{base}/api/v1/customers"),
        json!({"name": "Kaatuva Oy", "language": "fi"}),
    )
    .await;
    let cid = c["id"].as_str().unwrap().to_string();
    let l = post(
        format!("{base}/api/v1/customers/{cid}/licenses"),
        json!({"standard_seats": 2000}),
    )
    .await;
    let lid = l["id"].as_str().unwrap().to_string();
    let mut invites = Vec::new();
    for i in 0..500 {
        let v = post(
            format!("{base}/api/v1/licenses/{lid}/invites"),
            json!({"username": format!("k{i}"), "email": format!("k{i}@example.com"), "software_type": "standard"}),
        )
        .await;
        invites.push((
            v["username"].as_str().unwrap().to_string(),
            v["activation_code"].as_str().unwrap().to_string(),
        ));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let invites = Arc::new(Mutex::new(invites));
    // Acknowledged: installation ids with their tokens, report markers.
    let installed = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut in_flight_lost = 0usize;
    for round in 0..KILLS {
        let mut server = spawn_server(&env);
        wait_healthy(&server.base).await;
        let base = server.base.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut set = tokio::task::JoinSet::new();
        for k in 0..6 {
            let (base, stop) = (base.clone(), stop.clone());
            let (invites, installed, reported) =
                (invites.clone(), installed.clone(), reported.clone());
            set.spawn(async move {
                let http = reqwest::Client::new();
                let mut lost = 0usize;
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    if k < 2 {
                        // Activations: an invite whose answer was lost is
                        // not tried again (it may or may not be used).
                        let Some((user, code)) = invites.lock().unwrap().pop() else { break };
                        let r = http
                            .post(format!("{base}/client/v1/activate"))
                            .json(&json!({"username": user, "activation_code": code, "hostname": format!("pc-{user}"), "os": "linux", "client_version": "1"}))
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status() == StatusCode::CREATED => {
                                let a: Value = r.json().await.unwrap();
                                installed.lock().unwrap().push((
                                    a["policy"]["installation_id"].as_str().unwrap().to_string(),
                                    a["token"].as_str().unwrap().to_string(),
                                ));
                            }
                            Ok(r) => panic!("activation answered {}", r.status()),
                            Err(_) => {
                                lost += 1;
                                break;
                            }
                        }
                    } else {
                        let token = {
                            let i = installed.lock().unwrap();
                            if i.is_empty() {
                                None
                            } else {
                                Some(i[(n as usize * 7 + k) % i.len()].1.clone())
                            }
                        };
                        let Some(token) = token else {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        };
                        let marker = format!("r-{}", uuid::Uuid::new_v4().simple());
                        let at = time::OffsetDateTime::now_utc()
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap();
                        let r = http
                            .post(format!("{base}/client/v1/reports"))
                            .bearer_auth(&token)
                            .json(&json!({"started_at": at, "finished_at": at, "status": "success", "bytes_total": 1, "message": marker}))
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status() == StatusCode::NO_CONTENT => {
                                reported.lock().unwrap().push(marker)
                            }
                            Ok(r) => panic!("report answered {}", r.status()),
                            Err(_) => break,
                        }
                    }
                }
                lost
            });
        }
        let wait = 100 + next() % 600;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        while let Some(r) = set.join_next().await {
            in_flight_lost += r.unwrap();
        }
        if round % 10 == 9 {
            eprintln!(
                "crash test: {} kills, {} activations and {} reports acknowledged so far",
                round + 1,
                installed.lock().unwrap().len(),
                reported.lock().unwrap().len()
            );
        }
    }

    // One more start: the console comes up on what the kills left.
    let mut server = spawn_server(&env);
    wait_healthy(&server.base).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    sqlx::any::install_default_drivers();
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&db)
        .await
        .unwrap();
    if !postgres() {
        let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(ok, "ok", "SQLite integrity_check");
    }
    let used: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT standard_used FROM licenses WHERE id = '{lid}'"
    )))
    .fetch_one(&mut c)
    .await
    .unwrap();
    let live: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM installations WHERE license_id = '{lid}' AND deactivated_at IS NULL"
    )))
    .fetch_one(&mut c)
    .await
    .unwrap();
    let ids: HashSet<String> = sqlx::query_scalar::<_, String>("SELECT id FROM installations")
        .fetch_all(&mut c)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let messages: HashSet<String> = sqlx::query_scalar::<_, String>("SELECT message FROM reports")
        .fetch_all(&mut c)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let _ = sqlx::Connection::close(c).await;
    let installed = installed.lock().unwrap().clone();
    let reported = reported.lock().unwrap().clone();
    let missing_installations = installed.iter().filter(|(id, _)| !ids.contains(id)).count();
    let missing_reports = reported.iter().filter(|m| !messages.contains(*m)).count();
    eprintln!(
        "crash test: {KILLS} SIGKILLs; activations acknowledged {}, stored installations {} \
         ({in_flight_lost} activations lost in flight), missing {missing_installations}; \
         reports acknowledged {}, missing {missing_reports}; seats used {used} = live installations {live}",
        installed.len(),
        ids.len(),
        reported.len()
    );
    assert!(
        installed.len() > 20 && reported.len() > 100,
        "the load ran between the kills"
    );
    assert_eq!(used, live, "used seats equal live installations");
    assert_eq!(
        missing_installations, 0,
        "every acknowledged activation is stored"
    );
    assert_eq!(missing_reports, 0, "every acknowledged report is stored");
    if let Some(name) = db_name {
        drop_database(&name).await;
    }
}
