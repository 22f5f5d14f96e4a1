//! `rally crm ...`: connect a guild to its CRM, sync it, and map the CRM's users and activity types
//! to rally's members and kinds. The API token comes from the environment only and is never printed.

use std::io::Write;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clap::{Subcommand, ValueEnum};

use rally::app::crm::CrmStatus;
use rally::app::crm::{ConnectRequest, Progress};
use rally::app::{App, AppError};
use rally::crm::pipedrive::{DEFAULT_API_URL, Pipedrive, Retry};
use rally::domain::activity::Snowflake;
use rally::domain::crm::{Provider, Secret};

use super::{GUILD_HELP, TextOrJson, parse_guild};

/// The environment variable `rally crm connect` reads Pipedrive's API token from.
pub const TOKEN_ENV: &str = "PIPEDRIVE_API_TOKEN";

#[derive(Subcommand, Debug)]
pub enum CrmCommand {
    /// Connect a server to its CRM (the API token from PIPEDRIVE_API_TOKEN, never an argument).
    Connect {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        #[arg(long, value_enum, default_value_t = ProviderArg::Pipedrive)]
        provider: ProviderArg,
        /// The base URL rally requests /api/v2/... and /v1/... under: Pipedrive's API host, your
        /// company domain (https://acme.pipedrive.com) or a test server.
        #[arg(long, default_value = DEFAULT_API_URL)]
        api_url: String,
        /// The pipeline (id or name) whose stages rally's funnel and forecast follow; needed when
        /// the CRM has several.
        #[arg(long)]
        pipeline: Option<String>,
        /// rally's public base URL (where `rally serve` is reachable from the internet, e.g.
        /// https://rally.example.com): registers webhooks so changes arrive within seconds. Without
        /// it rally polls only.
        #[arg(long)]
        webhook_url: Option<String>,
    },
    /// Forget the connection and its token (synced activities and deals stay).
    Disconnect {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
    },
    /// The connection, last sync, cursors, counts and the last error.
    Status {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Run one sync pass now and print its counts.
    Sync {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        /// Also read records updated since this local date (YYYY-MM-DD), e.g. for a backfill.
        #[arg(long, value_parser = parse_date)]
        since: Option<NaiveDate>,
        /// Read everything and remove what the CRM no longer holds (rally does this daily by itself).
        #[arg(long)]
        full: bool,
    },
    /// Link a CRM user to a Discord member: their records count from now on, history included.
    #[command(group(clap::ArgGroup::new("member").required(true).args(["user", "unlink"])))]
    Link {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        /// The CRM user: id, email or exact name (`rally crm users` lists them).
        #[arg(long)]
        crm_user: String,
        /// The Discord member's user id.
        #[arg(long, value_parser = parse_guild)]
        user: Option<Snowflake>,
        /// The member's display name, if rally has not seen them yet (default: the CRM user's name).
        #[arg(long)]
        user_name: Option<String>,
        /// Remove the link instead: the user's records are held again.
        #[arg(long, conflicts_with = "user")]
        unlink: bool,
    },
    /// Map a CRM activity type to a kind (the kind is taken from the CRM from then on).
    #[command(group(clap::ArgGroup::new("target").required(true).args(["kind", "ignore"])))]
    Map {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        /// The CRM activity type: its key or label (`rally crm types` lists them).
        #[arg(long = "type")]
        type_key: String,
        /// The rally kind its activities count as.
        #[arg(long)]
        kind: Option<String>,
        /// Ignore activities of this type instead.
        #[arg(long, conflicts_with = "kind")]
        ignore: bool,
    },
    /// Choose whether a kind comes from the CRM or from chat (/log): never both.
    Source {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        /// The kind, e.g. meeting.
        #[arg(long)]
        kind: String,
        /// crm: taken from the CRM (a type must map to it), and /log refuses it; chat: logged with /log.
        #[arg(long, value_enum)]
        from: SourceArg,
    },
    /// Whether a rep's buttons on a hygiene DM (push the close date, mark lost) change a CRM deal
    /// in the CRM itself (on), or only link to it there (off, the default).
    WriteBack {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        #[arg(value_enum)]
        state: OnOff,
    },
    /// The CRM's users and the members they are linked to.
    Users {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
    },
    /// The CRM's activity types and the kinds they map to.
    Types {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
    },
}

impl CrmCommand {
    /// The guild the command is about.
    pub fn guild(&self) -> Snowflake {
        match self {
            CrmCommand::Connect { guild, .. }
            | CrmCommand::Disconnect { guild }
            | CrmCommand::Status { guild, .. }
            | CrmCommand::Sync { guild, .. }
            | CrmCommand::Link { guild, .. }
            | CrmCommand::Map { guild, .. }
            | CrmCommand::Source { guild, .. }
            | CrmCommand::WriteBack { guild, .. }
            | CrmCommand::Users { guild }
            | CrmCommand::Types { guild } => *guild,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderArg {
    Pipedrive,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceArg {
    Crm,
    Chat,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date like 2026-01-31"))
}

fn io(e: std::io::Error) -> AppError {
    AppError::User(format!("cannot write output: {e}"))
}

/// A Pipedrive client for the guild's stored connection.
async fn client(app: &App, guild: i64) -> Result<Pipedrive, AppError> {
    let c = app.crm_connection(guild).await?;
    Ok(Pipedrive::new(&c.api_url, c.api_token))
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// The status as text.
pub fn status_text(s: &CrmStatus) -> String {
    let mut out = String::new();
    let Some(provider) = &s.provider else {
        out.push_str("not connected to a CRM (rally crm connect --guild ID --provider pipedrive)\n");
        if s.counted + s.held + s.ignored > 0 {
            out.push_str(&format!("records kept from an earlier connection: {} counted\n", s.counted));
        }
        return out;
    };
    out.push_str(&format!("connected to {provider} at {}\n", s.api_url.as_deref().unwrap_or("")));
    out.push_str(&format!("pipeline:      {}\n", s.pipeline.as_deref().unwrap_or("(none)")));
    out.push_str(&format!(
        "webhooks:      {}\n",
        if s.webhooks == 0 { "none (polling only)".to_string() } else { format!("{} registered", s.webhooks) }
    ));
    out.push_str(&format!("connected:     {}\n", when(s.connected_at)));
    out.push_str(&format!("last sync:     {}\n", when(s.last_sync_at)));
    out.push_str(&format!("last full:     {}\n", when(s.last_full_at)));
    if let Some(e) = &s.last_error {
        out.push_str(&format!("last error:    {e} ({})\n", when(s.last_error_at)));
    }
    out.push_str(&format!(
        "since connect: {} imported, {} updated, {} removed; {} API calls, {} tokens\n",
        s.imported, s.updated, s.removed, s.api_calls, s.token_cost
    ));
    out.push_str(&format!("records now:   {} counted, {} held, {} ignored\n", s.counted, s.held, s.ignored));
    for (reason, n) in &s.held_reasons {
        out.push_str(&format!("  held {n}: {reason}\n"));
    }
    for (reason, n) in s.ignored_reasons.iter().take(8) {
        out.push_str(&format!("  ignored {n}: {reason}\n"));
    }
    if !s.unmapped_types.is_empty() {
        let list: Vec<String> =
            s.unmapped_types.iter().map(|(key, name, n)| format!("{key} ({name}, {n} activities)")).collect();
        out.push_str(&format!("unmapped types: {} (map with rally crm map)\n", list.join(", ")));
    }
    out.push_str(&format!("users:         {} of {} linked\n", s.linked_users, s.users));
    out.push_str(&format!(
        "from the CRM:  {}\n",
        if s.crm_fed.is_empty() { "nothing".into() } else { s.crm_fed.join(", ") }
    ));
    for (object, c) in &s.cursors {
        let pass = match &c.pass {
            Some((w, _)) => format!("; a pass from {} is in progress", when(w.since)),
            None => String::new(),
        };
        out.push_str(&format!("cursor {object}: up to {}{pass}\n", when(c.watermark)));
    }
    out
}

/// Runs one `rally crm ...` command.
pub async fn run(
    app: &App,
    command: CrmCommand,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<std::process::ExitCode, AppError> {
    match command {
        CrmCommand::Connect { guild, provider: ProviderArg::Pipedrive, api_url, pipeline, webhook_url } => {
            let token = std::env::var(TOKEN_ENV).unwrap_or_default();
            if token.trim().is_empty() {
                return Err(AppError::User(format!(
                    "set {TOKEN_ENV} to your Pipedrive API token (Pipedrive: Settings > Personal preferences > API); \
                     rally never takes it as an argument, so it stays out of shell history"
                )));
            }
            let token = Secret::new(token.trim());
            // Connecting is interactive: one retry, not the sync's patient backoff.
            let retry = Retry { attempts: 2, ..Retry::default() };
            let source = Pipedrive::with_retry(api_url.trim(), token.clone(), retry);
            let request = ConnectRequest {
                guild: guild.as_i64(),
                provider: Provider::Pipedrive,
                api_url,
                token,
                pipeline,
                webhook_base: webhook_url,
            };
            let c = app.crm_connect(&source, request, now).await?;
            write!(out, "{}", c.summary(guild.as_i64())).map_err(io)?;
        }
        CrmCommand::Disconnect { guild } => {
            let source = client(app, guild.as_i64()).await.ok();
            match app.crm_disconnect(source.as_ref(), guild.as_i64(), now).await? {
                Some((c, removed, failed)) => writeln!(
                    out,
                    "guild {guild}: disconnected from {}; its token is forgotten, synced data kept; {removed} webhook{} \
                     removed{}",
                    c.provider.label(),
                    if removed == 1 { "" } else { "s" },
                    if failed > 0 {
                        format!(", {failed} could not be removed: delete them in Pipedrive (Settings > Webhooks)")
                    } else {
                        String::new()
                    }
                )
                .map_err(io)?,
                None => writeln!(out, "guild {guild} is not connected to a CRM").map_err(io)?,
            }
        }
        CrmCommand::Status { guild, format } => {
            let status = app.crm_status(guild.as_i64()).await?;
            match format {
                TextOrJson::Text => write!(out, "{}", status_text(&status)).map_err(io)?,
                TextOrJson::Json => writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&status).map_err(|e| AppError::User(e.to_string()))?
                )
                .map_err(io)?,
            }
        }
        CrmCommand::Sync { guild, since, full } => {
            let source = client(app, guild.as_i64()).await?;
            let settings = app.settings(guild).await?;
            let since = since.and_then(|d| {
                settings
                    .timezone
                    .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            });
            let bar = progress_bar();
            let mut progress = |p: Progress| {
                if let Some(bar) = &bar {
                    bar.set_message(format!("{:?}: {} records, {} pages", p.feed, p.records, p.pages));
                    bar.tick();
                }
            };
            let result = app.crm_sync(&source, guild.as_i64(), since, full, now, &mut progress).await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let report = result?;
            write!(out, "{}", report.summary()).map_err(io)?;
        }
        CrmCommand::Link { guild, crm_user, user, user_name, unlink } => {
            // No name given: the app names a new member after the CRM user.
            let member = user.filter(|_| !unlink).map(|id| (id.get(), user_name.unwrap_or_default()));
            let linked = app.crm_link(guild.as_i64(), &crm_user, member.clone(), 0, now).await?;
            match &member {
                Some((id, _)) => writeln!(
                    out,
                    "{} ({}) is linked to {id}: {}",
                    linked.crm_name,
                    linked.crm_user,
                    rally::app::crm::counts_line(&linked.counts)
                )
                .map_err(io)?,
                None => writeln!(
                    out,
                    "{} ({}) is unlinked: {}",
                    linked.crm_name,
                    linked.crm_user,
                    rally::app::crm::counts_line(&linked.counts)
                )
                .map_err(io)?,
            }
        }
        CrmCommand::Map { guild, type_key, kind, ignore } => {
            let kind = if ignore { None } else { kind };
            let counts = app.crm_map(guild.as_i64(), &type_key, kind.as_deref(), 0, now).await?;
            writeln!(
                out,
                "{} now {}: {}",
                type_key,
                kind.as_deref().map_or("ignored".to_string(), |k| format!("counts as {k} (taken from the CRM)")),
                rally::app::crm::counts_line(&counts)
            )
            .map_err(io)?;
        }
        CrmCommand::Source { guild, kind, from } => {
            let counts = app.crm_source(guild.as_i64(), &kind, from == SourceArg::Crm, 0, now).await?;
            writeln!(
                out,
                "{kind} now comes from {}: {}",
                if from == SourceArg::Crm { "the CRM (/log refuses it)" } else { "chat (/log)" },
                rally::app::crm::counts_line(&counts)
            )
            .map_err(io)?;
        }
        CrmCommand::WriteBack { guild, state } => {
            let on = state == OnOff::On;
            app.crm_set_write_back(guild.as_i64(), on, "cli".into(), now).await?;
            writeln!(
                out,
                "guild {guild}: {}",
                if on {
                    "a rep's hygiene DM buttons now change CRM deals in the CRM (close date, lost)"
                } else {
                    "a rep's hygiene DM links CRM deals to the CRM; rally changes nothing there"
                }
            )
            .map_err(io)?;
        }
        CrmCommand::Users { guild } => {
            let users = app.crm_users(guild.as_i64()).await?;
            write!(out, "{}", rally::app::crm::users_table(&users)).map_err(io)?;
        }
        CrmCommand::Types { guild } => {
            let types = app.crm_types(guild.as_i64()).await?;
            if types.is_empty() {
                writeln!(out, "no CRM activity types yet: connect, or run rally crm sync").map_err(io)?;
            }
            for t in types {
                writeln!(out, "{:<16} {:<24} {}", t.key, t.name, t.kind.as_deref().unwrap_or("(ignored)"))
                    .map_err(io)?;
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// A spinner on stderr when it is a terminal (a backfill can take minutes); nothing otherwise.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}
