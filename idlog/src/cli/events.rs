//! `idlog events ...`: the log, for auditors: tail, export, a user's history, verification (of
//! the database, or offline of an export) and signed checkpoints.

use super::{cli_actor, confirm, progress_bar, resolve_user, write_whole};
use anyhow::Context;
use audit::{Bound, ExportFilter, ExportFormat, ExportWriter, PublicKey};
use clap::Subcommand;
use domain::audit::SignedCheckpoint;
use eventstore::{EventLog, RecordedEvent};
use idlog::Usage;
use idlog::config::Settings;
use idlog::server::keys::checkpoint_key;
use idlog::server::wiring::{Core, open};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `idlog events ...`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// The latest events (personal data opened), and with `--follow` new ones as they come.
    Tail {
        /// Keep printing new events until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
        /// How many of the latest events to print first.
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: usize,
        /// Only this stream (a user's id, for instance).
        #[arg(long, value_name = "ID")]
        stream: Option<String>,
        /// Only this event type.
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
    },
    /// Writes the log as stored (what the hash chain covers) to a file, streamed.
    Export {
        /// From a log position, or a time (RFC 3339) or date.
        #[arg(long, value_name = "POS|TIME")]
        from: Option<String>,
        /// Up to a log position, or a time or date.
        #[arg(long, value_name = "POS|TIME")]
        to: Option<String>,
        /// Only this stream (a partial export: its links cannot be checked).
        #[arg(long, value_name = "ID")]
        stream: Option<String>,
        /// Only this event type (a partial export).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// The format.
        #[arg(long, value_enum, default_value = "ndjson")]
        format: ExportFormatArg,
        /// The file to write.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Overwrite an existing file without asking.
        #[arg(long)]
        yes: bool,
    },
    /// A user's events with actor, ip and hashes.
    History {
        /// Email address or user id.
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checks the hash chain in the database (exit 0 and the head hash, or 1 and the first
    /// broken position); with `--export`, checks an export file instead, with no database.
    Verify {
        /// First position (database).
        #[arg(long, value_name = "POS", conflicts_with = "export")]
        from: Option<u64>,
        /// Last position (database).
        #[arg(long, value_name = "POS", conflicts_with = "export")]
        to: Option<u64>,
        /// An export file (NDJSON or CSV) to verify offline.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
        /// A signed checkpoint (JSON, from `idlog events checkpoint -o` or
        /// `GET /api/v1/audit/checkpoints`): proves the export complete up to it.
        #[arg(long, value_name = "FILE", requires = "export")]
        checkpoint: Option<PathBuf>,
        /// The trusted public key: 64 hex digits, or a file holding them.
        #[arg(long, value_name = "KEY", requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Signs the log's head (position, hash, time) with the checkpoint key and appends the
    /// checkpoint to the log.
    Checkpoint {
        /// Also write the checkpoint to this file.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Export formats, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormatArg {
    /// One JSON event per line.
    Ndjson,
    /// Comma-separated with a header.
    Csv,
}

/// `idlog events ...`.
pub async fn run(settings: &Settings, command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Tail {
            follow,
            lines,
            stream,
            event_type,
            json,
        } => {
            let request = TailRequest {
                follow,
                lines,
                stream,
                event_type,
                json,
            };
            tail(settings, request).await
        }
        EventsCommand::Export {
            from,
            to,
            stream,
            event_type,
            format,
            output,
            yes,
        } => {
            let format = match format {
                ExportFormatArg::Ndjson => audit::ExportFormat::Ndjson,
                ExportFormatArg::Csv => audit::ExportFormat::Csv,
            };
            let request = ExportRequest {
                from,
                to,
                stream,
                event_type,
                format,
                output,
                yes,
            };
            export(settings, request).await
        }
        EventsCommand::History { user, json } => history(settings, &user, json).await,
        EventsCommand::Verify {
            export: Some(export),
            checkpoint,
            public_key,
            ..
        } => verify_export(&export, checkpoint.as_deref(), public_key.as_deref()),
        EventsCommand::Verify {
            from,
            to,
            export: None,
            ..
        } => verify_database(settings, from, to).await,
        EventsCommand::Checkpoint { output } => checkpoint(settings, output).await,
    }
}

/// Which events `tail` shows.
struct TailRequest {
    /// Keep printing new events.
    pub follow: bool,
    /// How many of the latest to print first.
    pub lines: usize,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// One JSON event per line instead of a summary.
    pub json: bool,
}

fn summary_line(event: &RecordedEvent) -> String {
    let metadata = event.metadata().unwrap_or_default();
    let actor = metadata
        .actor
        .id
        .unwrap_or_else(|| format!("{:?}", metadata.actor.kind).to_lowercase());
    format!(
        "{:>8}  {}  {:<12} {:<38} {:<28} {}",
        event.global_position,
        event
            .recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        event.stream_type,
        event.stream_id,
        event.event_type,
        actor
    )
}

fn print_event(out: &mut impl Write, event: &RecordedEvent, json: bool) -> std::io::Result<()> {
    if json {
        let shown = RecordedEvent {
            payload: domain::without_secrets(event.payload.clone()),
            ..event.clone()
        };
        serde_json::to_writer(&mut *out, &shown)?;
        writeln!(out)
    } else {
        writeln!(out, "{}", summary_line(event))
    }
}

/// `idlog events tail`: the latest events (personal data opened, secrets left out), then with
/// `--follow` each new one as it is committed, until Ctrl-C.
#[tracing::instrument(skip_all)]
async fn tail(settings: &Settings, request: TailRequest) -> anyhow::Result<()> {
    let eventstore::Opened { log, .. } = open(settings).await?;
    let filter = ExportFilter {
        stream: request.stream,
        event_type: request.event_type,
        ..Default::default()
    };
    let head = log.head().await?.position;
    let latest = latest_matching(&log, &filter, head, request.lines).await?;
    let mut out = std::io::stdout().lock();
    for event in &latest {
        print_event(&mut out, event, request.json)?;
    }
    out.flush()?;
    drop(out);
    if !request.follow {
        return Ok(());
    }
    let mut subscription = log.subscribe(head);
    loop {
        let event = tokio::select! {
            event = subscription.next() => event?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        if filter.matches(&event) {
            let mut out = std::io::stdout().lock();
            print_event(&mut out, &event, request.json)?;
            out.flush()?;
        }
    }
}

/// The last `count` events up to `head` that `filter` selects, oldest first: windows of the log
/// read backwards from the head until enough are found.
async fn latest_matching(
    log: &EventLog,
    filter: &ExportFilter,
    head: u64,
    count: usize,
) -> anyhow::Result<Vec<RecordedEvent>> {
    const WINDOW: u64 = 5000;
    let mut found: Vec<RecordedEvent> = Vec::new();
    let mut end = head;
    while end > 0 && found.len() < count {
        let start = end.saturating_sub(WINDOW);
        let window = log.read_all(start, (end - start) as usize).await?;
        let mut matching: Vec<RecordedEvent> = window
            .into_iter()
            .filter(|event| filter.matches(event))
            .collect();
        matching.append(&mut found);
        found = matching;
        end = start;
    }
    let skip = found.len().saturating_sub(count);
    Ok(found.split_off(skip))
}

/// What `export` writes.
struct ExportRequest {
    /// From a position or time.
    pub from: Option<String>,
    /// To a position or time.
    pub to: Option<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// The format.
    pub format: ExportFormat,
    /// The file.
    pub output: PathBuf,
    /// Overwrite an existing file without asking.
    pub yes: bool,
}

fn bound(option: &str, raw: Option<&str>) -> Result<Option<Bound>, Usage> {
    raw.map(|text| Bound::parse(text).map_err(|message| Usage(format!("{option} {message}"))))
        .transpose()
}

/// `idlog events export`: the log as stored, streamed to a file (written next to it and renamed
/// into place at the end, so an interrupted export never leaves a partial file under the name).
#[tracing::instrument(skip_all)]
async fn export(settings: &Settings, request: ExportRequest) -> anyhow::Result<()> {
    let filter = ExportFilter {
        stream: request.stream,
        event_type: request.event_type,
        ..Default::default()
    }
    .between(
        bound("--from", request.from.as_deref())?,
        bound("--to", request.to.as_deref())?,
    );
    if request.output.exists() {
        confirm(
            request.yes,
            &format!("{} exists. Overwrite it?", request.output.display()),
            "yes",
        )?;
    }
    let folder = match request.output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let partial = tempfile::NamedTempFile::new_in(&folder)
        .with_context(|| format!("creating a file in {}", folder.display()))?;
    let eventstore::Opened { log, .. } = open(settings).await?;
    let head = log.head().await?.position;
    let bar = progress_bar(head, "exporting events");
    let mut writer = ExportWriter::new(request.format, partial.as_file())?;
    let summary = audit::export::export(&log, &filter, &mut writer, |position| {
        bar.set_position(position);
    })
    .await?;
    writer.finish()?;
    partial.as_file().sync_all()?;
    partial
        .persist(&request.output)
        .with_context(|| format!("writing {}", request.output.display()))?;
    bar.finish_and_clear();
    match (summary.first_position, summary.last_position) {
        (Some(first), Some(last)) => println!(
            "exported {} events (positions {first} to {last}) to {}",
            summary.events,
            request.output.display()
        ),
        _ => println!(
            "no events matched; wrote an empty export to {}",
            request.output.display()
        ),
    }
    Ok(())
}

/// `idlog events history EMAIL|ID`: the user's events with actor, ip and hashes.
#[tracing::instrument(skip_all)]
async fn history(settings: &Settings, user: &str, json: bool) -> anyhow::Result<()> {
    let core = Core::open(settings).await?;
    let user_id = resolve_user(&core.commands, user).await?;
    let entries = audit::history::stream_history(&core.log, &user_id.to_string()).await?;
    if entries.is_empty() {
        return Err(Usage(format!("no user has the id {user_id}")).into());
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
        return Ok(());
    }
    for entry in &entries {
        writeln!(
            out,
            "{:>8}  {}  {:<28} actor={} ip={} hash={}",
            entry.position,
            entry
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            entry.event_type,
            entry.actor.id.as_deref().unwrap_or("-"),
            entry.ip.as_deref().unwrap_or("-"),
            entry.hash
        )?;
    }
    Ok(())
}

/// `idlog events verify [--from N] [--to N]`: the chain in the database. Exit 0 with the head
/// hash, or 1 with the first broken position and the expected and found hashes.
#[tracing::instrument(skip_all)]
async fn verify_database(
    settings: &Settings,
    from: Option<u64>,
    to: Option<u64>,
) -> anyhow::Result<()> {
    let eventstore::Opened { log, .. } = open(settings).await?;
    let head = log.head().await?.position;
    let from = from.unwrap_or(1).max(1);
    if head == 0 {
        println!("the log is empty: nothing to verify");
        return Ok(());
    }
    if from > head {
        return Err(Usage(format!(
            "--from {from} is past the head of the log ({head})"
        ))
        .into());
    }
    if let Some(to) = to
        && to < from
    {
        return Err(Usage(format!("--to {to} comes before --from {from}")).into());
    }
    let end = to.unwrap_or(head).min(head);
    let bar = progress_bar(end.saturating_sub(from - 1), "verifying the chain");
    let report = log
        .verify_chain_range(from, to, |position| {
            bar.set_position(position.saturating_sub(from - 1));
        })
        .await?;
    bar.finish_and_clear();
    match report.broken {
        None => {
            let last = from + report.verified.saturating_sub(1);
            println!(
                "the chain is intact: {} events verified (positions {from} to {last})",
                report.verified,
            );
            let label = if last == head {
                "head hash"
            } else {
                "last hash"
            };
            println!("{label} {}", hex::encode(report.last_hash));
            Ok(())
        }
        Some(broken) => anyhow::bail!("{broken}; {} events before it verified", report.verified),
    }
}

/// Reads a public key given as 64 hex digits or as a file holding them.
fn read_public_key(raw: &str) -> anyhow::Result<PublicKey> {
    let path = Path::new(raw);
    let text = if path.exists() {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    } else {
        raw.to_owned()
    };
    PublicKey::parse(&text).map_err(|error| Usage(format!("--public-key: {error}")).into())
}

/// `idlog events verify --export FILE [--checkpoint FILE --public-key KEY]`: an export checked
/// with no database.
#[tracing::instrument(skip_all)]
fn verify_export(
    export: &Path,
    checkpoint: Option<&Path>,
    public_key: Option<&str>,
) -> anyhow::Result<()> {
    let trusted = match (checkpoint, public_key) {
        (Some(path), Some(key)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let checkpoint: SignedCheckpoint = serde_json::from_str(&text).map_err(|error| {
                Usage(format!("{} is not a checkpoint: {error}", path.display()))
            })?;
            Some((checkpoint, read_public_key(key)?))
        }
        (None, None) => None,
        _ => {
            return Err(Usage(
                "--checkpoint and --public-key go together: the checkpoint is only as good as the key it is checked with".into(),
            )
            .into());
        }
    };
    let file =
        std::fs::File::open(export).with_context(|| format!("opening {}", export.display()))?;
    let size = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let bar = progress_bar(size, "verifying the export");
    let input = std::io::BufReader::with_capacity(1 << 16, bar.wrap_read(file));
    let verdict = audit::verify_export(
        input,
        trusted.as_ref().map(|(checkpoint, key)| (checkpoint, key)),
        |_| {},
    );
    bar.finish_and_clear();
    let verdict = verdict.map_err(|problem| anyhow::anyhow!("{}: {problem}", export.display()))?;
    println!(
        "{}: {} events, positions {} to {}, chain intact",
        export.display(),
        verdict.events,
        verdict.first_position,
        verdict.last_position
    );
    match verdict.proven_up_to {
        Some(position) => println!(
            "complete and unaltered up to the signed checkpoint at position {position}{}",
            if verdict.last_position > position {
                format!(
                    "; positions {} to {} come after it (chained, not covered by the signature)",
                    position + 1,
                    verdict.last_position
                )
            } else {
                String::new()
            }
        ),
        None if verdict.first_position > 1 => println!(
            "the first event's link to position {} is trusted (no checkpoint given)",
            verdict.first_position - 1
        ),
        None => println!("no checkpoint given: completeness is not proven"),
    }
    println!("last hash {}", hex::encode(verdict.last_hash));
    Ok(())
}

/// `idlog events checkpoint [-o FILE]`: signs the log's head and appends the checkpoint.
#[tracing::instrument(skip_all)]
async fn checkpoint(settings: &Settings, output: Option<PathBuf>) -> anyhow::Result<()> {
    let core = Core::open(settings).await?;
    let key = checkpoint_key(settings, &core.database).await?;
    let metadata = application::RequestContext::default().metadata(cli_actor());
    let checkpoint =
        audit::checkpoint::record_checkpoint(&core.commands, &key, metadata, chrono::Utc::now())
            .await
            .map_err(|error| match error {
                commands::CommandError::Rejected(rejection) => Usage(rejection.to_string()).into(),
                other => anyhow::Error::from(other),
            })?;
    let text = serde_json::to_string_pretty(&checkpoint)?;
    if let Some(path) = output {
        write_whole(&path, format!("{text}\n").as_bytes())?;
        eprintln!("checkpoint written to {}", path.display());
    }
    println!("{text}");
    Ok(())
}
