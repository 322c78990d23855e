//! `command-center-agent`: the reference backup client on its own.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "command-center-agent",
    version,
    about = "The reference backup client of Command Center"
)]
struct Cli {
    #[command(flatten)]
    agent: command_center_agent::cli::AgentArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match command_center_agent::cli::run(Cli::parse().agent).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("command-center-agent: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
