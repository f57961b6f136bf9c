//! The `senim` command: `serve` (the default) and `check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use senim::config::{Config, Settings};

#[derive(Parser)]
#[command(
    name = "senim",
    version,
    about = "IVR and telephony service for a helpline"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Take calls (the default). Without --config, serves on loopback with the bundled prompts.
    Serve {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check the configuration and the prompts, then exit (non-zero on any fault).
    Check {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn settings(path: Option<&Path>) -> anyhow::Result<Settings> {
    let (mut config, origin) = match path {
        Some(p) => (Config::from_file(p)?, p.display().to_string()),
        None => (Config::default(), "built-in defaults".to_string()),
    };
    config.apply_env(std::env::vars())?;
    Ok(config.validate(&origin)?)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve { config: None }) {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Check { config } => check(config.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("senim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = settings(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("senim")
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(senim::server::serve(settings))?;
    Ok(())
}

fn check(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = settings(config)?;
    let prompts = senim::server::load_prompts(&settings)?;
    println!(
        "ok: configuration ({}) and {} prompts in {}",
        settings.origin,
        prompts.ids().count(),
        settings.prompts_dir.display()
    );
    Ok(())
}
