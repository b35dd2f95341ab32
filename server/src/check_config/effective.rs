//! The configuration Keydesk would run with: the environment (and flags), then the file with
//! every default filled in, as TOML. Secrets never appear: the settings that hold one redact
//! themselves when serialized ([`crate::redact`]).

use crate::{Config, redact, settings::Settings};

pub fn render(config: &Config, settings: &Settings) -> String {
    let mut environment = toml::Table::new();
    let mut set = |key: &str, value: String| {
        environment.insert(key.to_owned(), toml::Value::String(value));
    };
    set("listen", config.listen.to_string());
    set("data_dir", config.data_dir.display().to_string());
    set(
        "dist",
        crate::page::PageFiles::new(config.dist.as_deref()).describe(),
    );
    set("account_id", config.account_id.to_string());
    set(
        "public_url",
        config.public_url(settings.server.tls.is_some()),
    );
    set(
        "recovery_link_ttl",
        humantime::format_duration(config.recovery_link_ttl).to_string(),
    );
    if let Some(url) = &config.smtp_url {
        set("smtp_url", redact::url_password(url));
    }
    set("mail_from", config.mail_from.clone());
    if let Some(address) = config.metrics_listen {
        set("metrics_listen", address.to_string());
    }
    set(
        "log_format",
        format!("{:?}", config.log_format).to_lowercase(),
    );
    let file = toml::to_string_pretty(settings)
        .unwrap_or_else(|err| format!("# the settings could not be shown: {err}\n"));
    format!(
        "# From the environment (KEYDESK_*) and flags\n[environment]\n{}\n# From the file, \
         with every default filled in\n{file}",
        toml::to_string_pretty(&environment).unwrap_or_default()
    )
}
