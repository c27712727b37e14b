//! `idlog workers ...`: each worker's position, lag and dead letters, and trying dead letters
//! again.

use clap::Subcommand;
use idlog::Usage;
use idlog::config::Settings;
use idlog::server::wiring::{Core, object_store, worker_runner};

/// `idlog workers ...`.
#[derive(Debug, Subcommand)]
pub enum WorkersCommand {
    /// Each worker's position, lag and dead letters.
    Status,
    /// Events the workers gave up on, with their errors.
    DeadLetters {
        /// Resolved ones too.
        #[arg(long)]
        all: bool,
    },
    /// Tries dead letters again: one by id, or all of them.
    Retry {
        /// The dead letter's id.
        id: Option<i64>,
        /// Every unresolved one.
        #[arg(long)]
        all: bool,
    },
}

/// `idlog workers ...`.
pub async fn run(settings: &Settings, command: WorkersCommand) -> anyhow::Result<()> {
    match command {
        WorkersCommand::Status => status(settings).await,
        WorkersCommand::DeadLetters { all } => dead_letters(settings, all).await,
        WorkersCommand::Retry { id, all } => retry(settings, id, all).await,
    }
}

/// `idlog workers status`: exit 1 when a worker cannot reach its bus (a health check).
async fn status(settings: &Settings) -> anyhow::Result<()> {
    let core = Core::open(settings).await?;
    let runner = worker_runner(&core, settings, object_store(settings).await?)?;
    println!(
        "{:<10} {:>10} {:>8} {:>5}  bus",
        "worker", "position", "lag", "dead"
    );
    let statuses = runner.status().await?;
    for worker in &statuses {
        println!(
            "{:<10} {:>10} {:>8} {:>5}  {}",
            worker.name,
            worker.position,
            worker.lag,
            worker.open_dead_letters,
            match (runner.bus(), worker.connected) {
                (workers::Bus::Embedded, _) => "embedded",
                (workers::Bus::Kafka(_), true) => "kafka",
                (workers::Bus::Kafka(_), false) => "kafka (not reachable)",
            }
        );
    }
    if statuses.iter().any(|worker| !worker.connected) {
        anyhow::bail!("Kafka is not reachable")
    }
    Ok(())
}

/// `idlog workers dead-letters [--all]`.
async fn dead_letters(settings: &Settings, all: bool) -> anyhow::Result<()> {
    let core = Core::open(settings).await?;
    let runner = worker_runner(&core, settings, object_store(settings).await?)?;
    let letters = runner.dead_letters(all).await?;
    if letters.is_empty() {
        println!("no dead letters");
    }
    for letter in letters {
        println!(
            "#{} {} position {} {} of {} ({} attempts, {}){}\n    {}",
            letter.id,
            letter.worker,
            letter.position,
            letter.event_type,
            letter.stream_id,
            letter.attempts,
            letter.failed_at.to_rfc3339(),
            letter
                .resolution
                .map(|how| format!(" [{how}]"))
                .unwrap_or_default(),
            letter.error
        );
    }
    Ok(())
}

/// `idlog workers retry ID|--all`.
async fn retry(settings: &Settings, id: Option<i64>, all: bool) -> anyhow::Result<()> {
    if id.is_none() && !all {
        return Err(Usage("name a dead letter's id, or pass --all".into()).into());
    }
    let core = Core::open(settings).await?;
    let runner = worker_runner(&core, settings, object_store(settings).await?)?;
    let report = runner.retry(id).await?;
    println!(
        "{} handled, {} still failing",
        report.succeeded, report.failed
    );
    if report.failed > 0 {
        anyhow::bail!(
            "{} dead letters still fail; see `idlog workers dead-letters`",
            report.failed
        )
    }
    Ok(())
}
