//! The `hotline` command: run the softswitch, check its files, administer it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "12345 hotline softswitch and work-order platform"
)]
struct Cli {
    /// hotline.toml to read (default: ./hotline.toml if present, else the embedded default)
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run hotline: SIP, media, HTTP, until Ctrl-C or SIGTERM (then drain calls and stop).
    Serve,
    /// Check hotline.toml and sip-profiles/ and print what hotline would run with.
    Check,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Agent extensions (SIP accounts).
    #[command(subcommand)]
    Agent(AgentCommand),
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Create or change an extension's SIP password (stored only as digest HA1 values).
    Add {
        number: String,
        /// The password; read from the HOTLINE_AGENT_PASSWORD variable when absent.
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    hotline::server::init_tracing();
    let config = match hotline::config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hotline: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hotline: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve => hotline::server::serve(config).await,
            Command::Check => {
                println!("{}", hotline::server::describe(&config));
                Ok(())
            }
            Command::Migrate => {
                let db = hotline::store::Db::connect(config.hotline.database.url.get_ref()).await?;
                db.migrate().await?;
                println!("database is up to date");
                Ok(())
            }
            Command::Agent(AgentCommand::Add {
                number,
                password,
                name,
            }) => {
                let password =
                    match password.or_else(|| std::env::var("HOTLINE_AGENT_PASSWORD").ok()) {
                        Some(p) if !p.is_empty() => p,
                        _ => anyhow::bail!("give --password or set HOTLINE_AGENT_PASSWORD"),
                    };
                let realm = config
                    .profiles
                    .agents
                    .as_ref()
                    .map(|a| a.realm.clone())
                    .unwrap_or_else(|| "hotline.local".to_string());
                let db = hotline::store::Db::connect(config.hotline.database.url.get_ref()).await?;
                db.migrate().await?;
                hotline::store::accounts::upsert(&db, &number, &realm, &password, &name).await?;
                println!("extension {number} saved in realm {realm}");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
