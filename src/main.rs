//! The `command-center` binary: a thin shell over the library.

use clap::{Parser, Subcommand};
use command_center::config::{Config, ConfigArgs};

#[derive(Parser)]
#[command(
    name = "command-center",
    version,
    about = "Command Center for a managed-backup service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web console, the APIs and the background workers.
    Serve(ConfigArgs),
    /// Run the database migrations and exit.
    Migrate(ConfigArgs),
    /// Write one archive of the console (database snapshot, server key,
    /// manifest) while it keeps serving.
    Backup(BackupArgs),
    /// Restore an archive into an empty data dir or empty database.
    Restore(RestoreArgs),
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Fill the database with the seed manual's example customer, its
    /// license, invites and a few activated clients; with --customers,
    /// also bulk data for scale checks.
    Demo(DemoArgs),
    /// The reference backup client.
    Agent(command_center_agent::cli::AgentArgs),
}

#[derive(clap::Args)]
struct DemoArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Also generate this many customers (each with one license) …
    #[arg(long, default_value_t = 0)]
    customers: u64,
    /// … this many backup clients spread over them …
    #[arg(long, default_value_t = 0)]
    installations: u64,
    /// … and about this many backup reports (daily runs).
    #[arg(long, default_value_t = 0)]
    reports: u64,
}

#[derive(clap::Args)]
struct BackupArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The archive to write (replaced atomically if it exists).
    #[arg(long)]
    to: std::path::PathBuf,
    /// Seal the server key inside with the passphrase in this file (its
    /// first line).
    #[arg(long)]
    passphrase_file: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct RestoreArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The archive to restore.
    #[arg(long)]
    from: std::path::PathBuf,
    /// The passphrase file, when the archive's key is sealed.
    #[arg(long)]
    passphrase_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print a new one-time link that creates the first administrator
    /// (only while no operator exists).
    SetupLink(ConfigArgs),
    /// Remove what a crash left in the backup repositories (temporary
    /// uploads) and set every repository's storage count to the bytes on
    /// disk. Run it while no console serves uploads (a lone SQLite console
    /// does it at every start by itself).
    ReconcileStorage(ConfigArgs),
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The default writer is stdout; colour codes only when a person watches
    // it, not in a journal, a pipe or a log file.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&args)?;
            init_logging(&config.log);
            command_center::config::warn_unknown_env();
            let running = command_center::start(config.clone()).await?;
            println!("Command Center listens on http://{}", running.addr);
            println!(
                "Database: {}",
                command_center::store::redact_url(&config.database_url)
            );
            match &config.smtp_url {
                Some(_) => println!("Mail: SMTP (CC_SMTP_URL)"),
                None => println!(
                    "Mail: written as .eml files to {}",
                    config.data_dir.join("outbox").display()
                ),
            }
            if let Some(link) = &running.setup_link {
                println!();
                println!("No administrator exists yet. Open this one-time link to create one:");
                println!("  {link}");
                println!("(or set CC_ADMIN_EMAIL and CC_ADMIN_PASSWORD and restart)");
                println!();
            }
            let stop = running.shutdown_handle();
            tokio::spawn(async move {
                command_center_agent::cli::shutdown_signal().await;
                tracing::info!("shutting down");
                let _ = stop.send(true);
            });
            running.wait().await
        }
        Command::Migrate(args) => {
            let config = Config::load(&args)?;
            init_logging(&config.log);
            command_center::config::warn_unknown_env();
            command_center::open(&config).await?;
            println!("Migrations are up to date.");
            Ok(())
        }
        Command::Demo(args) => {
            let config = Config::load(&args.config)?;
            init_logging("warn");
            command_center::config::warn_unknown_env();
            if args.customers > 0 && args.installations < args.customers {
                anyhow::bail!("--installations must be at least --customers");
            }
            let services = command_center::open(&config).await?;
            for line in command_center::demo::run(&services).await? {
                println!("{line}");
            }
            let scale = command_center::demo::scale::Scale {
                customers: args.customers,
                installations: args.installations,
                reports: args.reports,
            };
            for line in command_center::demo::scale::generate(&services, scale).await? {
                println!("{line}");
            }
            println!("Start the console with: command-center serve");
            Ok(())
        }
        Command::Backup(args) => {
            let config = Config::load(&args.config)?;
            init_logging("warn");
            command_center::config::warn_unknown_env();
            let passphrase = match &args.passphrase_file {
                Some(p) => Some(command_center::backup::read_passphrase_file(p)?),
                None => None,
            };
            let store = command_center::backup::open_store(&config).await?;
            let out =
                command_center::backup::create(&store, &config, &args.to, passphrase.as_ref())
                    .await;
            store.close().await;
            let out = out?;
            for note in &out.notes {
                println!("{note}");
            }
            println!(
                "Wrote {} ({} bytes): {} schema {}, taken {}",
                out.path.display(),
                out.bytes,
                out.manifest.backend,
                out.manifest.migration,
                out.manifest.created_at
            );
            for line in out.manifest.counts.lines() {
                println!("{line}");
            }
            if !out.manifest.key_sealed {
                println!(
                    "The server key is inside unsealed: keep the archive as secret as the key."
                );
            }
            Ok(())
        }
        Command::Restore(args) => {
            let config = Config::load(&args.config)?;
            init_logging("warn");
            command_center::config::warn_unknown_env();
            let passphrase = match &args.passphrase_file {
                Some(p) => Some(command_center::backup::read_passphrase_file(p)?),
                None => None,
            };
            let out =
                command_center::backup::restore(&config, &args.from, passphrase.as_ref()).await?;
            for note in &out.notes {
                println!("{note}");
            }
            println!(
                "Restored the backup of {} (Command Center {}, {} schema {}) into {}:",
                out.manifest.created_at,
                out.manifest.version,
                out.manifest.backend,
                out.manifest.migration,
                command_center::store::redact_url(&config.database_url)
            );
            if let Some(c) = out.counts {
                for line in c.lines() {
                    println!("{line}");
                }
            }
            println!("Start the console with: command-center serve");
            Ok(())
        }
        Command::Agent(args) => {
            init_logging("warn");
            command_center_agent::cli::run(args).await
        }
        Command::Admin {
            command: AdminCommand::ReconcileStorage(args),
        } => {
            let config = Config::load(&args)?;
            init_logging(&config.log);
            let services = command_center::open(&config).await?;
            let r = services.reconcile_repositories().await?;
            println!(
                "Repositories in {}: {} temporary uploads removed, {} deleted repositories cleared, {} storage counts corrected.",
                config.repository_dir.display(),
                r.temp_files,
                r.set_aside,
                r.recounted
            );
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::SetupLink(args),
        } => {
            let config = Config::load(&args)?;
            init_logging(&config.log);
            command_center::config::warn_unknown_env();
            let services = command_center::open(&config).await?;
            if !services
                .needs_setup()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                anyhow::bail!("an operator already exists; sign in instead");
            }
            let token = services
                .create_setup_token()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}/setup/{}", config.public_url, token.expose());
            Ok(())
        }
    }
}

/// Big allocations straight from the OS and back to it when freed. Each
/// password hash takes ~19 MiB; glibc's default raises its mmap threshold
/// after the first such free and then keeps those blocks in per-thread
/// heaps, so a burst of sign-ins left hundreds of MiB behind.
fn return_big_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called once at
    // start, before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Everything the console writes — the database and its WAL, the server
/// key, mail files holding activation codes, backup repositories — is for
/// its own user only: files 0600, folders 0700.
fn private_files() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

fn main() -> std::process::ExitCode {
    private_files();
    return_big_allocations();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("command-center: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run_main())
}

async fn run_main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("command-center: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
