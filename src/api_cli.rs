//! `rally api-key ...`: keys for the intake API. A new key is printed once; rally keeps only its
//! SHA-256, so a lost key is revoked and replaced, never shown again.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Subcommand;

use rally::app::{App, AppError};
use rally::domain::activity::Snowflake;

use super::{GUILD_HELP, parse_guild};

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key for pushing activities and deals into this server (printed once).
    Create {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        /// What the key is for, e.g. "HubSpot workflow".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// The server's keys (their first characters, never the keys).
    List {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
    },
    /// Revoke a key by its first characters (as `list` shows them).
    Revoke {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        /// The key's first characters as `rally api-key list` shows them (or the whole key).
        #[arg(long)]
        prefix: String,
    },
}

impl ApiKeyCommand {
    /// The guild the command is about.
    pub fn guild(&self) -> Snowflake {
        match self {
            ApiKeyCommand::Create { guild, .. }
            | ApiKeyCommand::List { guild }
            | ApiKeyCommand::Revoke { guild, .. } => *guild,
        }
    }
}

fn io(e: std::io::Error) -> AppError {
    AppError::User(format!("cannot write output: {e}"))
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// Runs one `rally api-key ...` command.
pub async fn run(
    app: &App,
    command: ApiKeyCommand,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<std::process::ExitCode, AppError> {
    match command {
        ApiKeyCommand::Create { guild, label } => {
            let (key, row) = app.api_key_create(guild.as_i64(), &label, now).await?;
            writeln!(out, "{key}").map_err(io)?;
            eprintln!(
                "an intake API key for guild {guild} ({}): shown this once, only its hash is kept. Send it as \
                 `Authorization: Bearer ...` to POST /api/v1/activities and /api/v1/deals on rally serve",
                if row.label.is_empty() { "no label".to_string() } else { row.label.clone() }
            );
        }
        ApiKeyCommand::List { guild } => {
            let keys = app.api_keys(guild.as_i64()).await?;
            if keys.is_empty() {
                writeln!(out, "no API keys (rally api-key create --guild {guild})").map_err(io)?;
            }
            for k in keys {
                writeln!(
                    out,
                    "{}…  {:<30} created {}  last used {}{}",
                    k.prefix,
                    k.label,
                    when(Some(k.created_at)),
                    when(k.last_used_at),
                    k.revoked_at.map_or(String::new(), |t| format!("  REVOKED {}", when(Some(t))))
                )
                .map_err(io)?;
            }
        }
        ApiKeyCommand::Revoke { guild, prefix } => match app.api_key_revoke(guild.as_i64(), &prefix, now).await? {
            Ok(k) => writeln!(out, "revoked {}… ({}); requests with it now get 401", k.prefix, k.label).map_err(io)?,
            Err(shown) => {
                return Err(AppError::User(format!(
                    "guild {guild} has no live API key starting with `{shown}` (rally api-key list --guild {guild})"
                )));
            }
        },
    }
    Ok(std::process::ExitCode::SUCCESS)
}
