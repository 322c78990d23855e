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
    /// Send one simulated backup report.
    Report {
        /// success, warning or failed.
        #[arg(long, default_value = "success")]
        status: String,
    },
    /// Report on a schedule until stopped.
    Run {
        /// e.g. 30s, 5m, 1h.
        #[arg(long, default_value = "5m")]
        every: String,
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
        AgentCommand::Report { status } => {
            let mut s = agent::load(state_path)?;
            a.report(&mut s, &status).await?;
            agent::save(state_path, &s)?;
            println!("Reported a {status} backup of {} bytes.", s.bytes_total);
        }
        AgentCommand::Run { every } => {
            let every = agent::parse_every(&every)?;
            let mut s = agent::load(state_path)?;
            loop {
                match a.report(&mut s, "success").await {
                    Ok(()) => {
                        agent::save(state_path, &s)?;
                        println!("Reported a backup of {} bytes.", s.bytes_total);
                    }
                    Err(e) => eprintln!("report failed: {e}"),
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

/// Ctrl-C or SIGTERM.
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
