//! The `senim` command: `serve` (the default), `check` and `token`.

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
    /// Check the configuration, the prompts, the data files and the dialplan,
    /// then exit (non-zero on any fault, with `file:line:column: message`).
    Check {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Check this dialplan file instead of the configured one.
        #[arg(long)]
        dialplan: Option<PathBuf>,
    },
    /// Make a new API token: prints the token (give it to its holder; it is
    /// not kept anywhere) and the `[[api.token]]` entry with its SHA-256 for
    /// the configuration.
    Token {
        /// Who will hold the token (unique; written to the audit log).
        #[arg(long)]
        name: String,
        /// admin, coordinator or specialist.
        #[arg(long, default_value = "coordinator")]
        role: String,
        /// For role specialist: their id from `[[specialist]]`.
        #[arg(long)]
        specialist: Option<String>,
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve { config: None }) {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Check { config, dialplan } => check(config.as_deref(), dialplan),
        Command::Token {
            name,
            role,
            specialist,
        } => token(&name, &role, specialist.as_deref()),
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

fn token(name: &str, role: &str, specialist: Option<&str>) -> anyhow::Result<()> {
    use senim::http::auth;
    if !["admin", "coordinator", "specialist"].contains(&role) {
        anyhow::bail!("--role must be admin, coordinator or specialist");
    }
    if role == "specialist" && specialist.is_none() {
        anyhow::bail!("--role specialist needs --specialist ID");
    }
    let token = auth::new_token();
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    // The token line is not TOML: pasted into the configuration by mistake,
    // it makes the file fail to load instead of keeping the token in clear.
    println!("token for {name} (give it to them; Senim keeps only its hash): {token}");
    println!();
    println!("# Add to the configuration:");
    println!("[[api.token]]");
    println!("name = {}", quote(name));
    println!("role = {}", quote(role));
    if let Some(id) = specialist {
        println!("specialist = {}", quote(id));
    }
    println!("sha256 = \"{}\"", auth::token_sha256_hex(&token));
    Ok(())
}

fn check(config: Option<&Path>, dialplan: Option<PathBuf>) -> anyhow::Result<()> {
    let mut settings = settings(config)?;
    if let Some(file) = dialplan {
        settings.dialplan_file = Some(file);
    }
    let (prompts, data, plans) = senim::server::load_all(&settings)?;
    if let Some(files) = settings.config.http.tls() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime")?;
        runtime.block_on(files.load())?;
        println!("ok: HTTPS certificate {}", files.cert.display());
    }
    let tls = senim::server::load_tls(&settings)?;
    if let Some(listener) = &tls.listener {
        println!(
            "ok: SIP over TLS certificate {} and key {}",
            listener.files.cert.display(),
            listener.files.key.display()
        );
    }
    let status = plans.status();
    for w in &status.last_messages {
        println!("{w}");
    }
    let year = chrono::Datelike::year(&chrono::Utc::now());
    for y in [year, year + 1] {
        if !data.calendar.holidays().covers(y) {
            println!("warning: the holiday table has no entries for {y}");
        }
    }
    println!(
        "ok: configuration ({}), {} prompts in {}, {} partners, dialplan {} (version {})",
        settings.origin,
        prompts.ids().count(),
        settings.prompts_dir.as_ref().map_or_else(
            || senim::bundled::PROMPTS_NAME.to_string(),
            |d| d.display().to_string()
        ),
        data.partners.ids().count(),
        status.file,
        status.version
    );
    Ok(())
}
