//! The `rally` command line: the operator's tools (import, export, report, guild settings, database
//! backup, copy and check). Parses arguments at the edge and calls the `app` layer; prints results.

mod api_cli;
mod crm_cli;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use rally::app::csv_dialect::ColumnMap;
use rally::app::import::{ExportOptions, ImportOptions, ImportSummary};
use rally::app::report::Report;
use rally::app::settings::SettingsChange;
use rally::app::{App, AppError, Location};
use rally::discord::Clock;
use rally::discord::endpoint::EndpointConfig;
use rally::discord::gateway::GatewayConfig;
use rally::domain::activity::Snowflake;
use rally::domain::money::{Currency, Money, NumberFormat};
use rally::domain::period::PeriodSpec;
use rally::domain::settings::{FiscalStart, MoneyPrivacy, WorkingDays, parse_timezone, parse_weekday, weekday_name};
use rally::handlers::{Action, Invocation, Response};

#[derive(Parser, Debug)]
#[command(name = "rally", version, about = "rally: a Discord bot for sales teams", propagate_version = true)]
struct Cli {
    /// The database: a SQLite file (a path, or sqlite:PATH) or PostgreSQL (postgres://user@host/db,
    /// or libpq's host=... dbname=...) [default: rally.db; the demo uses a temporary file; db copy
    /// names its own two].
    #[arg(long, global = true, env = "RALLY_DB", hide_env_values = true, value_parser = DbArg::new)]
    db: Option<DbArg>,
    /// The current time as RFC 3339 (e.g. 2026-11-27T09:00:00Z), for reproducible runs. Default: the clock.
    #[arg(long, global = true, value_parser = parse_now)]
    now: Option<DateTime<Utc>>,
    #[command(subcommand)]
    command: Command,
}

/// Where people reach this rally from their browsers, for the links it hands out.
#[derive(Args, Debug, Clone)]
struct PublicUrl {
    /// The base URL people's browsers reach this rally's web server at (e.g. https://rally.example.com),
    /// from which `/wallboard link` builds the wallboard's URL. Default: none (`/wallboard link` says
    /// how to set it).
    #[arg(long = "public-url", env = "RALLY_PUBLIC_URL", value_name = "URL")]
    url: Option<String>,
}

impl PublicUrl {
    /// Hands the URL to the app; a malformed one is refused before anything starts.
    fn apply(&self, app: &App) -> Result<(), AppError> {
        match self.url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => app.set_public_url(url),
            None => Ok(()),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Import activities from a CSV file (columns: occurred_at, user_id, user_name, kind, quantity; optional team,
    /// amount, currency, note, external_id, deal; README: Import format).
    Import {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        /// The CSV file, or - for standard input.
        file: PathBuf,
        /// How to print the summary: text for people, json for scripts.
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
        /// Take the file's rows back instead: soft-delete the live activities they were imported as
        /// (importing the file again brings them back).
        #[arg(long)]
        remove: bool,
        #[command(flatten)]
        read: ReadOptions,
    },
    /// Export a period's activities in the import format.
    Export {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        #[arg(long, value_parser = parse_period, help = PERIOD_HELP)]
        period: PeriodSpec,
        /// csv (the import format: an export imports back unchanged) or json.
        #[arg(long, value_enum, default_value_t = CsvOrJson::Csv)]
        format: CsvOrJson,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The column separator: , ; | or tab [default: ; where the server writes a decimal comma, else ,].
        #[arg(long, value_parser = rally::app::csv_dialect::parse_delimiter)]
        delimiter: Option<u8>,
        /// For Excel: a UTF-8 byte-order mark and CRLF line endings, so a double-click opens it intact.
        #[arg(long)]
        excel: bool,
    },
    /// KPIs of a period: every rep and team, ranked by points.
    Report {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        #[arg(long, value_parser = parse_period, default_value = "this-week", help = PERIOD_HELP)]
        period: PeriodSpec,
        /// Only this team, by name (e.g. Alpha); default: every team.
        #[arg(long)]
        team: Option<String>,
        /// text (an aligned table) or json (the shape the README documents).
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Run the bot on Discord's gateway (token from DISCORD_TOKEN).
    Run {
        /// Seconds between two CRM sync rounds (servers connected with `rally crm connect`).
        #[arg(long, env = "RALLY_CRM_SYNC_EVERY", default_value_t = 300, value_parser = clap::value_parser!(u64).range(30..))]
        crm_sync_every: u64,
        /// Register commands to this server only (instant updates while developing).
        #[arg(long, value_parser = parse_guild)]
        dev_guild: Option<Snowflake>,
        /// Talk to this Discord API base URL instead of discord.com (a loopback Discord in tests).
        #[arg(long, env = "RALLY_DISCORD_API", hide = true)]
        api_url: Option<String>,
        /// Run only gateway shards A to B, both included (`3` alone is 3-3), so several processes share
        /// one bot; needs --total. Default: as many shards as Discord recommends, all in this process.
        #[arg(long, env = "RALLY_SHARDS", value_name = "A-B")]
        shards: Option<String>,
        /// The number of shards across every process running this bot (with --shards).
        #[arg(long, env = "RALLY_TOTAL_SHARDS", value_name = "N")]
        total: Option<String>,
        /// Also serve rally's web pages (the wallboard, the intake API, CRM webhooks) on this address,
        /// e.g. 0.0.0.0:8080. Default: no web server (`rally serve` always has one).
        #[arg(long, env = "RALLY_WEB", value_name = "ADDR")]
        web: Option<String>,
        #[command(flatten)]
        public: PublicUrl,
    },
    /// Serve Discord's HTTP interactions endpoint.
    Serve {
        /// Seconds between two CRM sync rounds (servers connected with `rally crm connect`).
        #[arg(long, env = "RALLY_CRM_SYNC_EVERY", default_value_t = 300, value_parser = clap::value_parser!(u64).range(30..))]
        crm_sync_every: u64,
        /// Address to listen on, e.g. 0.0.0.0:8080.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The application's public key (hex) from the Developer Portal.
        #[arg(long, env = "RALLY_PUBLIC_KEY")]
        public_key: String,
        #[arg(long, env = "RALLY_DISCORD_API", hide = true)]
        api_url: Option<String>,
        #[command(flatten)]
        public: PublicUrl,
    },
    /// Run one slash command offline through the same pipeline and print the reply.
    Exec {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
        /// Who runs it: a user id.
        #[arg(long, value_parser = parse_guild)]
        user: Snowflake,
        /// Their display name (default: the name on record).
        #[arg(long)]
        user_name: Option<String>,
        /// `manager` for Manage Server, and/or role ids, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// The interaction id (default: derived from the clock); the same id is counted once.
        #[arg(long)]
        id: Option<u64>,
        /// Print the interaction response Discord would get instead of text.
        #[arg(long)]
        json: bool,
        /// The command, e.g. '/kpi team team:Alpha period:this-month'.
        line: String,
        #[command(flatten)]
        public: PublicUrl,
    },
    /// See the whole bot work against a Discord on 127.0.0.1: no token, no network.
    Demo,
    /// Measure rally on a synthetic sales org in a temporary database; prints a Markdown table.
    Bench {
        /// The size of the synthetic sales org.
        #[arg(long, value_enum, default_value_t = rally::bench::Scale::Small)]
        scale: rally::bench::Scale,
        /// Also write the report here.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        /// Keep the generated databases in this directory and start later runs of the same scale
        /// and `--now` from copies of them (generating the full scale takes minutes).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Only the CRM figures (a backfill from the loopback Pipedrive, webhook to /me), on a
        /// database of their own: for iterating on the sync without the rest of the run.
        #[arg(long)]
        crm_only: bool,
        /// Only the replies (each query on the data set and on 1/100 of it, and the growth between
        /// them): for measuring growth at full scale without the writes, imports and CRM runs.
        /// With a PostgreSQL `--db`, also the replies side by side on PostgreSQL.
        #[arg(long, conflicts_with = "crm_only")]
        replies_only: bool,
        /// Only the wallboard series (six `rally serve` runs, three with 200 wallboards open,
        /// interleaved): for measuring the screens' cost without the rest of the run.
        #[arg(long, conflicts_with_all = ["crm_only", "replies_only"])]
        wallboards_only: bool,
    },
    /// Guild settings.
    Guild {
        #[command(subcommand)]
        command: GuildCommand,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Take activities and deals from a CRM (Pipedrive): connect, sync, link users, map types.
    Crm {
        #[command(subcommand)]
        command: crm_cli::CrmCommand,
    },
    /// Keys for the intake API (POST /api/v1/activities and /api/v1/deals on rally serve).
    ApiKey {
        #[command(subcommand)]
        command: api_cli::ApiKeyCommand,
    },
}

/// How `rally import` reads a file whose tool wrote it differently from rally's export.
#[derive(Args, Debug)]
struct ReadOptions {
    /// The column separator: , ; | or tab [default: found in the header line].
    #[arg(long, value_parser = rally::app::csv_dialect::parse_delimiter)]
    delimiter: Option<u8>,
    /// Map rally's columns to the file's headers: occurred_at="Due date",user_id=Owner,...
    #[arg(long, value_parser = parse_columns)]
    columns: Option<ColumnMap>,
    /// How the file writes amounts: 1,234.56 | 1.234,56 | "1 234,56" | "1'234.56" [default: the server's format].
    #[arg(long, value_parser = |s: &str| NumberFormat::parse(s).map_err(|e| e.to_string()))]
    number_format: Option<NumberFormat>,
}

impl ReadOptions {
    fn options(&self) -> ImportOptions {
        ImportOptions {
            delimiter: self.delimiter,
            columns: self.columns.clone().unwrap_or_default(),
            number_format: self.number_format,
        }
    }
}

fn parse_columns(s: &str) -> Result<ColumnMap, String> {
    ColumnMap::parse(s, &rally::app::import::COLUMNS)
}

/// The file to read, or standard input for `-`.
fn open_input(file: &std::path::Path) -> Result<Box<dyn std::io::Read>, AppError> {
    if file.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let f = std::fs::File::open(file).map_err(|e| AppError::User(format!("cannot open {}: {e}", file.display())))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
}

/// The import summary for people: problems by line, the counts, how the file was read.
fn import_text(summary: &ImportSummary) -> String {
    let mut lines: Vec<(u64, String)> = summary.rejected.iter().map(|r| (r.line, r.reason.clone())).collect();
    lines.extend(summary.changed.iter().map(|c| (c.line, c.reason.clone())));
    lines.extend(summary.warnings.iter().map(|w| (w.line, format!("warning: {}", w.reason))));
    lines.sort_by_key(|(line, _)| *line);
    let mut s: String = lines.iter().map(|(line, reason)| format!("line {line}: {reason}\n")).collect();
    let plural = |n: usize, one: &str, many: &str| if n == 1 { format!("{n} {one}") } else { format!("{n} {many}") };
    s.push_str(&format!(
        "{}: {} imported, {} already imported (skipped), {}{} rejected{}\n",
        plural(summary.rows(), "row", "rows"),
        summary.imported,
        summary.duplicates,
        if summary.changed.is_empty() {
            String::new()
        } else {
            format!("{} changed since imported (left as they were), ", summary.changed.len())
        },
        summary.rejected.len(),
        if summary.warnings.is_empty() {
            String::new()
        } else {
            format!(", {}", plural(summary.warnings.len(), "warning", "warnings"))
        }
    ));
    let r = &summary.read_as;
    s.push_str(&format!(
        "Read as {}-separated{}, amounts as {} {}, local times in {}\n",
        if r.delimiter == "tab" { "tab".to_string() } else { format!("`{}`", r.delimiter) },
        if r.delimiter_detected { " (found in the header)" } else { "" },
        r.number_format,
        r.currency,
        r.timezone
    ));
    let t = &summary.times;
    if t.with_offset + t.local + t.date_only > 0 {
        s.push_str(&format!(
            "Times: {} with an offset, {} local, {} date only (counted at 12:00)\n",
            t.with_offset, t.local, t.date_only
        ));
    }
    for hint in &summary.hints {
        s.push_str(&format!("hint: {hint}\n"));
    }
    s
}

#[derive(Subcommand, Debug)]
enum GuildCommand {
    /// Change settings; options not given keep their value.
    Set(GuildSet),
    /// Show the settings.
    Show {
        #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
        guild: Snowflake,
    },
}

#[derive(Args, Debug)]
struct GuildSet {
    #[arg(long, value_parser = parse_guild, help = GUILD_HELP)]
    guild: Snowflake,
    /// IANA timezone, e.g. Europe/Berlin.
    #[arg(long, value_parser = |s: &str| parse_timezone(s).map_err(|e| e.to_string()))]
    timezone: Option<chrono_tz::Tz>,
    /// The first day of the week, e.g. monday or sunday.
    #[arg(long, value_parser = |s: &str| parse_weekday(s).map_err(|e| e.to_string()))]
    week_start: Option<chrono::Weekday>,
    /// The month (1-12) the fiscal year starts in.
    #[arg(long, value_parser = |s: &str| s.parse::<u32>().map_err(|_| format!("`{s}` is not a month number")).and_then(|m| FiscalStart::new(m).map_err(|e| e.to_string())))]
    fiscal_year_start: Option<FiscalStart>,
    /// Working days, e.g. mon-fri or sun-thu.
    #[arg(long, value_parser = |s: &str| WorkingDays::parse(s).map_err(|e| e.to_string()))]
    working_days: Option<WorkingDays>,
    /// How many days back an activity may be dated when logged live.
    #[arg(long)]
    backdate_days: Option<u32>,
    /// The ISO 4217 currency money is kept in, e.g. EUR. Amounts are never converted.
    #[arg(long, value_parser = |s: &str| Currency::parse(s).map_err(|e| e.to_string()))]
    currency: Option<Currency>,
    /// How numbers are written and read: 1,234.56 | 1.234,56 | "1 234,56" | "1'234.56".
    #[arg(long, value_parser = |s: &str| NumberFormat::parse(s).map_err(|e| e.to_string()))]
    number_format: Option<NumberFormat>,
    /// Confirm that amounts already recorded are relabelled in the new --currency (not converted).
    #[arg(long, requires = "currency")]
    relabel: bool,
    /// Who sees other members' money: everyone, or managers (reps see only their own).
    #[arg(long, value_parser = |s: &str| MoneyPrivacy::parse(s).map_err(|e| e.to_string()))]
    money_privacy: Option<MoneyPrivacy>,
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Copy the database with SQLite's online backup (safe while the bot runs).
    Backup {
        /// The new file to write; it must not exist yet.
        file: PathBuf,
    },
    /// Integrity check, schema version, rollups against a recomputation, and the totals a copy keeps
    /// (rows per table, live activities, points, amounts, deal values, rollup sums).
    Check,
    /// Copy the whole database into another, SQLite or PostgreSQL either way (stop rally on FROM
    /// first). Resumable: after an interruption, run the same command again to finish.
    Copy {
        /// The database to copy, as --db takes it: a SQLite file (a path, or sqlite:PATH) or PostgreSQL
        /// (a postgres:// URL, or libpq's host=... dbname=...).
        #[arg(value_parser = DbArg::new)]
        from: DbArg,
        /// Where to copy it, as --db takes it: a new or empty SQLite file, or an existing, empty
        /// PostgreSQL database (rally creates its tables); or the same TO as an interrupted copy of FROM.
        #[arg(value_parser = DbArg::new)]
        to: DbArg,
        /// Rows per batch (one transaction each).
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=100_000), hide = true)]
        batch_rows: u64,
        /// Milliseconds to wait after each batch (tests kill the copy midway).
        #[arg(long, default_value_t = 0, hide = true)]
        batch_pause_ms: u64,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum TextOrJson {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CsvOrJson {
    Csv,
    Json,
}

/// The help shared by every `--guild`.
const GUILD_HELP: &str = "The Discord server (guild) id, e.g. 1234567890123456789 (with Developer Mode on: right-click the server > Copy Server ID)";

/// The help shared by every `--period`: the forms `PeriodSpec::parse` accepts.
const PERIOD_HELP: &str = "The period, in the guild's timezone: today, yesterday, this-week, last-week, this-month, last-month, this-quarter, last-quarter, this-year, last-year (fiscal), 2026-10 (a month), 2026-W44 (an ISO week), 2026-Q4, 2026, FY2026 (the fiscal year starting in 2026), or 2026-10-01..2026-10-15 (local dates, both included)";

/// A database as typed (`--db`, `RALLY_DB`, a copy's FROM and TO), read with [`Location::parse`]
/// only when the command uses it: clap would echo a refused value in full, and it may hold a
/// password. Shown (`Debug`) without its text.
#[derive(Clone)]
struct DbArg(String);

impl DbArg {
    /// Keeps the text as it is (clap's value parser; never fails).
    fn new(s: &str) -> Result<DbArg, std::convert::Infallible> {
        Ok(DbArg(s.to_owned()))
    }

    /// The database it names. Errors: what is wrong, for `what` (`--db`, `FROM`), never the text.
    fn location(&self, what: &str) -> Result<Location, String> {
        Location::parse(&self.0).map_err(|e| format!("{what}: {e}"))
    }
}

impl std::fmt::Debug for DbArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbArg(..)")
    }
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{s}` is not an RFC 3339 time (e.g. 2026-11-27T09:00:00Z)"))
}

fn parse_guild(s: &str) -> Result<Snowflake, String> {
    Snowflake::parse(s).map_err(|e| e.to_string())
}

fn parse_period(s: &str) -> Result<PeriodSpec, String> {
    PeriodSpec::parse(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's whole message: the missing argument's name, the allowed values, "did you
            // mean", the usage line. `--help` and `--version` exit 0; a bad argument, and a missing
            // subcommand (which prints the help, as `arg_required_else_help` does), exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // The PostgreSQL driver logs every statement's parameters at debug level, and parameters hold
    // secrets (a CRM token being stored, an API key's hash): its debug and trace events are dropped
    // whatever RALLY_LOG asks for. (Found by the CRM CLI test with RALLY_LOG=debug on PostgreSQL.)
    let no_driver_debug = tracing_subscriber::filter::filter_fn(|meta| {
        let driver = ["tokio_postgres", "postgres"]
            .iter()
            .any(|d| meta.target() == *d || meta.target().strip_prefix(d).is_some_and(|rest| rest.starts_with("::")));
        !(driver && *meta.level() > tracing::Level::INFO)
    });
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RALLY_LOG").unwrap_or_else(|_| {
            // The demo stops its client on purpose; serenity's warning about the closed socket is noise there.
            if matches!(cli.command, Command::Demo) { "warn,serenity=error".into() } else { "warn".into() }
        }))
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in a log file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .finish()
        .with(no_driver_debug)
        .init();
    // The databases, read before anything starts; a refusal is a usage error, as clap's are. A copy
    // names its own two, so a --db or RALLY_DB it does not use cannot stop it.
    let databases = match &cli.command {
        Command::Db { command: DbCommand::Copy { from, to, batch_rows, batch_pause_ms } } => {
            let options = rally::app::db::CopyOptions {
                batch_rows: usize::try_from(*batch_rows).unwrap_or(2000),
                pause_after_batch: (*batch_pause_ms > 0).then(|| std::time::Duration::from_millis(*batch_pause_ms)),
                ..Default::default()
            };
            from.location("FROM").and_then(|from| Ok(Databases::Copy(from, to.location("TO")?, options)))
        }
        _ => cli.db.as_ref().map(|db| db.location("--db (or RALLY_DB)")).transpose().map(Databases::Db),
    };
    let databases = match databases {
        Ok(databases) => databases,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, databases)) {
        Ok(code) => code,
        Err(_) if READER_GONE.load(std::sync::atomic::Ordering::Relaxed) => ExitCode::SUCCESS,
        Err(e) => {
            match &e {
                AppError::User(message) => eprintln!("error: {message}"),
                AppError::Internal(inner) => {
                    // The debug form helps whoever debugs rally, not whoever runs it: only on request.
                    tracing::debug!(error = ?inner, "internal error");
                    eprintln!("error: {}", cause_chain(inner));
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// Set when standard output's reader went away (`rally db check | head`): the run stops there, quietly.
static READER_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Standard output, noting a closed pipe in [`READER_GONE`] whoever writes (`main`, or `app`
/// writing an export into it) and however they word the error.
struct Stdout<W>(W);

impl<W: Write> Write for Stdout<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).inspect_err(note_reader_gone)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().inspect_err(note_reader_gone)
    }
}

fn note_reader_gone(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        READER_GONE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// An error writing to standard output. A closed pipe is the reader having read enough, not a
/// failure: the run ends with nothing more said and exit code 0, as `grep`, `rg` and `cat` do.
fn output_error(e: std::io::Error) -> AppError {
    note_reader_gone(&e);
    AppError::User(format!("cannot write output: {e}"))
}

/// The error and its causes on one line, joined by ": ", leaving out a cause whose text the
/// message already quotes (many of ours embed their source).
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

/// Refuses a guild rally has never stored anything for, which would otherwise read as an empty
/// period and hide a mistyped id.
/// Why an import into a guild rally holds nothing for waits for `rally guild set`.
fn new_guild(guild: Snowflake, db: &Location) -> AppError {
    AppError::User(format!(
        "guild {guild} has no data in {} yet. Imports, the CRM and the intake API read local times in the server's \
         timezone and amounts in its currency and number format, so set them first, e.g. `rally guild set --guild {guild} --timezone \
         Europe/Berlin --currency EUR --number-format 1.234,56` (or `--timezone UTC --currency USD` for the \
         defaults); if the id is mistyped, check --guild",
        db
    ))
}

async fn known_guild(app: &App, guild: Snowflake, db: &Location) -> Result<(), AppError> {
    if app.guild_exists(guild).await? {
        return Ok(());
    }
    Err(AppError::User(format!(
        "guild {guild} has no data in {} (no settings, members or activities); check --guild",
        db
    )))
}

/// What `rally run` says without a bot token.
const NO_TOKEN: &str = "set DISCORD_TOKEN to your bot's token (Developer Portal > Bot > Reset Token); try `rally demo` to see rally without one";

/// The databases a command names, read from its arguments.
enum Databases {
    /// `--db` (or `RALLY_DB`), when given.
    Db(Option<Location>),
    /// A copy's FROM and TO, and how it batches.
    Copy(Location, Location, rally::app::db::CopyOptions),
}

async fn run(cli: Cli, databases: Databases) -> Result<ExitCode, AppError> {
    let db = match databases {
        Databases::Db(db) => db,
        // A copy opens its two databases itself; --db plays no part.
        Databases::Copy(from, to, options) => return copy_database(from, to, options).await,
    };
    let now = cli.now.unwrap_or_else(Utc::now);
    let clock = match cli.now {
        Some(t) => Clock::starting_at(t),
        None => Clock::System,
    };
    if let Command::Demo = cli.command {
        return demo(db).await;
    }
    if let Command::Bench { scale, out, data, crm_only, replies_only, wallboards_only } = &cli.command {
        // The bench builds its own temporary SQLite databases; a PostgreSQL --db is where it loads
        // the same org to measure side by side (a SQLite --db is not used).
        let postgres = match &db {
            Some(Location::Postgres(url)) => Some(url.clone()),
            _ => None,
        };
        let options = rally::bench::BenchOptions {
            postgres,
            scale: *scale,
            out: out.clone(),
            now: cli.now,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            rally_exe: std::env::current_exe().ok(),
            data: data.clone(),
            crm_only: *crm_only,
            replies_only: *replies_only,
            wallboards_only: *wallboards_only,
        };
        print!("{}", rally::bench::run(options).await?);
        return Ok(ExitCode::SUCCESS);
    }
    // Bad shard flags are refused before anything else happens: no database, no token, no poller.
    let shards = match &cli.command {
        Command::Run { shards, total, .. } => rally::discord::shards::parse(shards.as_deref(), total.as_deref())
            .map_err(|e| AppError::User(e.to_string()))?,
        _ => rally::discord::shards::Shards::Recommended,
    };
    let db = db.unwrap_or_else(|| Location::Sqlite(PathBuf::from(rally::config::DEFAULT_DB)));
    // Commands that only read never create a database: a mistyped --db is an error, not an empty one.
    let reads_only = matches!(
        cli.command,
        Command::Report { .. }
            | Command::Export { .. }
            | Command::Guild { command: GuildCommand::Show { .. } }
            | Command::Db { .. }
    );
    // An import reads its file first (a missing file is the first thing to say) and needs a guild
    // that exists: it never creates the database either.
    if let Command::Import { guild, file, format, remove, read } = &cli.command {
        let input = open_input(file)?;
        let app = App::open_existing_at(&db)?.ok_or_else(|| new_guild(*guild, &db))?;
        let mut out = Stdout(std::io::stdout().lock());
        if *remove {
            known_guild(&app, *guild, &db).await?;
            return remove_import(&app, *guild, input, &read.options(), *format, now, &mut out).await;
        }
        // A new guild's timezone and currency decide how the file's times and amounts read: an
        // import never guesses them (nor turns a mistyped id into a new server).
        if !app.guild_exists(*guild).await? {
            return Err(new_guild(*guild, &db));
        }
        return import_file(&app, *guild, input, &read.options(), *format, now, &mut out).await;
    }
    // CRM and API-key commands work on a guild set up already (its currency and timezone decide
    // how CRM money and times read): they never create the database or a guild.
    let crm_guild = match &cli.command {
        Command::Crm { command } => Some(command.guild()),
        Command::ApiKey { command } => Some(command.guild()),
        _ => None,
    };
    if let Some(guild) = crm_guild {
        let app = App::open_existing_at(&db)?.ok_or_else(|| new_guild(guild, &db))?;
        if !app.guild_exists(guild).await? {
            return Err(new_guild(guild, &db));
        }
        let mut out = Stdout(std::io::stdout().lock());
        return match cli.command {
            Command::Crm { command } => crm_cli::run(&app, command, now, &mut out).await,
            Command::ApiKey { command } => api_cli::run(&app, command, now, &mut out).await,
            _ => Ok(ExitCode::SUCCESS),
        };
    }
    // A start refused for want of a token or for a malformed key changes nothing: both are
    // checked before the database is opened (or created) and before any background task starts.
    match &cli.command {
        Command::Run { .. } if std::env::var("DISCORD_TOKEN").unwrap_or_default().trim().is_empty() => {
            return Err(AppError::User(NO_TOKEN.into()));
        }
        Command::Serve { public_key, .. } => {
            rally::discord::endpoint::parse_public_key(public_key).map_err(AppError::User)?;
        }
        _ => {}
    }
    let app = if reads_only {
        App::open_existing_at(&db)?.ok_or_else(|| {
            AppError::User(match &db {
                Location::Sqlite(_) => format!(
                    "no database at {db} (rally creates one on the first exec, run, serve or guild set); check --db or \
                     RALLY_DB"
                ),
                // The database exists (rally reached it); it holds no rally tables yet.
                Location::Postgres(_) => format!(
                    "{db} holds no rally tables yet (rally creates them on the first exec, run, serve or guild set); \
                     check --db or RALLY_DB"
                ),
            })
        })?
    } else {
        App::open_at(&db)?
    };
    // A guild whose connection allows it gets a rep's hygiene changes written to its Pipedrive.
    app.set_crm_writer(std::sync::Arc::new(rally::crm::pipedrive::PipedriveWriter::default()));
    let mut out = Stdout(std::io::stdout().lock());
    let io = output_error;
    match cli.command {
        Command::Export { guild, period, format, out: file, delimiter, excel } => {
            known_guild(&app, guild, &db).await?;
            let mut sink: Box<dyn Write> = match &file {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| AppError::User(format!("cannot create {}: {e}", path.display())))?,
                )),
                None => Box::new(&mut out),
            };
            match format {
                CsvOrJson::Csv => {
                    let options = ExportOptions { delimiter, excel };
                    app.export_csv_with(guild, &period, &options, now, &mut sink).await?;
                }
                CsvOrJson::Json => {
                    let v = app.export_json(guild, &period, now).await?;
                    writeln!(sink, "{}", serde_json::to_string_pretty(&v).unwrap_or_default()).map_err(io)?;
                }
            }
            sink.flush().map_err(io)?;
        }
        Command::Report { guild, period, team, format } => {
            known_guild(&app, guild, &db).await?;
            // A data export: members left off the boards are in it too.
            let needs = rally::app::report::ReportNeeds::EVERYONE;
            let report = app.report_with(guild, &period, team.as_deref(), needs, now).await?;
            let settings = app.settings(guild).await?;
            match format {
                TextOrJson::Json => writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&report_json(&report, settings.money())).unwrap_or_default()
                )
                .map_err(io)?,
                TextOrJson::Text => {
                    write!(out, "{}", report_text(&report, settings.timezone.name(), settings.money())).map_err(io)?
                }
            }
        }
        Command::Run { dev_guild, api_url, crm_sync_every, shards: _, total: _, web, public } => {
            public.apply(&app)?;
            // The web server first: a taken address is said before the gateway starts.
            let web_server = match web {
                Some(addr) => {
                    let listener = tokio::net::TcpListener::bind(&addr)
                        .await
                        .map_err(|e| AppError::User(format!("cannot listen on {addr} (--web): {e}")))?;
                    let bound = listener.local_addr().map_err(|e| AppError::User(e.to_string()))?;
                    eprintln!("rally run: web pages on http://{bound} (GET /wall/TOKEN for the wallboard)");
                    let router = rally::web::router(app.clone(), clock.clone());
                    Some(tokio::spawn(rally::discord::endpoint::serve(listener, router)))
                }
                None => None,
            };
            spawn_crm_poller(&app, &clock, crm_sync_every);
            // Present: checked before the database was opened.
            let token = std::env::var("DISCORD_TOKEN").unwrap_or_default();
            let config = GatewayConfig {
                token,
                api_url,
                dev_guild: dev_guild.map(|g| g.get()),
                clock,
                scheduler: true,
                defer_after: rally::discord::gateway::DEFER_AFTER,
                shards,
            };
            let client = rally::discord::gateway::start(app, config)
                .await
                .map_err(|e| AppError::User(format!("cannot start the Discord client: {e}")))?;
            let web_stopped = async {
                match web_server {
                    Some(server) => server.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = client.wait() => result.map_err(|e| AppError::User(format!("the Discord client stopped: {e}")))?,
                result = web_stopped => {
                    let why = match result {
                        Ok(Ok(())) => "it stopped".to_string(),
                        Ok(Err(e)) => e.to_string(),
                        Err(e) => e.to_string(),
                    };
                    return Err(AppError::User(format!("the web server (--web) stopped: {why}")));
                }
                _ = stop_signal() => eprintln!("stopping"),
            }
        }
        Command::Serve { listen, public_key, api_url, crm_sync_every, public } => {
            public.apply(&app)?;
            spawn_crm_poller(&app, &clock, crm_sync_every);
            let key = rally::discord::endpoint::parse_public_key(&public_key).map_err(AppError::User)?;
            // Scheduled posts need the bot's token; without one the endpoint answers interactions only.
            let token = std::env::var("DISCORD_TOKEN").unwrap_or_default();
            if !token.trim().is_empty() {
                let http = std::sync::Arc::new(rally::discord::http_client(&token, api_url.as_deref()));
                app.set_role_directory(std::sync::Arc::new(rally::discord::roles::RestRoles::new(http.clone())));
                let scheduler = rally::scheduler::Scheduler::new(app.clone(), http);
                let stop = std::sync::Arc::new(tokio::sync::Notify::new());
                tokio::spawn(scheduler.run(clock.clone(), app.scheduler_wake(), stop));
            }
            let web = rally::web::router(app.clone(), clock.clone());
            let router = rally::discord::endpoint::router(app, EndpointConfig { public_key: key, clock, api_url })
                .map_err(AppError::User)?
                .merge(web);
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| AppError::User(format!("cannot listen on {listen}: {e}")))?;
            let addr = listener.local_addr().map_err(|e| AppError::User(e.to_string()))?;
            // One line, written once: scripts and tests read the address from it.
            let posts = if token.trim().is_empty() { "; scheduled posts off (no DISCORD_TOKEN)" } else { "" };
            eprintln!(
                "rally serve: listening on http://{addr} (POST / for interactions, POST /crm/pipedrive/GUILD for webhooks, \
                 POST /api/v1/activities|deals for the intake API, GET /wall/TOKEN for the wallboard, GET /healthz); database {db}{posts}"
            );
            tokio::select! {
                result = rally::discord::endpoint::serve(listener, router) => result.map_err(|e| AppError::User(format!("server stopped: {e}")))?,
                _ = stop_signal() => eprintln!("stopping"),
            }
        }
        Command::Exec { guild, user, user_name, roles, id, json, line, public } => {
            public.apply(&app)?;
            let call = rally::handlers::cmdline::parse(&line)?;
            let mut permissions = 0;
            let mut role_ids = Vec::new();
            for role in roles.iter().filter(|r| !r.trim().is_empty()) {
                match rally::handlers::cmdline::exec_role(role)? {
                    rally::handlers::cmdline::ExecRole::Manager => permissions |= rally::handlers::MANAGE_GUILD,
                    rally::handlers::cmdline::ExecRole::Role(id) => role_ids.push(id.get()),
                }
            }
            let user_name = match user_name {
                Some(n) => n,
                None => app.member(guild, user).await?.map(|m| m.user_name).unwrap_or_else(|| format!("user {user}")),
            };
            let inv = Invocation {
                // Real time, not `--now`: two runs with the same --now are still two interactions.
                id: id.unwrap_or_else(|| {
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(0);
                    (nanos ^ (u64::from(std::process::id()) << 40)) & (i64::MAX as u64)
                }),
                guild,
                channel: None,
                user,
                user_name,
                roles: role_ids,
                permissions,
                app_permissions: None,
                resolved_users: Vec::new(),
                locale: None,
                action: Action::Command(call),
            };
            // Role ids given here are the member's roles, as Discord would show them on a command
            // (the board exclusion reads them); `--roles manager` alone changes nothing stored.
            if !inv.roles.is_empty() {
                app.note_roles(guild, user, &inv.roles).await?;
            }
            let response = rally::handlers::dispatch(&app, &inv, now).await;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&rally::discord::render::interaction_json(&response))
                        .unwrap_or_default()
                )
                .map_err(io)?;
            } else {
                write!(out, "{}", rally::discord::render::text(&response)).map_err(io)?;
            }
            if let Response::Message(m) = &response
                && m.content.as_deref().is_some_and(|c| c.starts_with("⚠️"))
            {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Demo | Command::Bench { .. } | Command::Import { .. } => {}
        Command::Crm { .. } | Command::ApiKey { .. } => {}
        Command::Guild { command: GuildCommand::Show { guild } } => {
            known_guild(&app, guild, &db).await?;
            let s = app.settings(guild).await?;
            writeln!(out, "timezone           {}", s.timezone.name()).map_err(io)?;
            writeln!(out, "week start         {}", weekday_name(s.week_start)).map_err(io)?;
            writeln!(out, "fiscal year start  {}", s.fiscal_year_start.month()).map_err(io)?;
            writeln!(out, "working days       {}", s.working_days).map_err(io)?;
            writeln!(out, "working hours      {}", s.working_hours).map_err(io)?;
            writeln!(out, "back-dating        {} days", s.backdate_days).map_err(io)?;
            let money = s.money();
            let chosen = |set: bool| if set { "" } else { " (default: not chosen yet)" };
            writeln!(
                out,
                "currency           {} ({}){}",
                money.currency,
                money.currency.name(),
                chosen(s.currency.is_some())
            )
            .map_err(io)?;
            writeln!(out, "number format      {}{}", money.format, chosen(s.number_format.is_some())).map_err(io)?;
            writeln!(out, "money shown to     {}", s.money_privacy.as_str()).map_err(io)?;
            let left_off = s.board_exclude_role.map_or("nobody".to_string(), |r| format!("members with role {r}"));
            writeln!(out, "left off boards    {left_off}").map_err(io)?;
        }
        Command::Guild { command: GuildCommand::Set(set) } => {
            let change = SettingsChange {
                timezone: set.timezone,
                week_start: set.week_start,
                fiscal_year_start: set.fiscal_year_start,
                working_days: set.working_days,
                manager_role: None,
                backdate_days: set.backdate_days,
                working_hours: None,
                currency: set.currency,
                number_format: set.number_format,
                board_exclude_role: None,
                money_privacy: set.money_privacy,
                relabel: set.relabel,
            };
            let s = app.change_settings(set.guild, change, "cli".into(), now).await?;
            writeln!(
                out,
                "guild {}: timezone {}, week starts {}, fiscal year starts in month {}, working days {}, back-dating {} days, money in {} written {}, shown to {}",
                set.guild,
                s.timezone.name(),
                weekday_name(s.week_start),
                s.fiscal_year_start.month(),
                s.working_days,
                s.backdate_days,
                s.money().currency,
                s.money().format,
                s.money_privacy.as_str()
            )
            .map_err(io)?;
        }
        Command::Db { command: DbCommand::Backup { file } } => {
            if file.exists() {
                return Err(AppError::User(format!("{} already exists; choose a new file", file.display())));
            }
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                return Err(AppError::User(format!(
                    "cannot back up to {}: there is no directory {}",
                    file.display(),
                    dir.display()
                )));
            }
            app.backup(file.clone()).await?;
            writeln!(out, "backed up {} to {}", db, file.display()).map_err(io)?;
        }
        Command::Db { command: DbCommand::Check } => {
            let check = app.db_check().await?;
            let (ok, mismatches) = (check.ok(), &check.mismatches);
            writeln!(out, "integrity: {}", check.integrity.join("; ")).map_err(io)?;
            writeln!(out, "schema version: {} of {}", check.version, check.latest).map_err(io)?;
            if let Some(connection) = &check.connection {
                writeln!(out, "connection: {connection}").map_err(io)?;
            }
            writeln!(
                out,
                "rollups: {}",
                if mismatches.is_empty() {
                    "match activities".to_string()
                } else {
                    format!("{} rows differ from activities", mismatches.len())
                }
            )
            .map_err(io)?;
            let rows: Vec<String> = check.totals.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
            writeln!(out, "rows: {}", rows.join(", ")).map_err(io)?;
            let sums: Vec<String> = check.totals.sums.iter().map(|(what, n)| format!("{what} {n}")).collect();
            writeln!(out, "totals: {}", sums.join(", ")).map_err(io)?;
            return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        Command::Db { command: DbCommand::Copy { .. } } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `rally db copy FROM TO`: a bar on stderr when it is a terminal, a summary line on stdout.
async fn copy_database(
    from: Location,
    to: Location,
    options: rally::app::db::CopyOptions,
) -> Result<ExitCode, AppError> {
    use std::io::IsTerminal;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg:<20} {bar:30} {human_pos}/{human_len} rows ({rate})",
            )
            .map(|style| {
                // Whole rows a second (`68,382/s`): `{per_sec}` shows four decimals of a row.
                style.with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}/s", indicatif::HumanCount(state.per_sec().round() as u64));
                })
            })
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let shown = bar.clone();
    let result = rally::app::db::copy_database(from.clone(), to.clone(), options, move |p| {
        if let Some(bar) = &shown {
            bar.set_length(p.rows_total);
            bar.set_position(p.rows_done);
            bar.set_message(p.table.clone());
        }
    })
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = result?;
    if summary.already_copied {
        println!(
            "{to} already holds a finished copy of {from}: the same {} rows in its {} tables; nothing to do",
            indicatif::HumanCount(summary.rows),
            summary.tables
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rate = if summary.seconds > 0.0 { summary.rows_this_run as f64 / summary.seconds } else { 0.0 };
    println!(
        "copied {} tables, {} rows{} from {from} to {to} in {:.1} s ({} rows/s)",
        summary.tables,
        indicatif::HumanCount(summary.rows),
        if summary.resumed {
            format!(" ({} in this run, finishing an interrupted copy)", indicatif::HumanCount(summary.rows_this_run))
        } else {
            String::new()
        },
        summary.seconds,
        indicatif::HumanCount(rate.round() as u64)
    );
    Ok(ExitCode::SUCCESS)
}

/// Syncs the guilds connected to a CRM in the background, every `every` seconds and on `/crm sync`.
fn spawn_crm_poller(app: &App, clock: &Clock, every: u64) {
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    tokio::spawn(rally::crm::poller::run(
        app.clone(),
        clock.clone(),
        std::time::Duration::from_secs(every),
        app.crm_wake(),
        stop,
    ));
}

async fn demo(db: Option<Location>) -> Result<ExitCode, AppError> {
    let temporary = db.is_none();
    let location = db.clone().unwrap_or_else(|| {
        Location::Sqlite(std::env::temp_dir().join(format!("rally-demo-{}.db", std::process::id())))
    });
    // The forecast chart outlives the demo: beside a kept database file, else in the temporary directory.
    let files = match db.as_ref().and_then(Location::sqlite_path).and_then(|p| p.parent()) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        Some(_) => PathBuf::from("."),
        None => std::env::temp_dir(),
    };
    let files = std::path::absolute(&files).unwrap_or(files);
    let app = App::open_at(&location)?;
    let result = rally::demo::run(app, &files).await;
    if temporary && let Some(path) = location.sqlite_path() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let transcript = result.map_err(|e| AppError::User(e.to_string()))?;
    print!("{transcript}");
    println!("\n{}", rally::demo::epilogue(db.map(|l| l.to_string()).as_deref()));
    Ok(ExitCode::SUCCESS)
}

/// The report's JSON shape (documented in the README).
/// Amounts (`*_cents`) are integers of the currency's minor units, whatever the currency.
fn report_json(r: &Report, money: Money) -> serde_json::Value {
    serde_json::json!({
        "guild": r.guild,
        "currency": money.currency.code(),
        "minor_unit_digits": money.currency.exponent(),
        "period": {"label": r.period.label, "start": r.period.start, "end": r.period.end},
        "previous_period": {"start": r.previous_period.start, "end": r.previous_period.end},
        "members": r.members.iter().map(|m| serde_json::json!({
            "user_id": m.user_id,
            "user_name": m.user_name,
            "team": m.team,
            "points": m.points,
            "counts": m.counts,
            "revenue_cents": m.revenue_cents,
            "deals_won": m.deals_won,
            "deals_lost": m.deals_lost,
            "average_deal_cents": m.average_deal_cents,
            "win_rate": m.win_rate,
            "streak": m.streak,
            "rank": m.rank,
            "previous_points": m.previous_points,
        })).collect::<Vec<_>>(),
        "teams": r.teams.iter().map(|t| serde_json::json!({
            "name": t.name,
            "points": t.points,
            "members": t.members,
            "revenue_cents": t.revenue_cents,
            "deals_won": t.deals_won,
            "rank": t.rank,
            "points_per_member": t.points_per_member,
            "previous_points": t.previous_points,
        })).collect::<Vec<_>>(),
    })
}

/// An aligned table a person reads at a glance.
fn report_text(r: &Report, tz: &str, money: Money) -> String {
    use rally::domain::kpi::Change;
    let mut s = format!("{} · {} to {} ({tz})\n\n", r.period.label, r.period.first_day, r.period.last_day);
    let kinds: Vec<&String> = r.totals.counts.keys().collect();
    let mut header = vec!["#".to_string(), "Rep".into(), "Team".into(), "Points".into(), "vs prev".into()];
    header.extend(kinds.iter().map(|k| k.to_string()));
    header.extend([format!("Revenue {}", money.currency), "Win rate".into(), "Streak".into()]);
    let mut rows = vec![header];
    for m in &r.members {
        let mut row = vec![
            m.rank.to_string(),
            m.user_name.clone(),
            m.team.clone().unwrap_or_else(|| "-".into()),
            m.points.to_string(),
            Change::new(m.points, m.previous_points).describe(),
        ];
        row.extend(kinds.iter().map(|k| m.counts.get(*k).copied().unwrap_or(0).to_string()));
        row.push(money.number(m.revenue_cents));
        row.push(m.win_rate.map_or("-".into(), rally::domain::kpi::percent));
        row.push(m.streak.to_string());
        rows.push(row);
    }
    if r.members.is_empty() {
        s.push_str("No reps yet.\n");
    } else {
        s.push_str(&(rally::handlers::table(&rows, &[1, 2]).join("\n") + "\n"));
    }
    if !r.teams.is_empty() {
        s.push('\n');
        let mut rows = vec![vec![
            "#".to_string(),
            "Team".into(),
            "Members".into(),
            "Points".into(),
            "Per member".into(),
            "vs prev".into(),
            "Won".into(),
            format!("Revenue {}", money.currency),
        ]];
        for t in &r.teams {
            rows.push(vec![
                t.rank.to_string(),
                t.name.clone(),
                t.members.to_string(),
                t.points.to_string(),
                format!("{:.1}", t.points_per_member),
                Change::new(t.points, t.previous_points).describe(),
                t.deals_won.to_string(),
                money.number(t.revenue_cents),
            ]);
        }
        s.push_str(&(rally::handlers::table(&rows, &[1]).join("\n") + "\n"));
    }
    s.push_str(&format!(
        "\nTotal: {} points, {} won, revenue {}\n",
        r.totals.points,
        r.totals.deals_won(),
        money.format(r.totals.revenue)
    ));
    s
}

/// `rally import --remove`: prints what became of each row, like the import does.
/// `rally import`: imports the file and prints the summary; exits 1 when rows were rejected, or
/// changed since they were imported and so left as they were.
async fn import_file(
    app: &App,
    guild: Snowflake,
    input: Box<dyn std::io::Read>,
    options: &ImportOptions,
    format: TextOrJson,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<ExitCode, AppError> {
    let summary = app.import_csv_with(guild, input, options, "cli".into(), now).await?;
    let io = output_error;
    match format {
        TextOrJson::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(&summary).unwrap_or_default()).map_err(io)?
        }
        TextOrJson::Text => write!(out, "{}", import_text(&summary)).map_err(io)?,
    }
    let clean = summary.rejected.is_empty() && summary.changed.is_empty();
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn remove_import(
    app: &App,
    guild: Snowflake,
    input: Box<dyn std::io::Read>,
    options: &ImportOptions,
    format: TextOrJson,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<ExitCode, AppError> {
    let summary = app.remove_csv_with(guild, input, options, "cli".into(), now).await?;
    let io = output_error;
    match format {
        TextOrJson::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(&summary).unwrap_or_default()).map_err(io)?
        }
        TextOrJson::Text => {
            for r in &summary.rejected {
                writeln!(out, "line {}: {}", r.line, r.reason).map_err(io)?;
            }
            writeln!(
                out,
                "{} row{}: {} removed, {} not found (never imported, or already removed), {} rejected",
                summary.rows(),
                if summary.rows() == 1 { "" } else { "s" },
                summary.removed,
                summary.not_found,
                summary.rejected.len()
            )
            .map_err(io)?;
        }
    }
    // As for an import: rejected rows make the exit code say so, for scripts.
    Ok(if summary.rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Ctrl-C, or SIGTERM (what `docker stop` and systemd send). Every acknowledged write is already
/// committed, so stopping here loses nothing; queued posts wait in the outbox for the next start.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
