use config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Logs go to stderr so that stdout carries only what a user or a test reads
/// (the ready line, `komainu config` output).
pub fn init(log: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&log.level)
        .map_err(|e| anyhow::anyhow!("log.level = '{}' is not a valid filter: {e}", log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match log.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("could not start logging: {e}"))
}
