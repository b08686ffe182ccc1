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
    /// IVR flow files: check them, or draw one.
    #[command(subcommand)]
    Ivr(IvrCommand),
    /// Users of the work-order system and the desktop (dispatchers, department handlers, admins).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum IvrCommand {
    /// Check flow files (or folders of them) and report every problem as file:line:column.
    Check {
        /// Files or folders (default: the configured ivr-flows folder).
        paths: Vec<PathBuf>,
    },
    /// Draw a flow as SVG.
    Graph {
        flow: PathBuf,
        /// Where to write the picture (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is stored as an argon2 hash.
    Add {
        username: String,
        /// One or more of: agent, dispatcher, reviewer, revisitor, supervisor, dept_handler, admin.
        #[arg(long, value_delimiter = ',', default_value = "admin")]
        roles: Vec<String>,
        /// The password; read from the HOTLINE_USER_PASSWORD variable when absent.
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        /// Region code the user may act on (分权分域); empty for the whole centre.
        #[arg(long, default_value = "")]
        region: String,
        /// Department id, for department handlers.
        #[arg(long)]
        department: Option<String>,
    },
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

fn ivr_tool(cmd: &IvrCommand, config: Option<&std::path::Path>) -> ExitCode {
    match cmd {
        IvrCommand::Check { paths } => {
            let paths = if paths.is_empty() {
                let flows = hotline::config::Config::load(config)
                    .map(|c| c.hotline.paths.ivr_flows)
                    .unwrap_or_else(|_| "ivr-flows".into());
                vec![flows]
            } else {
                paths.clone()
            };
            let report = hotline::ivr::check_paths(&paths);
            println!("{report}");
            if report.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        IvrCommand::Graph { flow, output } => match hotline::ivr::graph_svg(flow) {
            Ok(svg) => match output {
                Some(path) => match std::fs::write(path, svg) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("hotline: cannot write {}: {e}", path.display());
                        ExitCode::FAILURE
                    }
                },
                None => {
                    println!("{svg}");
                    ExitCode::SUCCESS
                }
            },
            Err(report) => {
                eprintln!("{report}");
                ExitCode::from(1)
            }
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    hotline::server::init_tracing();
    // The IVR tools need no database, runtime or SIP profiles; run them before loading those.
    if let Command::Ivr(cmd) = &cli.command {
        return ivr_tool(cmd, cli.config.as_deref());
    }
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
            Command::Ivr(_) => Ok(()),
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
            Command::User(UserCommand::Add {
                username,
                roles,
                password,
                name,
                region,
                department,
            }) => {
                let password =
                    match password.or_else(|| std::env::var("HOTLINE_USER_PASSWORD").ok()) {
                        Some(p) if !p.is_empty() => p,
                        _ => anyhow::bail!("give --password or set HOTLINE_USER_PASSWORD"),
                    };
                let roles = roles
                    .iter()
                    .map(|r| {
                        serde_json::from_value(serde_json::Value::String(r.trim().to_string()))
                            .map_err(|_| anyhow::anyhow!("unknown role `{r}`"))
                    })
                    .collect::<anyhow::Result<Vec<hotline::tickets::model::Role>>>()?;
                let db = hotline::store::Db::connect(config.hotline.database.url.get_ref()).await?;
                db.migrate().await?;
                let auth =
                    hotline::web::auth::Auth::new(db, hotline::web::auth::AuthConfig::default());
                let user = auth
                    .create_user(hotline::web::auth::NewUser {
                        username: username.clone(),
                        password,
                        display_name: name,
                        roles,
                        region_scope: region,
                        department_id: department,
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("user {} created", user.username);
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
