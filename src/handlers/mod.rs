//! Slash-command handlers, one file per manifest in `commands/` (commands/log.json <->
//! handlers/log.rs): typed options in, one `app` call, a [`Response`] out. Transport-agnostic:
//! the gateway client, the HTTP endpoint, `rally exec` and `rally demo` all build an
//! [`Invocation`] and call [`dispatch`]. Must not import serenity, axum or rusqlite.

use serde::Serialize;

use crate::domain::activity::Snowflake;

/// Discord's MANAGE_GUILD permission bit ("Manage Server").
pub const MANAGE_GUILD: u64 = 1 << 5;
/// Discord's ADMINISTRATOR permission bit (implies every other).
pub const ADMINISTRATOR: u64 = 1 << 3;
/// Discord's MANAGE_ROLES permission bit.
pub const MANAGE_ROLES: u64 = 1 << 28;

/// One interaction, whatever transport it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// The interaction id: the idempotency key of whatever the interaction writes.
    pub id: u64,
    pub guild: Snowflake,
    pub channel: Option<u64>,
    pub user: Snowflake,
    /// The member's display name in the guild (nick, global name or username).
    pub user_name: String,
    pub roles: Vec<u64>,
    /// The member's permissions in the channel, as Discord computed them.
    pub permissions: u64,
    /// The bot's own permissions in the channel, as Discord computed them; `None` off Discord.
    pub app_permissions: Option<u64>,
    /// Display names Discord resolved for users mentioned in the options.
    pub resolved_users: Vec<(u64, String)>,
    /// The server's preferred locale (`guild_locale`, e.g. `de`), which gives a guild that has not
    /// chosen them its currency and number format; `None` off Discord.
    pub locale: Option<String>,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A slash command was run.
    Command(CommandCall),
    /// The user is typing into an autocomplete option named `focused`.
    Autocomplete { call: CommandCall, focused: String },
    /// A button on one of our messages was pressed.
    Button { custom_id: String },
    /// A form rally opened ([`Response::Modal`]) was submitted: its `custom_id` and each text
    /// input's (`custom_id`, value) in order, values as typed (an empty optional input is `""`).
    ModalSubmit { custom_id: String, fields: Vec<(String, String)> },
}

/// A command with its subcommand and options, as the user gave them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CommandCall {
    pub name: String,
    pub sub: Option<String>,
    pub options: Vec<(String, OptionValue)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    User(u64),
    Channel(u64),
    Role(u64),
}

/// What the bot answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Response {
    Message(Message),
    /// Autocomplete suggestions (at most 25).
    Choices(Vec<Choice>),
    /// A form to fill in (Discord's modal, interaction response type 9); its submission comes back
    /// as [`Action::ModalSubmit`].
    Modal(Modal),
}

/// A form of short text inputs (Discord's modal): a title up to 45 characters, a `custom_id` up to
/// 100, and one to five inputs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Modal {
    pub custom_id: String,
    pub title: String,
    pub inputs: Vec<TextInput>,
}

/// One single-line text input of a [`Modal`]: its label (up to 45 characters), whether it must be
/// filled, its most characters (1..=4000), and a placeholder (up to 100 characters).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TextInput {
    pub custom_id: String,
    pub label: String,
    pub required: bool,
    pub max_length: u16,
    pub placeholder: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize)]
pub struct Message {
    pub content: Option<String>,
    pub embeds: Vec<Embed>,
    pub buttons: Vec<Button>,
    pub attachments: Vec<Attachment>,
    /// Only the user who ran the command sees it.
    pub ephemeral: bool,
    /// This answers a button press by replacing the message the button is on (a page turned),
    /// rather than sending a new one.
    pub update: bool,
    /// Buttons per action row, 1..=5; `None` fills rows of five (Discord's most). A list with a
    /// pair of buttons per item asks for 2, so each item's buttons sit on a row of their own.
    pub row_width: Option<usize>,
    /// Buttons in each action row, in order, when the rows differ in length (a row per item, some
    /// items with fewer buttons); empty: rows of [`Message::row_width`]. Buttons past their sum
    /// fill rows of five.
    pub row_sizes: Vec<usize>,
}

impl Message {
    /// Buttons per action row as rendered: [`Message::row_width`] within 1..=5.
    pub fn buttons_per_row(&self) -> usize {
        self.row_width.unwrap_or(MAX_BUTTONS_PER_ROW).clamp(1, MAX_BUTTONS_PER_ROW)
    }

    /// The buttons as rendered, one slice per action row (none empty, none over five).
    pub fn button_rows(&self) -> Vec<&[Button]> {
        let mut rows = Vec::new();
        let mut rest = self.buttons.as_slice();
        for size in &self.row_sizes {
            let size = (*size).clamp(1, MAX_BUTTONS_PER_ROW).min(rest.len());
            if size == 0 {
                break;
            }
            let (row, tail) = rest.split_at(size);
            rows.push(row);
            rest = tail;
        }
        let width = if self.row_sizes.is_empty() { self.buttons_per_row() } else { MAX_BUTTONS_PER_ROW };
        rows.extend(rest.chunks(width));
        rows
    }
}

/// Discord's most buttons in one action row.
pub const MAX_BUTTONS_PER_ROW: usize = 5;
/// Discord's most action rows in one message.
pub const MAX_ACTION_ROWS: usize = 5;

#[derive(Clone, Debug, PartialEq, Default, Serialize)]
pub struct Embed {
    pub title: Option<String>,
    pub description: Option<String>,
    pub fields: Vec<Field>,
    pub footer: Option<String>,
    pub color: Option<u32>,
    /// The file name of an attachment to show as the embed's image.
    pub image: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Button {
    pub custom_id: String,
    pub label: String,
    pub style: ButtonStyle,
    /// Shown greyed out (◀ on the first page).
    pub disabled: bool,
    /// A link button: opens this URL (a deal in the CRM) instead of sending an interaction;
    /// `custom_id` and `style` are then not sent.
    pub url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ButtonStyle {
    Primary,
    Secondary,
    Danger,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attachment {
    pub filename: String,
    #[serde(skip)]
    pub data: Vec<u8>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    pub name: String,
    pub value: String,
}

pub mod cmdline;
mod format;
pub mod limits;
pub mod manifests;

pub mod celebrate;
mod comp;
pub mod compete;
mod crm;
mod deal;
mod export;
mod forecast;
mod funnel;
mod goal;
mod help;
pub mod hygiene;
mod kpi;
mod leaderboard;
mod log;
mod me;
mod mentor;
mod nudges;
pub mod paging;
mod review;
mod reward;
mod schedule;
mod settings;
mod team;
mod undo;
mod wallboard;

pub use celebrate::{CelebrationPost, celebration_posts};
pub use format::{clip, fit_lines, table};
pub use nudges::milestone_posts;

use chrono::{DateTime, Utc};

use crate::app::{App, AppError, AppResult};
use crate::domain::period::PeriodSpec;

/// The command names that have a handler; a test checks this against `commands/`.
pub const HANDLED: &[&str] = &[
    "celebrate",
    "comp",
    "compete",
    "crm",
    "deal",
    "export",
    "forecast",
    "funnel",
    "goal",
    "help",
    "hygiene",
    "kpi",
    "leaderboard",
    "log",
    "me",
    "mentor",
    "nudges",
    "review",
    "reward",
    "schedule",
    "settings",
    "team",
    "undo",
    "wallboard",
];

/// Everything a handler needs besides its options.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub inv: &'a Invocation,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    /// The display name Discord resolved for a mentioned user, if any.
    pub fn resolved_name(&self, user: u64) -> Option<&str> {
        self.inv.resolved_users.iter().find(|(id, _)| *id == user).map(|(_, n)| n.as_str())
    }

    /// The guild's settings, with the currency and number format its locale implies where the
    /// guild has chosen none yet (see [`App::settings_with_locale`]).
    pub async fn settings(&self) -> AppResult<crate::domain::settings::GuildSettings> {
        self.app.settings_with_locale(self.inv.guild, self.inv.locale.as_deref()).await
    }

    /// Who did it, for the audit trail.
    pub fn actor(&self) -> String {
        format!("user:{}", self.inv.user)
    }

    /// Managers hold Manage Server (or Administrator), or the guild's configured manager role.
    /// Checked here as well as by Discord, since server owners can override command permissions.
    pub async fn is_manager(&self) -> AppResult<bool> {
        if self.inv.permissions & (MANAGE_GUILD | ADMINISTRATOR) != 0 {
            return Ok(true);
        }
        let settings = self.app.settings(self.inv.guild).await?;
        Ok(settings.manager_role.is_some_and(|role| self.inv.roles.contains(&role)))
    }

    /// Whether this answer is a post nobody asked for (a schedule's), rendered with the guild's own
    /// id standing in as the caller: everyone in the channel reads it.
    pub fn is_post(&self) -> bool {
        self.inv.user == self.inv.guild
    }

    /// Whether a reply may show other members' money (revenue, deal values, money goals and
    /// quotas, commission). Always where the guild shows money to everyone. Under
    /// `/settings privacy money:managers`, only in a reply only a manager reads: never in a
    /// `public` reply or a post, which reps read too.
    pub async fn sees_others_money(&self, public: bool) -> AppResult<bool> {
        if everyone_sees_money(&self.app.settings(self.inv.guild).await?) {
            return Ok(true);
        }
        Ok(!public && !self.is_post() && self.is_manager().await?)
    }

    /// Whether a reply may show `user`'s money: their own in a reply only they read, anyone's
    /// per [`Ctx::sees_others_money`].
    pub async fn sees_money_of(&self, user: u64, public: bool) -> AppResult<bool> {
        if user == self.inv.user.get() && !public && !self.is_post() {
            return Ok(true);
        }
        self.sees_others_money(public).await
    }

    pub async fn require_manager(&self) -> AppResult<()> {
        if self.is_manager().await? {
            Ok(())
        } else {
            Err(AppError::User(
                "this command is for managers (Manage Server permission or the manager role set in /settings)".into(),
            ))
        }
    }
}

/// Whether a message everyone in a channel reads may show members' money: a schedule's post, a
/// goal milestone, a competition's announcement, a `public` reply. The half of the money privacy
/// rule that needs no reader, for the posts rendered without a [`Ctx`];
/// [`Ctx::sees_others_money`] reads it for replies.
pub fn everyone_sees_money(settings: &crate::domain::settings::GuildSettings) -> bool {
    settings.money_privacy == crate::domain::settings::MoneyPrivacy::Everyone
}

/// Said once in a message that leaves amounts out under `/settings privacy money:managers`.
pub const MONEY_PRIVATE: &str = "Amounts are private on this server: your own are in /me";

/// Said once in a reply about the reader's own money that leaves their team's or the server's out.
pub const GROUP_MONEY_PRIVATE: &str = "Team and server amounts are for managers on this server";

/// `footer` with `note` (one of the notes above) added, when there is one.
pub(crate) fn with_note(footer: Option<String>, note: Option<&str>) -> Option<String> {
    match (footer, note) {
        (footer, None) => footer,
        (Some(f), Some(note)) if !f.is_empty() => Some(format!("{f} · {note}")),
        (_, Some(note)) => Some(note.to_string()),
    }
}

impl CommandCall {
    fn get(&self, name: &str) -> Option<&OptionValue> {
        self.options.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn string(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(OptionValue::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(OptionValue::Integer(i)) => Some(*i),
            Some(OptionValue::Number(n)) if n.fract() == 0.0 && n.abs() < 1e15 => Some(*n as i64),
            _ => None,
        }
    }

    /// A number option (Discord's type 10), also accepting an integer.
    pub fn get_number(&self, name: &str) -> Option<f64> {
        match self.get(name) {
            Some(OptionValue::Number(n)) => Some(*n),
            Some(OptionValue::Integer(i)) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(OptionValue::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn user(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(OptionValue::User(u)) => Some(*u),
            _ => None,
        }
    }

    pub fn channel(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(OptionValue::Channel(c)) => Some(*c),
            _ => None,
        }
    }

    pub fn role(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(OptionValue::Role(r)) => Some(*r),
            _ => None,
        }
    }

    /// A required option: a missing one is the client's fault, answered kindly.
    pub fn required_string(&self, name: &str) -> AppResult<&str> {
        self.string(name).ok_or_else(|| AppError::User(format!("the `{name}` option is required")))
    }

    /// The `period` option, defaulting to this week.
    pub fn period(&self) -> AppResult<PeriodSpec> {
        match self.string("period") {
            Some(p) if !p.trim().is_empty() => Ok(PeriodSpec::parse(p)?),
            _ => Ok(PeriodSpec::ThisWeek),
        }
    }
}

/// Runs one interaction through the pipeline. Never fails: a user error becomes a friendly
/// ephemeral reply, an internal error is logged with an id the user can quote.
pub async fn dispatch(app: &App, inv: &Invocation, now: DateTime<Utc>) -> Response {
    let ctx = Ctx { app, inv, now };
    // What money this interaction reads when the guild has not fixed it yet; fixed below if the
    // command goes through, so a refused one changes nothing.
    let unfixed_money = match (inv.locale.as_deref(), &inv.action) {
        (Some(locale), Action::Command(_) | Action::Button { .. }) => {
            app.locale_money(inv.guild, locale).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, interaction = inv.id, "the server's locale was not read for money");
                None
            })
        }
        _ => None,
    };
    let result = match &inv.action {
        Action::Command(call) => route(&ctx, call).await,
        Action::Autocomplete { call, focused } => {
            return Response::Choices(autocomplete(&ctx, call, focused).await.unwrap_or_default());
        }
        Action::Button { custom_id } => match custom_id.split_once(':').map(|(prefix, _)| prefix) {
            Some("review") => review::button(&ctx, custom_id).await,
            Some(hygiene::PREFIX) => hygiene::button(&ctx, custom_id).await,
            Some(paging::PREFIX) => paging::press(&ctx, custom_id).await,
            _ => undo::button(&ctx, custom_id).await,
        },
        Action::ModalSubmit { custom_id, fields } => match custom_id.split_once(':').map(|(prefix, _)| prefix) {
            Some(hygiene::PREFIX) => hygiene::submit(&ctx, custom_id, fields).await,
            _ => Err(AppError::User("this form is not one rally made".into())),
        },
    };
    if result.is_ok()
        && let Some(money) = unfixed_money
        && let Err(e) = app.fix_money(inv.guild, money, now).await
    {
        tracing::warn!(error = %e, interaction = inv.id, "the money settings read from the locale were not stored");
    }
    // Discord sends the member's roles (and the bot's permissions) on every guild interaction; the
    // CLI's invocations carry neither, and must not erase what Discord showed.
    if result.is_ok()
        && inv.app_permissions.is_some()
        && let Err(e) = app.note_roles(inv.guild, inv.user, &inv.roles).await
    {
        tracing::warn!(error = %e, interaction = inv.id, "the member's roles were not stored");
    }
    let response = result.unwrap_or_else(|e| error_reply(inv, e));
    match limits::check(&response) {
        Ok(()) => response,
        Err(problems) => {
            // A bug in a handler, not the user's fault: Discord would drop this reply silently.
            tracing::error!(interaction = inv.id, problems, "a reply exceeds Discord's limits");
            error_reply(
                inv,
                AppError::User(
                    "that reply came out too long for Discord; try a shorter period or a single team".into(),
                ),
            )
        }
    }
}

async fn route(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    match call.name.as_str() {
        "log" => log::handle(ctx, call).await,
        "undo" => undo::handle(ctx, call).await,
        "me" => me::handle(ctx, call).await,
        "kpi" => kpi::handle(ctx, call).await,
        "leaderboard" => leaderboard::handle(ctx, call).await,
        "team" => team::handle(ctx, call).await,
        "settings" => settings::handle(ctx, call).await,
        "export" => export::handle(ctx, call).await,
        "help" => help::handle(ctx, call).await,
        "hygiene" => hygiene::handle(ctx, call).await,
        "deal" => deal::handle(ctx, call).await,
        "funnel" => funnel::handle(ctx, call).await,
        "mentor" => mentor::handle(ctx, call).await,
        "nudges" => nudges::handle(ctx, call).await,
        "wallboard" => wallboard::handle(ctx, call).await,
        "goal" => goal::handle(ctx, call).await,
        "forecast" => forecast::handle(ctx, call).await,
        "comp" => comp::handle(ctx, call).await,
        "compete" => compete::handle(ctx, call).await,
        "crm" => crm::handle(ctx, call).await,
        "schedule" => schedule::handle(ctx, call).await,
        "review" => review::handle(ctx, call).await,
        "reward" => reward::handle(ctx, call).await,
        "celebrate" => celebrate::handle(ctx, call).await,
        other => Err(AppError::User(format!(
            "rally does not know the command `/{}`",
            crate::domain::activity::shorten(other, 32)
        ))),
    }
}

/// Where a message the bot sends on its own goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    Channel(u64),
    Dm(u64),
}

/// A message the scheduler delivers. `key` tells apart the messages of one slot (a user id for
/// nudges) so that each gets its own nonce; empty for a schedule's one post.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub to: Recipient,
    pub key: String,
    pub message: Message,
    /// Hygiene breach state keys this message tells of, noted as fired when it is queued.
    pub marks: Vec<String>,
}

/// Everything a schedule sends at `slot`: none when there is nothing to send (leaderboards off,
/// nobody behind pace).
pub async fn scheduled_posts(
    app: &App,
    schedule: &crate::app::schedules::ScheduleRow,
    slot: DateTime<Utc>,
) -> AppResult<Vec<Outgoing>> {
    let post = match schedule.what.as_str() {
        "leaderboard" | "team-summary" => {
            scheduled_post(app, schedule.guild_id, &schedule.what, &schedule.params, slot).await?
        }
        "competition" => compete::scheduled(app, schedule.guild_id, &schedule.params, slot).await?,
        // Nudges and reminders go to many people, each with a key of their own.
        "nudges" => return nudges::nudge_posts(app, schedule, slot).await,
        "hygiene" => return nudges::hygiene_posts(app, schedule, slot).await,
        other => return Err(AppError::User(format!("rally cannot post `{other}` on a schedule"))),
    };
    Ok(post
        .into_iter()
        .map(|message| Outgoing {
            to: Recipient::Channel(schedule.channel_id),
            key: String::new(),
            message,
            marks: Vec::new(),
        })
        .collect())
}

/// The one message a channel schedule posts at `slot`, rendered through the same handlers as the
/// commands, as a manager would see it but public; `None` when there is nothing to post.
async fn scheduled_post(
    app: &App,
    guild: i64,
    what: &str,
    params: &serde_json::Value,
    slot: DateTime<Utc>,
) -> AppResult<Option<Message>> {
    let param =
        |k: &str| params.get(k).and_then(|v| v.as_str()).map(|v| (k.to_string(), OptionValue::String(v.to_string())));
    let call = match what {
        "leaderboard" => {
            if !app.leaderboards_enabled(Snowflake::new(guild as u64)?).await? {
                return Ok(None);
            }
            CommandCall {
                name: "leaderboard".into(),
                sub: None,
                options: ["metric", "period", "scope", "team"].into_iter().filter_map(param).collect(),
            }
        }
        "team-summary" => CommandCall {
            name: "kpi".into(),
            sub: Some("team".into()),
            options: ["team", "period"].into_iter().filter_map(param).collect(),
        },
        other => return Err(AppError::User(format!("rally cannot post `{other}` on a schedule yet"))),
    };
    let guild = crate::domain::activity::Snowflake::new(guild as u64)?;
    // Nobody runs a scheduled post: the guild's own id stands in as the caller (never a member),
    // with a manager's rights so that team summaries render.
    let inv = Invocation {
        id: slot.timestamp_millis().unsigned_abs(),
        guild,
        channel: None,
        user: guild,
        user_name: "rally".into(),
        roles: Vec::new(),
        permissions: MANAGE_GUILD,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action: Action::Command(call.clone()),
    };
    let ctx = Ctx { app, inv: &inv, now: slot };
    let response = match what {
        "leaderboard" => leaderboard::board(&ctx, &call, true).await?,
        _ => route(&ctx, &call).await?,
    };
    match response {
        Response::Message(mut m) => {
            m.ephemeral = false;
            // Page buttons stay: whoever presses one gets that page for themselves.
            m.buttons.retain(|b| paging::is_page_button(&b.custom_id));
            Ok(Some(m))
        }
        Response::Choices(_) | Response::Modal(_) => Ok(None),
    }
}

/// An ephemeral error reply; internal errors get an id that also appears in the log.
pub fn error_reply(inv: &Invocation, e: AppError) -> Response {
    let text = match e {
        AppError::User(message) => format!("⚠️ {message}"),
        AppError::Internal(inner) => {
            let error_id = format!("{:x}", inv.id ^ 0x5eed);
            tracing::error!(error_id, error = ?inner, interaction = inv.id, "internal error");
            format!(
                "⚠️ Something went wrong on our side (error id `{error_id}`). Please try again; if it keeps happening, tell your admin."
            )
        }
    };
    Response::Message(Message { content: Some(text), ephemeral: true, ..Message::default() })
}

/// Suggestions for the option being typed, at most 25, filtered by what was typed so far.
async fn autocomplete(ctx: &Ctx<'_>, call: &CommandCall, focused: &str) -> AppResult<Vec<Choice>> {
    let typed = call.string(focused).unwrap_or("").trim().to_lowercase();
    let guild = ctx.inv.guild;
    let candidates: Vec<(String, String)> = match (call.name.as_str(), focused) {
        ("compete", "name") | ("schedule", "competition") => ctx
            .app
            .competitions(guild, ctx.now)
            .await?
            .into_iter()
            .filter(|c| c.row.ended_at.is_none() || call.sub.as_deref() == Some("show"))
            .map(|c| (c.row.name.clone(), c.row.name))
            .collect(),
        (_, "period") | ("compete", "start" | "end") => {
            PERIOD_SUGGESTIONS.iter().map(|p| (p.to_string(), p.to_string())).collect()
        }
        (_, "team") => ctx.app.teams(guild).await?.into_iter().map(|t| (t.name.clone(), t.name)).collect(),
        ("log", "kind") | ("settings", "name") => ctx
            .app
            .kinds(guild)
            .await?
            .into_iter()
            .map(|k| {
                let label = format!("{} ({} pt{})", k.name, k.points, if k.points == 1 { "" } else { "s" });
                (label, k.name.as_str().to_string())
            })
            .collect(),
        ("goal" | "compete" | "reward", "metric") => {
            let mut v = vec![
                ("points".to_string(), "points".to_string()),
                ("revenue (amount of won deals)".to_string(), "revenue".to_string()),
                ("deals-won (number of won deals)".to_string(), "deals-won".to_string()),
            ];
            // `won` is deals-won already; offering both would invite two goals for one thing.
            v.extend(
                ctx.app
                    .kinds(guild)
                    .await?
                    .into_iter()
                    .filter(|k| k.name.as_str() != "won")
                    .map(|k| (format!("{} (activities)", k.name), k.name.to_string())),
            );
            v
        }
        ("crm", "crm-user") => ctx
            .app
            .crm_users(guild.as_i64())
            .await?
            .into_iter()
            .map(|u| {
                let linked = u.linked.map_or(String::new(), |_| " · linked".to_string());
                (format!("{} <{}>{linked}", u.name, u.email), u.id)
            })
            .collect(),
        ("crm", "type") => ctx
            .app
            .crm_types(guild.as_i64())
            .await?
            .into_iter()
            .map(|t| (format!("{} → {}", t.name, t.kind.as_deref().unwrap_or("ignored")), t.key))
            .collect(),
        ("crm", "kind") => {
            let mut v = vec![("ignore (do not count it)".to_string(), "ignore".to_string())];
            v.extend(ctx.app.kinds(guild).await?.into_iter().map(|k| (k.name.to_string(), k.name.to_string())));
            v
        }
        ("deal", "deal") => {
            let money = ctx.settings().await?.money();
            ctx.app
                .open_deals_of(guild, ctx.inv.user)
                .await?
                .into_iter()
                .map(|d| {
                    let label = format!("{} · {} · {}", d.name, d.stage, money.format(d.value));
                    (label, d.name)
                })
                .collect()
        }
        // Listing may ask for closed deals; everywhere else a deal can only sit in an open stage.
        ("hygiene", "stage") => ctx
            .app
            .pipeline(guild)
            .await?
            .open_stages()
            .into_iter()
            .map(|s| (s.name.to_string(), s.name.to_string()))
            .collect(),
        ("deal", "stage") => ctx
            .app
            .pipeline(guild)
            .await?
            .stages()
            .iter()
            .filter(|s| s.is_open() || call.sub.as_deref() == Some("list"))
            .map(|s| (format!("{} ({} %)", s.name, s.probability), s.name.to_string()))
            .collect(),
        ("leaderboard" | "schedule", "metric") => {
            let mut v: Vec<(String, String)> = [
                ("points", "points"),
                ("revenue", "revenue"),
                ("goal (% of each one's goal)", "goal"),
                ("improvement (against their previous period)", "improvement"),
            ]
            .into_iter()
            .map(|(label, value)| (label.to_string(), value.to_string()))
            .collect();
            v.extend(ctx.app.kinds(guild).await?.into_iter().map(|k| (k.name.to_string(), k.name.to_string())));
            v
        }
        ("settings", "code") => crate::domain::money::Currency::all()
            .filter(|c| c.code().to_lowercase().contains(&typed) || c.name().to_lowercase().contains(&typed))
            .take(25)
            .map(|c| (format!("{} · {}", c.code(), c.name()), c.code().to_string()))
            .collect(),
        ("settings", "timezone") => chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| tz.name())
            .filter(|name| name.to_lowercase().contains(&typed))
            .take(25)
            .map(|name| (name.to_string(), name.to_string()))
            .collect(),
        _ => Vec::new(),
    };
    Ok(candidates
        .into_iter()
        .filter(|(name, value)| {
            typed.is_empty() || name.to_lowercase().contains(&typed) || value.to_lowercase().starts_with(&typed)
        })
        .take(25)
        .map(|(name, value)| Choice { name: crate::domain::activity::shorten(&name, 100), value })
        .collect())
}

const PERIOD_SUGGESTIONS: &[&str] = &[
    "today",
    "yesterday",
    "this-week",
    "last-week",
    "this-month",
    "last-month",
    "this-quarter",
    "last-quarter",
    "this-year",
    "last-year",
];

/// A plain ephemeral text reply.
pub fn private(text: impl Into<String>) -> Response {
    Response::Message(Message { content: Some(text.into()), ephemeral: true, ..Message::default() })
}
