//! The server's processes: `idlog serve` (the API, the read models, and the workers or the
//! Kafka relay), `idlog worker` and `idlog migrate`; how they log, and how they stop.

use super::accounts::bootstrap_admin;
use super::keys::{follow_key_set, jwt_keys_path, token_settings};
use super::wiring::{
    Core, application, kafka_settings, object_store, open, page_settings, projector_over,
    storage_worker, worker_runner,
};
use crate::administration::Workers;
use crate::config::{LogFormat, Settings};
use anyhow::Context;
use api::{AppServices, AppState, Application};
use commands::tokens::hash_token;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;

/// Logs to standard error with the configured filter, as `format` says: text is coloured only
/// when standard error is a terminal (log files and journald get plain lines).
pub fn init_tracing(level: &str, format: LogFormat) {
    // PostgreSQL's notices ("relation ... already exists, skipping" on every migration check)
    // are not news, unless asked for by name.
    let level = if level.contains("sqlx") {
        level.to_owned()
    } else {
        format!("{level},sqlx::postgres::notice=warn")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| "info".into());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => subscriber
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => subscriber.json().with_ansi(false).init(),
    }
}

/// `idlog serve`.
pub async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    let address = SocketAddr::new(settings.server.host, settings.server.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    // Port 0 asks for any free port: the links in emails name the one bound.
    settings.server.port = listener.local_addr()?.port();
    let core = Core::open(&settings).await?;
    bootstrap_admin(&core, &settings).await?;
    let projector = projector_over(core.database.clone(), core.log.clone(), &settings);
    projector
        .prepare()
        .await
        .context("preparing the read models")?;
    // The read models follow the log for as long as this set lives.
    let _following = projector.spawn();
    let objects = object_store(&settings).await?;
    // Embedded bus: the workers follow the log in this process for as long as this set lives.
    // Kafka: this process relays the log (while it holds the relay's lease) and `idlog worker`
    // processes consume it.
    let runner = worker_runner(&core, &settings, objects.clone())?;
    let _working = match kafka_settings(&settings) {
        None => runner.spawn(),
        Some(kafka) => {
            let mut relay = tokio::task::JoinSet::new();
            relay.spawn(
                workers::kafka::Relay::new(core.database.clone(), core.log.clone(), kafka)?.run(),
            );
            relay
        }
    };
    let read = application::ReadSide {
        wait_timeout: std::time::Duration::from_millis(settings.projections.wait_timeout_ms),
        max_ready_lag: settings.projections.max_ready_lag,
        ..application::ReadSide::new(projector)
    };
    let administration = Workers {
        runner: Some(runner),
        storage: storage_worker(core.commands.clone(), objects.clone()),
        deliveries: workers::deliveries::DeliveryLog::new(core.database.clone()),
    };
    let pages = page_settings(&core, &settings);
    let app = application(
        core,
        &settings,
        read,
        objects,
        Some(Arc::new(administration)),
    )?;
    let trusted_proxies = super::wiring::trusted_proxies(&settings)?;
    let state = AppState::new(AppServices {
        app: Arc::new(app),
        metrics: api::metrics::Metrics::new(api::metrics::MetricsAccess {
            credential_hash: settings
                .metrics
                .credential
                .as_ref()
                .map(|credential| hash_token(credential.expose_secret())),
            separate_listener: settings.metrics.listen.is_some(),
        }),
        pages,
        trusted_proxies,
    });
    tokio::spawn(follow_key_set(
        jwt_keys_path(&settings),
        token_settings(&settings),
        state.access_tokens.clone(),
    ));
    let metrics_state = state.clone();
    let app = Application::on(listener, state);
    let bound = app.local_addr()?;
    println!(
        "idlog {} listening on http://{bound}",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "database: {}",
        eventstore::redact_url(&settings.database_url())
    );
    println!("data folder: {}", settings.data.dir.display());
    if let Some(address) = settings.metrics.listen {
        let metrics = Application::metrics(address, metrics_state)
            .await
            .with_context(|| format!("listening for metrics on {address}"))?;
        println!("metrics on http://{}/metrics", metrics.local_addr()?);
        tokio::spawn(async move {
            if let Err(error) = metrics.run(std::future::pending()).await {
                tracing::error!(%error, "the metrics listener stopped");
            }
        });
    }
    app.run(shutdown_signal()).await.context("serving HTTP")?;
    println!("idlog stopped");
    Ok(())
}

/// `idlog worker`: the workers alone, on the configured bus, until Ctrl-C or SIGTERM. With Kafka,
/// several such processes share the partitions of each worker's consumer group.
pub async fn work(settings: Settings) -> anyhow::Result<()> {
    let core = Core::open(&settings).await?;
    let objects = object_store(&settings).await?;
    let runner = worker_runner(&core, &settings, objects)?;
    if let Some(kafka) = kafka_settings(&settings) {
        workers::kafka::ensure_topic(&kafka)
            .await
            .with_context(|| format!("reaching Kafka at {}", kafka.brokers))?;
    }
    let working = runner.spawn();
    tracing::info!(bus = ?runner.bus(), "workers running");
    shutdown_signal().await;
    tracing::info!("stopping the workers");
    // Dropping the set stops the workers between events (a started effect runs to its end in its
    // own task; Kafka consumers commit what is done as they leave).
    drop(working);
    Ok(())
}

/// `idlog migrate`.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    open(&settings).await?;
    println!(
        "database schema is up to date: {}",
        eventstore::redact_url(&settings.database_url())
    );
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
