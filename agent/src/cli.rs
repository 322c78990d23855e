//! The agent's command line: the same under `command-center agent …` and
//! `command-center-agent …`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate as agent;

/// `agent` and its global options.
#[derive(Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
    /// Where the agent keeps its token.
    #[arg(long, global = true, default_value = "agent-state.json")]
    pub state: PathBuf,
}

#[derive(Subcommand)]
pub enum AgentCommand {
    /// Activate with a username and activation code.
    Activate {
        #[arg(long)]
        server: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        code: String,
        /// Defaults to this machine's name.
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Start a trial without an invite.
    Trial {
        #[arg(long)]
        server: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "standard")]
        software_type: String,
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Print the policy.
    Policy,
    /// Back up PATHs into the installation's repository, apply retention
    /// (Store deleted days), and report the real figures.
    Backup {
        /// Files and folders to back up.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List the repository's snapshots.
    Snapshots,
    /// Restore a snapshot into a folder (files keep their full original
    /// path under it, as with `restic restore`).
    Restore {
        /// A snapshot id (or a unique prefix of one), or `latest`.
        #[arg(long)]
        snapshot: String,
        /// Where to restore (created if missing).
        #[arg(long)]
        target: PathBuf,
        /// Only these paths (as they were backed up) and what is under them.
        paths: Vec<PathBuf>,
    },
    /// Send one simulated backup report (no data moves).
    Report {
        /// success, warning or failed.
        #[arg(long, default_value = "success")]
        status: String,
    },
    /// On a schedule until stopped: back up PATHs, or without PATHs send
    /// simulated reports.
    Run {
        /// e.g. 30s, 5m, 1h.
        #[arg(long, default_value = "5m")]
        every: String,
        /// Files and folders to back up; none: simulated reports.
        paths: Vec<PathBuf>,
    },
    /// Leave and free the seat.
    Deactivate,
}

/// Runs one agent command.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    run_agent(args.command, &args.state).await
}

async fn run_agent(command: AgentCommand, state_path: &std::path::Path) -> anyhow::Result<()> {
    let a = agent::Agent::new();
    match command {
        AgentCommand::Activate {
            server,
            username,
            code,
            hostname,
        } => {
            let host = hostname.unwrap_or_else(agent::hostname);
            let s = a.activate(&server, &username, &code, &host).await?;
            agent::save(state_path, &s)?;
            println!(
                "Activated as {username} on {host}; installation {}. State in {}.",
                s.installation_id,
                state_path.display()
            );
        }
        AgentCommand::Trial {
            server,
            email,
            software_type,
            hostname,
        } => {
            let host = hostname.unwrap_or_else(agent::hostname);
            let s = a.trial(&server, &email, &software_type, &host).await?;
            agent::save(state_path, &s)?;
            println!(
                "Trial started for {email} on {host}; installation {}.",
                s.installation_id
            );
        }
        AgentCommand::Policy => {
            let s = agent::load(state_path)?;
            let p = a.policy(&s).await?;
            let mut shown = serde_json::to_value(&p)?;
            if p.encryption_key.is_some() {
                shown["encryption_key"] = serde_json::json!("***");
            }
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        AgentCommand::Backup { paths } => {
            let done = a.backup(state_path, &paths, progress()).await?;
            print_backup(&done);
            if let Some(e) = done.report_error {
                anyhow::bail!("the backup worked but its report failed: {e}");
            }
        }
        AgentCommand::Snapshots => {
            let snaps = a.snapshots(state_path).await?;
            if snaps.is_empty() {
                println!("No snapshots yet.");
            }
            for s in snaps {
                println!(
                    "{}  {}  {}  {} files  {} added  {}",
                    &s.id[..8.min(s.id.len())],
                    s.time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    s.hostname,
                    s.files,
                    agent::engine::human_bytes(s.bytes_added),
                    s.paths.join(", ")
                );
            }
        }
        AgentCommand::Restore {
            snapshot,
            target,
            paths,
        } => {
            let files = a
                .restore(state_path, &snapshot, &target, &paths, progress())
                .await?;
            println!(
                "Restored {files} files of snapshot {snapshot} into {}.",
                target.display()
            );
        }
        AgentCommand::Report { status } => {
            let mut s = agent::load(state_path)?;
            a.report(&mut s, &status).await?;
            agent::save(state_path, &s)?;
            println!(
                "Reported a simulated {status} backup of {} bytes.",
                s.bytes_total
            );
        }
        AgentCommand::Run { every, paths } => {
            let every = agent::parse_every(&every)?;
            loop {
                if paths.is_empty() {
                    let mut s = agent::load(state_path)?;
                    match a.report(&mut s, "success").await {
                        Ok(()) => {
                            agent::save(state_path, &s)?;
                            println!("Reported a simulated backup of {} bytes.", s.bytes_total);
                        }
                        Err(e) => eprintln!("simulated report failed: {e}"),
                    }
                } else {
                    match a.backup(state_path, &paths, progress()).await {
                        Ok(done) => {
                            print_backup(&done);
                            if let Some(e) = done.report_error {
                                eprintln!("the backup worked but its report failed: {e}");
                            }
                        }
                        Err(e) => eprintln!("{e:#}"),
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown_signal() => break,
                }
            }
        }
        AgentCommand::Deactivate => {
            let s = agent::load(state_path)?;
            a.deactivate(&s).await?;
            std::fs::remove_file(state_path)?;
            println!("Deactivated; the seat is free.");
        }
    }
    Ok(())
}

/// Progress lines only for a person watching.
fn progress() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

fn print_backup(done: &agent::BackupDone) {
    let o = &done.outcome;
    println!(
        "Snapshot {} : {} files ({}), {} new, {} changed; {} added to the repository.",
        &o.snapshot_id[..8.min(o.snapshot_id.len())],
        o.files_total,
        agent::engine::human_bytes(o.bytes_total),
        o.files_new,
        o.files_changed,
        agent::engine::human_bytes(o.bytes_added),
    );
    for u in o.unreadable.iter().take(10) {
        eprintln!("not readable: {u}");
    }
    if !done.forgotten.is_empty() {
        println!(
            "Forgot {} snapshots older than {} days and pruned.",
            done.forgotten.len(),
            done.store_deleted_days
        );
    }
    println!("Reported {}.", done.report.status);
}

/// Ctrl-C or SIGTERM (the console's `serve` waits on it too).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
