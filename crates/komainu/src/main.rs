//! The `komainu` binary: reads the configuration, then runs a node or prints
//! the effective configuration. A bad configuration stops here, before any
//! port is bound, with every problem listed.

/// `admin reset-key` / `reset-password`: recovering lost admin credentials.
mod admin_reset;
/// Command-line arguments.
mod cli;
/// `copy-datastore`: moving data between datastores.
mod copy_datastore;
/// tracing set-up.
mod logging;
/// Process-wide memory settings made before the runtime starts.
mod memory;
/// The optional separate `/metrics` port.
mod metrics_port;
/// Wiring a node for its mode.
mod node;
/// What a node's mode hands to the shared part of the node.
mod plane;
/// Quota counts between the proxy and the datastore.
mod quota_sync;
/// The HTTP and HTTPS listeners and host dispatch.
mod server;
/// SIGTERM / SIGINT.
mod shutdown;
/// Standalone and leader nodes: state from a datastore.
mod store_node;
/// The HTTPS listener's TLS configuration and handshakes.
mod tls;
/// Worker nodes: state from the leaders.
mod worker_node;

use std::process::ExitCode;

/// mimalloc rather than the system allocator: the request path and state
/// rebuilds make many small, short-lived allocations, where glibc's malloc
/// spends a large share of the CPU (consolidation, chunk unlinking).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use config::{ProcessEnv, Sources};

use crate::cli::{AdminAction, Cli, Command};

/// Exit code for a configuration that does not load.
const CONFIG_ERROR: u8 = 2;

fn main() -> ExitCode {
    // First, before the allocator's arena is touched much (see `memory`).
    memory::no_transparent_huge_pages();
    let cli = Cli::parse();
    let sources = Sources {
        file: cli.config.as_deref(),
        env: &ProcessEnv,
        overrides: &cli.defines,
    };
    let loaded = match config::load(&sources) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!(
                "komainu: invalid configuration ({} problem(s)):",
                errors.0.len()
            );
            eprintln!("{errors}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Config => {
            print!("{}", loaded.render());
            ExitCode::SUCCESS
        }
        Command::Run => run(loaded.config),
        Command::Admin { action } => admin(&loaded.config, action),
        Command::CopyDatastore { to, replace } => {
            let overrides: Vec<String> = cli.defines.iter().chain(&to).cloned().collect();
            let target = Sources {
                overrides: &overrides,
                ..sources
            };
            match config::load(&target) {
                Ok(target) => copy_datastore(&loaded.config, &target.config, replace),
                Err(errors) => {
                    eprintln!("komainu: invalid --to ({} problem(s)):", errors.0.len());
                    eprintln!("{errors}");
                    ExitCode::from(CONFIG_ERROR)
                }
            }
        }
    }
}

fn copy_datastore(source: &config::Config, target: &config::Config, replace: bool) -> ExitCode {
    let outcome = runtime()
        .and_then(|runtime| runtime.block_on(copy_datastore::copy(source, target, replace)));
    match outcome {
        Ok(copied) => {
            println!("{}", copy_datastore::summary(source, target, &copied));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("komainu: copy-datastore failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn admin(config: &config::Config, action: AdminAction) -> ExitCode {
    let outcome = runtime().and_then(|runtime| {
        runtime.block_on(async {
            match action {
                AdminAction::ResetKey => admin_reset::reset_key(config).await.map(|(id, secret)| {
                    format!("admin API key created: {id}:{secret} (shown once, keep it)")
                }),
                AdminAction::ResetPassword { username } => {
                    let username = username.unwrap_or_else(|| config.ui.initial_login.clone());
                    admin_reset::reset_password(config, &username)
                        .await
                        .map(|password| {
                            format!("admin user password set: {username} / {password} (shown once, keep it)")
                        })
                }
            }
        })
    });
    match outcome {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("komainu: admin reset failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("could not start the runtime: {e}"))
}

fn run(config: config::Config) -> ExitCode {
    if let Err(e) = logging::init(&config.log) {
        eprintln!("komainu: {e:#}");
        return ExitCode::from(CONFIG_ERROR);
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("komainu: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(node::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("komainu: {e:#}");
            ExitCode::FAILURE
        }
    }
}
