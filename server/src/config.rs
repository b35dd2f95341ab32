//! How Keydesk is configured: environment variables, with flags of the same meaning.

use std::{net::SocketAddr, path::PathBuf};

use keydesk_api::AccountId;

/// The account the embedded directory answers for when none is configured.
pub const DEMO_ACCOUNT_ID: &str = "KEYDESKDEMOACCOUNTABCDEFGH";

#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "KEYDESK_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Where the embedded directory keeps its SQLite file (`keydesk.db`).
    #[arg(
        long,
        global = true,
        env = "KEYDESK_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// The built page (Trunk's `dist`).
    #[arg(long, global = true, env = "KEYDESK_DIST", default_value = "./dist")]
    pub dist: PathBuf,
    /// The 1Password account ID the API answers for.
    #[arg(long, global = true, env = "KEYDESK_ACCOUNT_ID", default_value = DEMO_ACCOUNT_ID)]
    pub account_id: AccountId,
}

impl Config {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("keydesk.db")
    }
}
