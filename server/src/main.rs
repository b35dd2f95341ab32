//! `keydesk-server`: run Keydesk; verify, back up and restore its data; or generate a large
//! directory for load work.

use clap::{Parser, Subcommand};
use keydesk_server::{Config, audit, backup, directory::embedded};

#[derive(Parser)]
#[command(version, about = "Keydesk: the 1Password admin page for helpdesks")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the page and the admin API (the default).
    Serve,
    /// Read the configuration as `serve` would: print the effective settings (secrets redacted),
    /// or every problem with its line and what to write instead. Exits 1 on any problem.
    CheckConfig {
        /// Also read one page of users from 1Password, and ask `op` who it is signed in as.
        #[arg(long)]
        online: bool,
    },
    /// Check the audit trail's hash chain from where it starts; exits 1 and names every problem.
    VerifyAudit {
        /// Anchors to check the trail against: the file `[audit] anchor_file` names, or lines
        /// copied from the system log. Records missing after an anchored head, or altered since,
        /// are named.
        #[arg(long, value_name = "FILE")]
        anchors: Option<std::path::PathBuf>,
    },
    /// Copy every database Keydesk keeps into DIR (new or empty) while it runs, with a manifest.
    Backup {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Bring the backup in DIR back into an empty data directory, checking every file.
    Restore {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Replace the embedded directory, and the audit trail kept in it, with a generated directory
    /// of COUNT users, for load work.
    Generate {
        /// How many users to create.
        #[arg(long, default_value_t = 100_000)]
        users: u32,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    return_large_blocks_at_once();
    let cli = Cli::parse();
    // The log goes to stderr; stdout says where Keydesk listens.
    keydesk_server::logging::init(cli.config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => keydesk_server::run(cli.config).await,
        Command::VerifyAudit { anchors } => {
            audit::report::verify_audit(&cli.config, anchors.as_deref())
        }
        Command::Backup { dir } => backup::backup(&cli.config, &dir),
        Command::Restore { dir } => backup::restore(&cli.config, &dir),
        Command::CheckConfig { online } => {
            return if keydesk_server::check_config::run(&cli.config, online).await {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            };
        }
        Command::Generate { users } => embedded::generate_directory(&cli.config, users)
            .map(|path| println!("wrote {users} users to {}", path.display()))
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keydesk-server: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc serves large allocations from its own heaps once a large block has been freed, and then
/// keeps what it freed: 50 recovery accepts (19 MiB of Argon2 memory each) left 650 MB resident
/// for good. A fixed threshold makes every allocation of 128 KiB or more a mapping of its own,
/// returned to the system when freed.
///
/// And what bursts of small allocations leave behind (10,000 connections, say) is handed back
/// every 10 s: glibc otherwise keeps it in its arenas.
fn return_large_blocks_at_once() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes glibc's allocation policy; it is called before any other
        // thread exists, and M_MMAP_THRESHOLD takes a size in bytes.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(10));
                // SAFETY: malloc_trim only returns free memory to the system.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        });
    }
}
