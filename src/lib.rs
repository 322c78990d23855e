//! Command Center: customers, licenses, invites and backup clients of a
//! managed-backup service. [`start`] builds the whole application from a
//! [`Config`] and returns the bound address, so tests run the real thing.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod backup;
pub mod client_api;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod keys;
pub mod mail;
pub mod openapi;
pub mod repo;
pub mod service;
pub mod store;
pub mod web;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;

use http::AppState;
use keys::ServerKey;
use service::Services;
use store::{Store, StoreOptions};

/// A running server.
pub struct Running {
    /// Where it listens (the real port when the config said port 0).
    pub addr: SocketAddr,
    /// The one-time setup link printed on a first start without an admin.
    pub setup_link: Option<String>,
    pub services: Arc<Services>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    worker: tokio::task::JoinHandle<()>,
    pruner: tokio::task::JoinHandle<()>,
    alerts: tokio::task::JoinHandle<()>,
    backups: tokio::task::JoinHandle<()>,
    usage: tokio::task::JoinHandle<()>,
    webhooks: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, finishes requests in flight, closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits until the server ends (after a shutdown signal), in order:
    /// the HTTP server answers what it accepted, the group-commit writers
    /// drain what those requests handed them, the background tasks end,
    /// the database closes.
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.task.await;
        self.services.stop_writers().await;
        let _ = self.worker.await;
        let _ = self.pruner.await;
        let _ = self.alerts.await;
        let _ = self.backups.await;
        let _ = self.usage.await;
        let _ = self.webhooks.await;
        self.services.store.close().await;
        served??;
        Ok(())
    }

    /// A handle that makes [`Running::wait`] return.
    pub fn shutdown_handle(&self) -> tokio::sync::watch::Sender<bool> {
        self.shutdown.clone()
    }
}

pub(crate) const KEY_CHECK_SETTING: &str = "server_key_check";
pub(crate) const KEY_CHECK_TEXT: &str = "command-center server key check";

/// Opens the database, runs migrations and checks the server key — the
/// part `serve` and `migrate` share.
pub async fn open(config: &Config) -> anyhow::Result<Services> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display())
    })?;
    let key = match &config.secret_key {
        Some(hex) => ServerKey::from_hex(hex.expose())?,
        None => ServerKey::load_or_create(&config.data_dir)?,
    };
    let store = Store::open(&StoreOptions {
        url: config.database_url.clone(),
        max_connections: config.db_max_connections,
        sqlite_synchronous: config.sqlite_synchronous.clone(),
    })
    .await?;
    store.migrate().await?;
    check_key(&store, &key).await?;
    let writers = Arc::new(service::clients::Writers::new());
    let webhook_wakeup = Arc::new(tokio::sync::Notify::new());
    let (reports, report_task) = service::clients::ReportSink::start(
        store.clone(),
        writers.stop_signal(),
        webhook_wakeup.clone(),
    );
    writers.track(report_task);
    let reports = Arc::new(reports);
    let (activations, activation_queue) = service::clients::ActivationSink::channel();
    let services = Services {
        store,
        key,
        config: Arc::new(config.clone()),
        mail_wakeup: Arc::new(tokio::sync::Notify::new()),
        webhook_wakeup,
        subscriptions: Arc::default(),
        reports,
        client_cache: Arc::new(service::clients::ClientCache::default()),
        activations: Arc::new(activations),
        writers: writers.clone(),
        summaries: Arc::default(),
    };
    writers.track(tokio::spawn(service::clients::ActivationSink::run(
        services.clone(),
        activation_queue,
        writers.stop_signal(),
    )));
    Ok(services)
}

/// Refuses to run with a key that cannot read the secrets already stored
/// (e.g. a second instance on the same PostgreSQL with another key).
async fn check_key(store: &Store, key: &ServerKey) -> anyhow::Result<()> {
    let candidate = key.encrypt(KEY_CHECK_TEXT)?;
    let mut tx = store.begin().await?;
    let stored = store::settings::get_or_insert(&mut tx, KEY_CHECK_SETTING, &candidate).await?;
    tx.commit().await?;
    match key.decrypt(&stored) {
        Ok(t) if t.expose() == KEY_CHECK_TEXT => Ok(()),
        _ => anyhow::bail!(
            "the server key cannot read the secrets in this database: it was set up with another key. \
             Give every instance the same key (CC_SECRET_KEY, or the same DATA_DIR/secret.key)."
        ),
    }
}

fn metrics_handle() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|_| handle)
        })
        .clone()
}

/// Builds and starts the whole application.
pub async fn start(mut config: Config) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    if config.public_url_derived {
        config.public_url = format!("http://{addr}");
        if config.install_url_derived {
            config.install_url = format!("{}/install", config.public_url);
        }
    }
    let services = Arc::new(open(&config).await?);
    services.ensure_default_vendor().await?;
    // What a crash left in the repositories (temporary uploads, counts of
    // uploads that never finished) — only when nobody else can be
    // uploading: one SQLite console with its repositories in its data dir.
    if config.database_url.starts_with("sqlite:")
        && config.repository_dir == config.data_dir.join("repositories")
    {
        services.reconcile_repositories().await?;
    }
    let mut setup_link = None;
    if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
        if services
            .bootstrap_admin(email, password)
            .await
            .map_err(|e| anyhow::anyhow!("CC_ADMIN_EMAIL/CC_ADMIN_PASSWORD: {e:?}"))?
        {
            tracing::info!(email = %email, "created the first administrator from the environment");
        }
    } else if services.needs_setup().await? {
        let token = services.create_setup_token().await?;
        setup_link = Some(format!("{}/setup/{}", config.public_url, token.expose()));
    }

    let transport = mail::Transport::from_config(
        config.smtp_url.as_ref().map(|s| s.expose().as_str()),
        &config.data_dir,
    )?;
    let state = AppState {
        services: services.clone(),
        metrics: metrics_handle(),
    };
    let app = router(state.clone());
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(
        mail::worker::Worker {
            store: services.store.clone(),
            key: services.key.clone(),
            config: services.config.clone(),
            wakeup: services.mail_wakeup.clone(),
            transport,
            subscriptions: services.subscriptions.clone(),
            webhook_wakeup: services.webhook_wakeup.clone(),
        }
        .run(rx.clone()),
    );
    let alerts = tokio::spawn(service::alerts::run(services.clone(), rx.clone()));
    let pruner = tokio::spawn(service::retention::run(services.clone(), rx.clone()));
    let header_timeout = std::time::Duration::from_secs(config.header_timeout_secs);
    let backups = tokio::spawn(service::backup::run(services.clone(), rx.clone()));
    let usage = tokio::spawn(service::usage::run(services.clone(), rx.clone()));
    let webhooks = tokio::spawn(service::webhook_worker::run(services.clone(), rx.clone()));
    if let Some(at) = config.metrics_listen {
        let l = tokio::net::TcpListener::bind(at)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on CC_METRICS_LISTEN {at}: {e}"))?;
        let m = Router::new()
            .route("/metrics", get(metrics_text))
            .with_state(state.clone());
        let mut stop = rx.clone();
        tokio::spawn(async move {
            http::serve::serve(l, m, header_timeout, async move {
                let _ = stop.wait_for(|v| *v).await;
            })
            .await;
        });
    }
    let task = tokio::spawn(async move {
        http::serve::serve(listener, app, header_timeout, async move {
            let _ = rx.wait_for(|v| *v).await;
        })
        .await;
        Ok::<(), std::io::Error>(())
    });
    Ok(Running {
        addr,
        setup_link,
        services,
        shutdown: tx,
        task,
        worker,
        pruner,
        alerts,
        backups,
        usage,
        webhooks,
    })
}

/// The whole HTTP surface: console, admin API, health and metrics.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(web::router().layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::session::remember_vendor,
        )))
        .route("/api/openapi.json", get(openapi::json))
        .route("/api/docs", get(openapi::docs))
        .nest("/api", api::router(state.clone()))
        .nest("/client", client_api::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_guarded))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(2 * 1024 * 1024))
        // Added after the 2 MiB limit, so it keeps its own (restic's packs).
        .nest("/repo", repo::router())
        // Reads JSON and form bodies whole: inside the body timeout.
        .layer(axum::middleware::from_fn(
            http::controls::refuse_control_characters,
        ))
        // A body that sends nothing for this long is abandoned (a slow but
        // moving upload goes on).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            std::time::Duration::from_secs(state.services.config.body_timeout_secs),
        ))
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(axum::middleware::from_fn_with_state(state.clone(), hsts))
        // Pages and API answers carry customers' data, activation codes
        // and state that changes: never kept by a browser or a proxy, and
        // never shown stale from the history (static assets set their own).
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; object-src 'none'; base-uri 'none'"),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only: query strings may carry tokens (setup links).
            let path = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "-".into());
            // A request id ties together everything one request logs.
            tracing::info_span!("http", id = %uuid::Uuid::now_v7().simple(), method = %req.method(), route = %path)
        }))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(5), state.services.store.ping()).await {
        Ok(Ok(())) => "ready".into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timeout").into_response(),
    }
}

/// `/metrics` on the main address: administrators only (bearer token).
async fn metrics_guarded(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
) -> Response {
    let admin = match http::bearer_token(&parts) {
        Some(t) => matches!(
            state.services.token_actor(t, http::client_ip(&parts, state.services.config.trust_forwarded_for)).await,
            Ok(Some(a)) if a.is_admin()
        ),
        None => false,
    };
    if !admin {
        return http::Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Metrics need an administrator's bearer token, or CC_METRICS_LISTEN.",
        )
        .into_response();
    }
    metrics_text(State(state)).await
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed",
        )
            .into_response(),
    }
}

/// Browsers are told to use https only, when the console is served over
/// https (`CC_PUBLIC_URL`).
async fn hsts(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if state.services.config.secure_cookies() {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("cc_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("cc_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}
