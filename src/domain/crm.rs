//! What a CRM record means to rally: which activities and deals count, for whom, when and as what,
//! and how a sync pass chooses its time window. Pure: the records arrive already parsed (the
//! Pipedrive client and the intake API do that at the edge), and `now` is an argument.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::DomainError;
use super::activity::{KindName, shorten};
use super::money::Currency;
use super::pipeline::{MAX_DEAL_NAME_CHARS, MAX_STAGE_NAME_CHARS, StageName};

/// A credential (a CRM API token, a webhook password, an intake key): its `Debug` and `Display`
/// never show it, so it cannot reach a log line or a reply by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A CRM rally syncs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Pipedrive,
}

impl Provider {
    /// The name as stored and used in record keys (`pipedrive`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Pipedrive => "pipedrive",
        }
    }

    /// Reads a provider name as typed on the command line (`pipedrive`, any case).
    pub fn parse(text: &str) -> Result<Provider, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "pipedrive" => Ok(Provider::Pipedrive),
            other => Err(DomainError::invalid(format!(
                "`{}` is not a CRM rally syncs with; rally supports `pipedrive`, and any other CRM can push \
                 into rally's intake API (`rally api-key create`)",
                shorten(other, 40)
            ))),
        }
    }

    /// The name people know it by, for replies.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Pipedrive => "Pipedrive",
        }
    }
}

/// The kinds of CRM record rally syncs, each with its own watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    Activity,
    Deal,
}

impl Object {
    /// The name as stored (`activity`, `deal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Activity => "activity",
            Object::Deal => "deal",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Object> {
        match text {
            "activity" => Some(Object::Activity),
            "deal" => Some(Object::Deal),
            _ => None,
        }
    }
}

/// A CRM user (a seat in the CRM, not a Discord member), as listed by the CRM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmUser {
    /// The CRM's id for the user, as text (Pipedrive's are integers).
    pub id: String,
    pub name: String,
    pub email: String,
    pub active: bool,
}

/// An activity type of the CRM (Pipedrive's `key_string` and its label).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmType {
    pub key: String,
    pub name: String,
}

/// One stage of one CRM pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmStage {
    pub id: String,
    pub pipeline: String,
    pub pipeline_name: String,
    pub name: String,
    /// Order within its pipeline, smallest first.
    pub order: i64,
    /// Win probability of a deal in this stage, 0..=100.
    pub probability: u8,
}

/// An activity as the CRM holds it, reduced to what rally reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmActivity {
    pub id: String,
    /// The CRM user who owns it.
    pub owner: String,
    /// The activity type's key (`call`, `meeting`, a custom key).
    pub type_key: String,
    pub subject: String,
    pub done: bool,
    /// When it was marked done (UTC).
    pub done_at: Option<DateTime<Utc>>,
    /// Its due date; with `due_time` (UTC, as Pipedrive keeps it) one instant.
    pub due_date: Option<NaiveDate>,
    pub due_time: Option<NaiveTime>,
    pub deal: Option<String>,
    /// The CRM's last change of the record (UTC); orders versions of one record.
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
}

/// Where a deal stands in the CRM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

/// A deal as the CRM holds it, reduced to what rally reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmDeal {
    pub id: String,
    pub owner: String,
    pub title: String,
    /// The value in minor units of `currency`; `None` when it could not be read exactly.
    pub value: Option<i64>,
    /// The deal's ISO 4217 code as the CRM gives it.
    pub currency: String,
    pub stage: String,
    pub pipeline: String,
    pub status: DealStatus,
    /// When it was won or lost (UTC).
    pub closed_at: Option<DateTime<Utc>>,
    pub added_at: DateTime<Utc>,
    pub expected_close: Option<NaiveDate>,
    pub lost_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    /// Set when the deal was merged into another one (it is gone; the other one holds it now).
    pub merged_into: Option<String>,
    /// The CRM's next activity planned on the deal (Pipedrive's `next_activity_id`): its id, `""`
    /// when the CRM says none is planned, `None` when the CRM did not say (the hygiene rule
    /// `no-next-activity` then leaves the deal alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_activity: Option<String>,
}

/// A record of either kind, for one ingestion path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum CrmRecord {
    Activity(CrmActivity),
    Deal(CrmDeal),
}

impl CrmRecord {
    /// Which kind of record this is.
    pub fn object(&self) -> Object {
        match self {
            CrmRecord::Activity(_) => Object::Activity,
            CrmRecord::Deal(_) => Object::Deal,
        }
    }

    /// The CRM's id of the record.
    pub fn id(&self) -> &str {
        match self {
            CrmRecord::Activity(a) => &a.id,
            CrmRecord::Deal(d) => &d.id,
        }
    }

    /// The CRM user who owns the record.
    pub fn owner(&self) -> &str {
        match self {
            CrmRecord::Activity(a) => &a.owner,
            CrmRecord::Deal(d) => &d.owner,
        }
    }

    /// The CRM's last change of the record (UTC).
    pub fn updated_at(&self) -> DateTime<Utc> {
        match self {
            CrmRecord::Activity(a) => a.updated_at,
            CrmRecord::Deal(d) => d.updated_at,
        }
    }
}

/// Pipedrive's default activity types that mean one of rally's default kinds: what a new
/// connection maps by default. Every other type is ignored until a manager maps it.
pub const DEFAULT_TYPE_MAP: &[(&str, &str)] = &[("call", "call"), ("email", "email"), ("meeting", "meeting")];

/// Why a record is kept but not counted yet: it will count as soon as the reason goes away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// Its owner is not linked to a Discord member yet (`/crm link`).
    Unlinked,
    /// Done at a time still in the future (the CRM's clock or a typo): it counts once that time comes.
    Future(DateTime<Utc>),
}

impl Held {
    /// The reason as stored and shown in the status.
    pub fn reason(&self) -> String {
        match self {
            Held::Unlinked => "owner not linked".to_string(),
            Held::Future(at) => format!("done in the future ({})", at.format("%Y-%m-%d %H:%M UTC")),
        }
    }
}

/// Why a record does not count, and will not until the CRM changes it (or a manager maps its type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ignored {
    Deleted,
    NotDone,
    UnmappedType(String),
    /// Done, but with neither a done time nor a due date.
    NoTime,
    /// A deal in another currency than the guild's: never summed with it.
    OtherCurrency(String),
    /// An open deal in a pipeline the guild does not follow.
    OtherPipeline(String),
    /// A deal whose value could not be read exactly (negative, too large, or more decimals than
    /// the currency has).
    BadValue,
    /// An open deal in a stage rally has not seen in the CRM's stage list.
    UnknownStage(String),
    /// Merged into another deal, which now holds it.
    Merged(String),
    /// Mapped to a kind the guild takes from chat, not from the CRM (`rally crm source`).
    ChatKind(String),
}

impl Ignored {
    /// The reason as stored and shown in the status.
    pub fn reason(&self) -> String {
        match self {
            Ignored::Deleted => "deleted in the CRM".to_string(),
            Ignored::NotDone => "not done".to_string(),
            Ignored::UnmappedType(t) => format!("type `{}` is not mapped to a kind", shorten(t, 40)),
            Ignored::NoTime => "done, but with no done time or due date".to_string(),
            Ignored::OtherCurrency(c) => format!("in {} (not the server's currency)", shorten(c, 8)),
            Ignored::OtherPipeline(p) => format!("open in pipeline {} (not followed)", shorten(p, 40)),
            Ignored::BadValue => "value not readable in minor units".to_string(),
            Ignored::UnknownStage(s) => format!("in stage {} (unknown)", shorten(s, 20)),
            Ignored::Merged(into) => format!("merged into deal {}", shorten(into, 20)),
            Ignored::ChatKind(k) => format!("`{}` is logged in chat, not taken from the CRM", shorten(k, 40)),
        }
    }
}

/// What one CRM activity is to rally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credit {
    /// One activity of `kind` at `at`, credited to the linked member.
    Count {
        kind: KindName,
        at: DateTime<Utc>,
    },
    Held(Held),
    Ignored(Ignored),
}

/// The instant a done activity is credited at: its done time, else its due date and time (one UTC
/// instant), else noon of its due date in the guild's timezone (a date-only activity belongs to that
/// local day). `None` when it has neither.
pub fn activity_time<Z: TimeZone>(a: &CrmActivity, tz: &Z) -> Option<DateTime<Utc>> {
    if let Some(at) = a.done_at {
        return Some(at);
    }
    let date = a.due_date?;
    match a.due_time {
        Some(time) => Some(Utc.from_utc_datetime(&date.and_time(time))),
        None => {
            let noon = date.and_hms_opt(12, 0, 0)?;
            // Noon is never inside a DST gap in practice; the earliest reading is taken if it were ambiguous.
            tz.from_local_datetime(&noon).earliest().map(|t| t.with_timezone(&Utc))
        }
    }
}

/// Decides what a CRM activity counts as. `kind`: the rally kind its type is mapped to (`None`:
/// unmapped); `linked`: whether its owner is linked to a member. Order of the reasons: a deleted or
/// undone activity is ignored whoever owns it; an unmapped type is ignored before the owner is
/// looked at, so that linking a user never surfaces types nobody counts.
pub fn credit_activity<Z: TimeZone>(
    a: &CrmActivity,
    kind: Option<&KindName>,
    linked: bool,
    tz: &Z,
    now: DateTime<Utc>,
) -> Credit {
    if a.deleted {
        return Credit::Ignored(Ignored::Deleted);
    }
    if !a.done {
        return Credit::Ignored(Ignored::NotDone);
    }
    let Some(kind) = kind else {
        return Credit::Ignored(Ignored::UnmappedType(a.type_key.clone()));
    };
    let Some(at) = activity_time(a, tz) else {
        return Credit::Ignored(Ignored::NoTime);
    };
    if !linked {
        return Credit::Held(Held::Unlinked);
    }
    if at > now {
        return Credit::Held(Held::Future(at));
    }
    Credit::Count { kind: kind.clone(), at }
}

/// How a CRM deal enters rally's pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DealPlan {
    /// Kept in rally's pipeline as this.
    Track(TrackedDeal),
    Held(Held),
    Ignored(Ignored),
}

/// A deal as rally keeps it, in the guild's currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedDeal {
    pub name: String,
    /// Minor units of the guild's currency.
    pub value: i64,
    /// The rally stage it is in while open (`None` once closed: the terminal stage).
    pub stage: Option<StageName>,
    pub expected_close: Option<NaiveDate>,
    pub opened_at: DateTime<Utc>,
    /// Won or lost, and when (UTC).
    pub closed: Option<(super::pipeline::Outcome, DateTime<Utc>)>,
    pub lost_reason: Option<String>,
}

/// Decides how a CRM deal enters rally's pipeline. `stage`: the rally stage its CRM stage maps to
/// (`None`: not a stage of the followed pipeline); `followed`: the CRM pipeline the guild's stages
/// come from. Won and lost deals count from any pipeline (revenue is revenue); open ones only from
/// the followed pipeline, whose stages rally knows.
pub fn plan_deal(
    d: &CrmDeal,
    currency: Currency,
    stage: Option<&StageName>,
    followed: Option<&str>,
    linked: bool,
    now: DateTime<Utc>,
) -> DealPlan {
    if let Some(into) = &d.merged_into {
        return DealPlan::Ignored(Ignored::Merged(into.clone()));
    }
    if d.deleted {
        return DealPlan::Ignored(Ignored::Deleted);
    }
    if !d.currency.eq_ignore_ascii_case(currency.code()) {
        return DealPlan::Ignored(Ignored::OtherCurrency(d.currency.clone()));
    }
    let Some(value) = d.value else {
        return DealPlan::Ignored(Ignored::BadValue);
    };
    let closed = match d.status {
        DealStatus::Open => None,
        DealStatus::Won => Some(super::pipeline::Outcome::Won),
        DealStatus::Lost => Some(super::pipeline::Outcome::Lost),
    };
    if closed.is_none() {
        if followed.is_some_and(|p| p != d.pipeline) {
            return DealPlan::Ignored(Ignored::OtherPipeline(d.pipeline.clone()));
        }
        if stage.is_none() {
            return DealPlan::Ignored(Ignored::UnknownStage(d.stage.clone()));
        }
    }
    if !linked {
        return DealPlan::Held(Held::Unlinked);
    }
    let closed = match closed {
        Some(outcome) => {
            let at = d.closed_at.unwrap_or(d.updated_at);
            if at > now {
                return DealPlan::Held(Held::Future(at));
            }
            Some((outcome, at))
        }
        None => None,
    };
    DealPlan::Track(TrackedDeal {
        name: deal_name(&d.title, &d.id),
        value,
        stage: if closed.is_some() { None } else { stage.cloned() },
        expected_close: d.expected_close,
        opened_at: d.added_at.min(now),
        closed,
        lost_reason: d.lost_reason.as_ref().map(|r| shorten(r.trim(), super::pipeline::MAX_REASON_CHARS)),
    })
}

/// A deal's name in rally: its CRM title, shortened to fit, or `Deal <id>` when it has none.
pub fn deal_name(title: &str, id: &str) -> String {
    let cleaned: String = title.chars().filter(|c| !c.is_control()).collect();
    let t = cleaned.trim();
    if t.is_empty() { format!("Deal {}", shorten(id, 40)) } else { shorten(t, MAX_DEAL_NAME_CHARS) }
}

/// A rally stage name for a CRM stage: its name in lowercase with runs of other characters as one
/// `-` (`Proposal Made` -> `proposal-made`), `stage-<id>` when nothing is left, and a `-2`, `-3`
/// ... suffix when `taken` already holds it.
pub fn stage_slug(name: &str, id: &str, taken: &[StageName]) -> StageName {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let base = if slug.is_empty() || slug == "won" || slug == "lost" {
        format!("stage-{}", id.chars().filter(char::is_ascii_alphanumeric).take(20).collect::<String>())
    } else {
        slug.chars().take(MAX_STAGE_NAME_CHARS - 3).collect()
    };
    let base = base.trim_end_matches('-').to_string();
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.iter().any(|t| t.as_str() == candidate) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    // Only ASCII letters, digits and `-` are left, 1..=32 of them: always a valid stage name.
    StageName::parse(&candidate).unwrap_or_else(|_| StageName::parse("stage").expect("a valid stage name"))
}

/// Reads a CRM's money value (major units, as JSON numbers carry it: `1250.5`) as an exact count of
/// minor units of a currency with `exponent` digits. `None` for a negative value, one beyond i64, or
/// one with more decimals than the currency has (never rounded silently).
pub fn minor_units(value: f64, exponent: u32) -> Option<i64> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    // Rust prints the shortest text that reads back as the same f64: the number as the CRM wrote it.
    let text = format!("{value}");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if text.contains('e') || fraction.len() > exponent as usize {
        return None;
    }
    let mut digits = whole.to_string();
    digits.push_str(fraction);
    for _ in fraction.len()..exponent as usize {
        digits.push('0');
    }
    digits.parse::<i64>().ok()
}

/// The CRM time window one sync pass of one object reads: records updated in [since, until).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// `None`: from the beginning (a backfill).
    pub since: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
}

/// How far each pass reaches back before the last watermark: a record updated while the previous
/// pass ran, or stamped by a CRM clock a little behind ours, is read again rather than missed.
/// Reading a record twice changes nothing (its stored version is compared first).
pub const OVERLAP: Duration = Duration::minutes(5);

/// The window of a new pass: from the watermark less [`OVERLAP`] (or from `since` when the operator
/// asks for an earlier start, or from the beginning on the first pass) up to `now`.
pub fn next_window(watermark: Option<DateTime<Utc>>, since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Window {
    let from_mark = watermark.map(|w| w - OVERLAP);
    let since = match (from_mark, since) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b).filter(|_| watermark.is_some() || since.is_some()),
    };
    Window { since: since.filter(|s| *s < now), until: now }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn activity() -> CrmActivity {
        CrmActivity {
            id: "7".into(),
            owner: "1".into(),
            type_key: "call".into(),
            subject: "Intro call".into(),
            done: true,
            done_at: Some(at("2026-11-02T09:15:00Z")),
            due_date: Some(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()),
            due_time: Some(NaiveTime::from_hms_opt(8, 0, 0).unwrap()),
            deal: None,
            updated_at: at("2026-11-02T09:15:00Z"),
            deleted: false,
        }
    }

    fn call() -> KindName {
        KindName::parse("call").unwrap()
    }

    #[test]
    fn a_done_activity_counts_at_its_done_time() {
        let now = at("2026-11-03T00:00:00Z");
        let c = credit_activity(&activity(), Some(&call()), true, &Utc, now);
        assert_eq!(c, Credit::Count { kind: call(), at: at("2026-11-02T09:15:00Z") });
    }

    #[test]
    fn without_a_done_time_the_due_date_and_time_are_one_utc_instant() {
        let a = CrmActivity { done_at: None, ..activity() };
        let c = credit_activity(&a, Some(&call()), true, &chrono_tz::Europe::Berlin, at("2026-11-03T00:00:00Z"));
        assert_eq!(c, Credit::Count { kind: call(), at: at("2026-11-02T08:00:00Z") });
    }

    #[test]
    fn a_date_only_activity_belongs_to_that_local_day() {
        let a = CrmActivity { done_at: None, due_time: None, ..activity() };
        let tz = chrono_tz::Pacific::Auckland;
        let t = activity_time(&a, &tz).unwrap();
        assert_eq!(t.with_timezone(&tz).date_naive(), NaiveDate::from_ymd_opt(2026, 11, 2).unwrap());
    }

    #[test]
    fn undone_deleted_unmapped_unlinked_and_future_activities_do_not_count() {
        let now = at("2026-11-03T00:00:00Z");
        let k = call();
        let undone = CrmActivity { done: false, ..activity() };
        assert_eq!(credit_activity(&undone, Some(&k), true, &Utc, now), Credit::Ignored(Ignored::NotDone));
        let deleted = CrmActivity { deleted: true, ..activity() };
        assert_eq!(credit_activity(&deleted, Some(&k), true, &Utc, now), Credit::Ignored(Ignored::Deleted));
        assert_eq!(
            credit_activity(&activity(), None, true, &Utc, now),
            Credit::Ignored(Ignored::UnmappedType("call".into()))
        );
        assert_eq!(credit_activity(&activity(), Some(&k), false, &Utc, now), Credit::Held(Held::Unlinked));
        let early = at("2026-11-01T00:00:00Z");
        assert_eq!(
            credit_activity(&activity(), Some(&k), true, &Utc, early),
            Credit::Held(Held::Future(at("2026-11-02T09:15:00Z")))
        );
        let timeless = CrmActivity { done_at: None, due_date: None, ..activity() };
        assert_eq!(credit_activity(&timeless, Some(&k), true, &Utc, now), Credit::Ignored(Ignored::NoTime));
    }

    fn deal() -> CrmDeal {
        CrmDeal {
            id: "42".into(),
            owner: "1".into(),
            title: "Acme renewal".into(),
            value: Some(125_050),
            currency: "USD".into(),
            stage: "3".into(),
            pipeline: "1".into(),
            status: DealStatus::Open,
            closed_at: None,
            added_at: at("2026-10-01T10:00:00Z"),
            expected_close: None,
            lost_reason: None,
            updated_at: at("2026-11-01T10:00:00Z"),
            deleted: false,
            merged_into: None,
            next_activity: None,
        }
    }

    #[test]
    fn deals_in_another_currency_or_unfollowed_pipeline_are_ignored_but_wins_count_anywhere() {
        let now = at("2026-11-03T00:00:00Z");
        let stage = StageName::parse("proposal").unwrap();
        let eur = CrmDeal { currency: "EUR".into(), ..deal() };
        assert_eq!(
            plan_deal(&eur, Currency::USD, Some(&stage), Some("1"), true, now),
            DealPlan::Ignored(Ignored::OtherCurrency("EUR".into()))
        );
        let elsewhere = CrmDeal { pipeline: "2".into(), ..deal() };
        assert_eq!(
            plan_deal(&elsewhere, Currency::USD, None, Some("1"), true, now),
            DealPlan::Ignored(Ignored::OtherPipeline("2".into()))
        );
        let won = CrmDeal { status: DealStatus::Won, closed_at: Some(at("2026-11-02T12:00:00Z")), ..elsewhere };
        let DealPlan::Track(t) = plan_deal(&won, Currency::USD, None, Some("1"), true, now) else { panic!() };
        assert_eq!(t.closed, Some((super::super::pipeline::Outcome::Won, at("2026-11-02T12:00:00Z"))));
        assert_eq!(t.value, 125_050);
    }

    #[test]
    fn money_values_are_read_exactly_or_not_at_all() {
        assert_eq!(minor_units(1250.5, 2), Some(125_050));
        assert_eq!(minor_units(0.1 + 0.2, 2), None, "0.30000000000000004 has more decimals than cents");
        assert_eq!(minor_units(19.99, 2), Some(1999));
        assert_eq!(minor_units(1000.0, 0), Some(1000));
        assert_eq!(minor_units(1.5, 0), None);
        assert_eq!(minor_units(-1.0, 2), None);
        assert_eq!(minor_units(1e300, 2), None);
        assert_eq!(minor_units(0.125, 3), Some(125));
    }

    #[test]
    fn stage_names_become_slugs_without_clashes() {
        let first = stage_slug("Proposal Made", "4", &[]);
        assert_eq!(first.as_str(), "proposal-made");
        assert_eq!(stage_slug("Proposal made!", "5", std::slice::from_ref(&first)).as_str(), "proposal-made-2");
        assert_eq!(stage_slug("Won", "9", &[]).as_str(), "stage-9");
        assert_eq!(stage_slug("Überprüfung", "6", &[]).as_str(), "berpr-fung");
        assert_eq!(stage_slug("???", "7", &[]).as_str(), "stage-7");
    }

    #[test]
    fn a_pass_reaches_back_before_the_watermark_by_the_overlap() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap();
        assert_eq!(next_window(None, None, now), Window { since: None, until: now });
        let mark = now - Duration::hours(1);
        assert_eq!(next_window(Some(mark), None, now).since, Some(mark - OVERLAP));
        let early = now - Duration::days(30);
        assert_eq!(next_window(Some(mark), Some(early), now).since, Some(early));
        assert_eq!(next_window(None, Some(early), now).since, Some(early));
    }
}
