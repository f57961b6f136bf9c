//! The `senim` command: `serve` (the default), `check`, `reload`, `status`,
//! `call`, `token`, `backup` and `keys`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use senim::config::Settings;

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
        /// Start even though a key file is missing or is not the one the
        /// stored data was made with: a new key is made and the data of the
        /// old one is given up (logged and written to the audit log).
        /// See docs/operations.md, "When a key is lost".
        #[arg(long)]
        new_keys: bool,
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
    /// Add a person to the web pages: prints the `[[user]]` entry with the
    /// argon2id hash of their password. The password is read from standard
    /// input when it is not a terminal (one line), else one is made and
    /// printed once.
    User {
        /// What they type to sign in (unique; written to the audit log).
        #[arg(long)]
        name: String,
        /// admin, coordinator or specialist.
        #[arg(long, default_value = "coordinator")]
        role: String,
        /// For role specialist: their id from `[[specialist]]`.
        #[arg(long)]
        specialist: Option<String>,
        /// The pages' language until they choose: kk, ru or en.
        #[arg(long)]
        lang: Option<String>,
    },
    /// Make the running Senim read its configuration again: the whole file
    /// with the prompts, data files and dialplan. Prints what was applied,
    /// what takes effect after a restart, or why it was refused (exit status
    /// 1: the running configuration is kept). Calls in progress go on.
    Reload {
        /// TOML configuration file (the one Senim runs with; it names the
        /// data folder, through which the running Senim is found).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seconds to wait for Senim's answer.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// The running Senim at a glance: calls now, call records, specialists,
    /// trunks, dialplan, refusals (from its /healthz and /metrics).
    Status {
        /// TOML configuration file (for [http] listen).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Make a test call to a running Senim: listen, press the keys given,
    /// say which prompts were heard, hang up. Exit status 0 when Senim
    /// answered and spoke.
    Call {
        /// TOML configuration file (for Senim's address and prompts).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Senim's SIP address; default: [sip] listen (loopback when it
        /// listens on every address).
        #[arg(long)]
        to: Option<std::net::SocketAddr>,
        /// Keys to press, in order, e.g. 12 (Kazakh, then the first service).
        #[arg(long, default_value = "")]
        keys: String,
        /// Seconds to listen after the answer and after each key.
        #[arg(long, default_value_t = 4.0)]
        listen: f64,
    },
    /// Back up the database (a consistent copy, also while Senim runs),
    /// the keys and the voice messages into a new folder under --to.
    Backup {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the backup folder (`senim-<UTC time>`) is made.
        #[arg(long)]
        to: PathBuf,
    },
    /// The keys that protect callers' data.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// The fingerprints of the key files and of the keys the database
    /// records (never the keys themselves).
    Show {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Seal every stored number with a new number key and retire the old
    /// one (kept as `<key file>.retired-<id>` for older backups). Senim must
    /// be stopped.
    Rotate {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn settings(path: Option<&Path>) -> anyhow::Result<Settings> {
    Ok(senim::config::load(path)?)
}

fn main() -> ExitCode {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    // SENIM_LOG_FORMAT=json: one JSON object a line, for a log collector.
    // The last warnings and errors are also kept for `senim status`.
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let format = std::env::var("SENIM_LOG_FORMAT").unwrap_or_default();
    let log = tracing_subscriber::registry()
        .with(filter())
        .with(senim::util::recent_warnings::RecentWarnings);
    if format.eq_ignore_ascii_case("json") {
        log.with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr),
        )
        .init();
    } else {
        log.with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
        if !format.is_empty() && !format.eq_ignore_ascii_case("text") {
            tracing::warn!(value = %format, "SENIM_LOG_FORMAT is json or text; writing text");
        }
    }
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve {
        config: None,
        new_keys: false,
    }) {
        Command::Serve { config, new_keys } => serve(config.as_deref(), new_keys),
        Command::Check { config, dialplan } => check(config.as_deref(), dialplan),
        Command::Token {
            name,
            role,
            specialist,
        } => token(&name, &role, specialist.as_deref()),
        Command::User {
            name,
            role,
            specialist,
            lang,
        } => user(&name, &role, specialist.as_deref(), lang.as_deref()),
        Command::Backup { config, to } => backup(config.as_deref(), &to),
        Command::Status { config } => status(config.as_deref()),
        Command::Reload { config, wait } => reload(config.as_deref(), wait),
        Command::Call {
            config,
            to,
            keys,
            listen,
        } => call(config.as_deref(), to, &keys, listen),
        Command::Keys { action } => match action {
            KeysCommand::Show { config } => keys_show(config.as_deref()),
            KeysCommand::Rotate { config } => keys_rotate(config.as_deref()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("senim: {}", error_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each said once: a cause whose text the message
/// already holds (most of Senim's errors name their cause) is not repeated.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn serve(config: Option<&Path>, new_keys: bool) -> anyhow::Result<()> {
    let settings = settings(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("senim")
        .build()
        .context("cannot start the runtime")?;
    let options = senim::server::ServeOptions {
        new_keys,
        config_file: config.map(Path::to_path_buf),
    };
    runtime.block_on(senim::server::serve(settings, options))?;
    Ok(())
}

/// A small runtime for the commands that only touch the database.
fn command_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

fn keys_show(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = settings(config)?;
    let cfg = &settings.config;
    println!("data folder: {}", settings.data_dir.display());
    for (purpose, place, fingerprint) in senim::keys::present(&cfg.privacy) {
        println!("{purpose} key in {place}: {fingerprint}");
    }
    let db = cfg.database.url.strip_prefix("sqlite://").map(Path::new);
    if db.is_some_and(|p| !p.exists()) {
        println!("no database yet: no key recorded");
        return Ok(());
    }
    command_runtime()?.block_on(async {
        let store = senim::store::Store::open(&cfg.database.url).await?;
        for k in senim::store::keys::all(&store).await? {
            let state = match (&k.retired_at, &k.retired_why) {
                (None, _) => "in use".to_string(),
                (Some(at), why) => format!(
                    "retired {} ({})",
                    senim::util::time::rfc3339(*at),
                    why.as_deref().unwrap_or("?")
                ),
            };
            println!(
                "recorded {} key {}: first used {}, {state}",
                k.purpose,
                k.fingerprint,
                senim::util::time::rfc3339(k.first_used)
            );
        }
        anyhow::Ok(())
    })
}

fn reload(config: Option<&Path>, wait: u64) -> anyhow::Result<()> {
    // The file is read here first: one that does not load is refused with
    // the message the running Senim would give, and Senim is not disturbed.
    let settings = settings(config).map_err(|e| {
        anyhow::anyhow!(
            "refused: {}\nthe running Senim was not asked and keeps its configuration",
            error_text(&e)
        )
    })?;
    let answer = senim::reload::request::request(
        &settings.data_dir,
        std::time::Duration::from_secs(wait.clamp(1, 600)),
    )?;
    for line in answer.lines() {
        println!("{line}");
    }
    if !answer.accepted {
        anyhow::bail!("the new configuration was refused; the running one is kept");
    }
    Ok(())
}

fn status(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = settings(config)?;
    let http = &settings.config.http;
    if http.tls().is_some() {
        anyhow::bail!(
            "[http] speaks HTTPS here: read https://{}/healthz and /metrics with curl",
            http.listen
        );
    }
    let mut addr = http.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let lines = command_runtime()?.block_on(senim::status::read(addr))?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn call(
    config: Option<&Path>,
    to: Option<std::net::SocketAddr>,
    keys: &str,
    listen: f64,
) -> anyhow::Result<()> {
    use senim_media::dtmf::Digit;
    let settings = settings(config)?;
    let target = to.unwrap_or_else(|| {
        let mut listen = settings.config.sip.listen;
        if listen.ip().is_unspecified() {
            listen.set_ip(match listen {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        listen
    });
    let mut digits = Vec::new();
    for c in keys.chars().filter(|c| !c.is_whitespace() && *c != ',') {
        digits.push(
            Digit::from_char(c)
                .ok_or_else(|| anyhow::anyhow!("--keys: {c:?} is not a phone key (0-9, *, #)"))?,
        );
    }
    if !(0.5..=120.0).contains(&listen) {
        anyhow::bail!("--listen: give 0.5 to 120 seconds");
    }
    let prompts = match &settings.prompts_dir {
        Some(dir) => senim_media::prompts::PromptLibrary::load(dir)?,
        None => senim::bundled::prompts()?,
    };
    let summary = command_runtime()?.block_on(senim::test_call::run(
        target,
        digits,
        std::time::Duration::from_secs_f64(listen),
        &prompts,
    ))?;
    println!(
        "ok: Senim answered and spoke ({:.1} s of audio; {} prompts recognised)",
        summary.audio.as_secs_f64(),
        summary.prompts.len()
    );
    Ok(())
}

fn backup(config: Option<&Path>, to: &Path) -> anyhow::Result<()> {
    let settings = settings(config)?;
    let report =
        command_runtime()?.block_on(senim::backup::run(&settings, to, senim::call::epoch_ms()))?;
    println!(
        "backup in {}: {} calls, {} follow-ups, {} voice messages, keys: {}",
        report.folder.display(),
        report.contents.calls,
        report.contents.follow_ups,
        report.voice_messages,
        if report.keys.is_empty() {
            "none".to_string()
        } else {
            report.keys.join(", ")
        }
    );
    for key in &report.keys_in_config {
        println!("{key} is in the configuration file: back the configuration up too");
    }
    println!(
        "the folder holds the keys and the data they protect: keep it where only the IT person \
         can read it, and no longer than the retention periods"
    );
    Ok(())
}

fn keys_rotate(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = settings(config)?;
    let _lock = senim::server::hold_data_dir(&settings, "senim keys rotate")?;
    let cfg = &settings.config;
    let rotation = command_runtime()?.block_on(async {
        let store = senim::store::Store::open(&cfg.database.url).await?;
        // Call record changes waiting in the spool may carry numbers sealed
        // with the old key: they are written first, or the rotation waits.
        if let Some(path) = senim::store::spool::path_for(&cfg.database.url, &settings.data_dir) {
            let max = cfg.database.spool_max_mb.saturating_mul(1024 * 1024);
            let mut spool = senim::store::spool::Spool::open(&path, max)?;
            if !spool.is_empty() {
                let _ = senim::store::replay_spool(&store, &mut spool).await;
            }
            if !spool.is_empty() {
                anyhow::bail!(
                    "{}: {} call record changes wait to be written and may hold numbers sealed \
                     with the current key; start Senim so it writes them, stop it, and rotate then",
                    path.display(),
                    spool.waiting()
                );
            }
        }
        let now = senim::call::epoch_ms();
        anyhow::Ok(senim::keys::rotate(&store, &cfg.privacy, now).await?)
    })?;
    println!(
        "number key rotated: {} -> {}; {} numbers sealed again",
        rotation.old, rotation.new, rotation.resealed
    );
    if rotation.unreadable > 0 {
        println!(
            "{} numbers were sealed with a key given up before and stay unreadable",
            rotation.unreadable
        );
    }
    println!(
        "the old key is kept in {} for backups made before now: delete it when no such backup \
         is kept any more",
        rotation.retired_file.display()
    );
    Ok(())
}

/// `--role` and `--specialist` of `senim token` and `senim user`.
fn role_arguments(role: &str, specialist: Option<&str>) -> anyhow::Result<()> {
    if !["admin", "coordinator", "specialist"].contains(&role) {
        anyhow::bail!("--role must be admin, coordinator or specialist");
    }
    if role == "specialist" && specialist.is_none() {
        anyhow::bail!("--role specialist needs --specialist ID");
    }
    Ok(())
}

fn token(name: &str, role: &str, specialist: Option<&str>) -> anyhow::Result<()> {
    use senim::http::auth;
    role_arguments(role, specialist)?;
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

fn user(
    name: &str,
    role: &str,
    specialist: Option<&str>,
    lang: Option<&str>,
) -> anyhow::Result<()> {
    use senim::web::users::{hash_password, MIN_PASSWORD_CHARS};
    use std::io::{BufRead, IsTerminal};
    role_arguments(role, specialist)?;
    if let Some(l) = lang {
        if senim::web::i18n::Lang::parse(l).is_none() {
            anyhow::bail!("--lang must be kk, ru or en");
        }
    }
    let stdin = std::io::stdin();
    let (password, made) = if stdin.is_terminal() {
        (senim::web::users::new_password(), true)
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        anyhow::bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
    }
    let hash =
        hash_password(&password).map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    if made {
        // Not TOML: pasted into the configuration by mistake, the file fails
        // to load instead of keeping the password in clear.
        println!("password for {name} (give it to them; Senim keeps only its hash): {password}");
        println!();
    }
    println!("# Add to the configuration:");
    println!("[[user]]");
    println!("name = {}", quote(name));
    println!("role = {}", quote(role));
    if let Some(id) = specialist {
        println!("specialist = {}", quote(id));
    }
    if let Some(l) = lang {
        println!("lang = {}", quote(l));
    }
    println!("password_hash = {}", quote(&hash));
    Ok(())
}

fn check(config: Option<&Path>, dialplan: Option<PathBuf>) -> anyhow::Result<()> {
    let mut settings = settings(config)?;
    if let Some(file) = dialplan {
        settings.dialplan_file = Some(file);
    }
    let (prompts, data, plans) = senim::loading::load_all(&settings)?;
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
    for w in prompts.silence_warnings() {
        println!("warning: {w}");
    }
    for w in
        senim::loading::trunk_warnings(&settings.config.specialists, !settings.trunks.is_empty())
    {
        println!("warning: {w}");
    }
    let year = chrono::Datelike::year(&chrono::Utc::now());
    for y in [year, year + 1] {
        if !data.calendar.holidays().covers(y) {
            println!("warning: the holiday table has no entries for {y}");
        }
    }
    // Files with personal data that others can read (Senim makes them private at start).
    let private = senim::server::private_paths(&settings);
    for e in senim::util::private_files::exposed(&private) {
        println!(
            "warning: {} {} has mode {:o}: readable by others; it should be {:o} (Senim sets it at start)",
            e.what,
            e.path.display(),
            e.mode,
            e.wanted()
        );
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
