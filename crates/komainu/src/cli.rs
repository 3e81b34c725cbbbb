use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The version and the git revision it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("KOMAINU_GIT_REVISION"),
    ")"
);

/// komainu: an Otoroshi-compatible API gateway (standalone, leader or worker node).
#[derive(Debug, Parser)]
#[command(version = VERSION, about)]
pub struct Cli {
    /// TOML configuration file (keys as in Otoroshi: http.port, cluster.mode, ...).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Override one key, as Otoroshi's -D system properties:
    /// -Dhttp.port=8091 -Dotoroshi.cluster.mode=leader -Dotoroshi.cluster.leader.urls.0=http://127.0.0.1:8091
    #[arg(
        short = 'D',
        value_name = "KEY=VALUE",
        global = true,
        allow_hyphen_values = true
    )]
    pub defines: Vec<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the node (the default).
    Run,
    /// Print the effective configuration, with where each value came from and
    /// secrets masked, then exit; exits 2 when the configuration is invalid.
    Config,
    /// Copy every entity and counter from the configured datastore to another,
    /// e.g. `komainu copy-datastore --to app.storage=postgresql --to
    /// app.pg.uri=postgresql://postgres@db:5432/postgres`. Stop the nodes first.
    CopyDatastore {
        /// The target: the source configuration with these keys changed
        /// (same names as -D; repeat for several keys).
        #[arg(long = "to", value_name = "KEY=VALUE", required = true)]
        to: Vec<String>,
        /// Overwrite the kinds the target already holds instead of refusing.
        #[arg(long)]
        replace: bool,
    },
    /// Recovery of lost admin credentials, written straight into the
    /// configured datastore (stop the node first on the embedded datastore).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create a new read-write admin API key and print its secret once.
    ResetKey,
    /// Set a new random password for an admin user of the UI (created if
    /// missing, made read-write) and print it once.
    ResetPassword {
        /// The user; default: app.adminLogin (admin@otoroshi.io).
        username: Option<String>,
    },
}
