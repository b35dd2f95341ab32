//! The log, on stderr: plain text for people (the default), or JSON lines for a log system
//! (`KEYDESK_LOG_FORMAT=json`), where each request also gets a line of its own
//! (`metrics::observe_request`). `RUST_LOG` chooses what is written, in either format.
//!
//! What reaches the log is chosen where it is written: who, what, to whom and why, never a
//! token, a recovery link, a password or a secret.

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Start logging for the whole process.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| match format {
        // As before: a person reading along wants what happened, not every request (their
        // proxy's access log has those).
        LogFormat::Text => {
            "keydesk_server=info,keydesk_server::request=warn,tower_http=warn".into()
        }
        LogFormat::Json => "keydesk_server=info,tower_http=warn".into(),
    });
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // Every field at the top level, beside `timestamp`, `level`, `target` and `message`.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}
