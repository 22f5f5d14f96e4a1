//! The intake API's use cases: any CRM (HubSpot or Salesforce workflows, Zapier, Make, n8n) pushes
//! activities and deals keyed by its own `external_id`. Bodies are read field by field, so a sender
//! gets every problem at once, each named by its field; nothing is stored unless all are right. A
//! resend changes nothing; a changed resend updates the record in place.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{App, AppError, AppResult};
use crate::domain::activity::{
    Amount, DealRef, KindName, Name, Note, Quantity, Snowflake, Source, check_amount, shorten, unknown_kind,
};
use crate::domain::crm::{TrackedDeal, deal_name};
use crate::domain::money::Currency;
use crate::domain::pipeline::{LostReason, Outcome, StageName};
use crate::store::NewActivity;
use crate::store::intake::ApiKeyRow;

/// Whether an intake record was created or was there already, as the storage interface says it
/// (its type; for now the SQLite store's own, later backend-neutral).
pub use crate::store::intake::Upserted;

/// The longest `external_id` accepted.
pub const MAX_EXTERNAL_ID: usize = 200;
/// How far ahead of rally's clock an `occurred_at` may be (a sender's clock a little fast).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// One problem with one field of a body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name (`kind`, `amount`), or `(body)` for the body as a whole.
    pub field: String,
    pub message: String,
}

/// Why an intake request stored nothing.
#[derive(Debug)]
pub enum IntakeError {
    /// The body is wrong: every problem, by field.
    Invalid(Vec<FieldError>),
    /// Something else (a store failure).
    App(AppError),
}

impl From<AppError> for IntakeError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::User(message) => IntakeError::Invalid(vec![FieldError { field: "(body)".into(), message }]),
            other => IntakeError::App(other),
        }
    }
}

impl From<crate::store::StoreError> for IntakeError {
    fn from(e: crate::store::StoreError) -> Self {
        IntakeError::from(AppError::from(e))
    }
}

/// What an accepted activity became.
#[derive(Clone, Debug, Serialize)]
pub struct IntakeActivity {
    pub status: Upserted,
    pub id: i64,
    pub external_id: String,
    pub user_id: String,
    pub kind: String,
    pub quantity: i64,
    pub points: i64,
    /// Minor units of the server's currency.
    pub amount_minor: Option<i64>,
    pub currency: String,
    pub occurred_at: DateTime<Utc>,
    /// The server-local day it counts on.
    pub local_day: NaiveDate,
}

/// What an accepted deal became.
#[derive(Clone, Debug, Serialize)]
pub struct IntakeDeal {
    pub status: Upserted,
    pub id: i64,
    pub external_id: String,
    pub user_id: String,
    pub name: String,
    pub value_minor: i64,
    pub currency: String,
    pub stage: String,
    pub outcome: Option<Outcome>,
}

/// Reads the fields of one body, collecting every problem.
struct Fields<'a> {
    body: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(body: &'a Value, allowed: &[&str]) -> Result<Fields<'a>, IntakeError> {
        let Some(map) = body.as_object() else {
            return Err(IntakeError::Invalid(vec![FieldError {
                field: "(body)".into(),
                message: "the body must be a JSON object".into(),
            }]));
        };
        let mut fields = Fields { body: map, errors: Vec::new() };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                // Words other tools use for these fields.
                let alias = match key.as_str() {
                    "type" | "activity_type" if allowed.contains(&"kind") => Some("kind"),
                    "owner_id" | "user" | "discord_id" => Some("user_id"),
                    "id" => Some("external_id"),
                    "title" if allowed.contains(&"name") => Some("name"),
                    "amount" if allowed.contains(&"value") => Some("value"),
                    _ => None,
                };
                let near = alias.or_else(|| crate::domain::suggest::closest(key, allowed.iter().copied()));
                fields.fail(
                    key,
                    match near {
                        Some(n) => format!("unknown field; did you mean `{n}`?"),
                        None => format!("unknown field; the fields are {}", allowed.join(", ")),
                    },
                );
            }
        }
        Ok(fields)
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError { field: shorten(field, 40), message: message.into() });
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.body.get(field).filter(|v| !v.is_null())
    }

    /// A string field; numbers are taken as their text (ids sent as numbers).
    fn text(&mut self, field: &str, required: bool) -> Option<String> {
        match self.get(field) {
            None => {
                if required {
                    self.fail(field, "is required");
                }
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(field, e.to_string());
                None
            }
        }
    }

    fn instant(&mut self, field: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let text = self.text(field, false)?;
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) if t.with_timezone(&Utc) > now + CLOCK_SKEW => {
                self.fail(field, "is in the future");
                None
            }
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.fail(field, "must be an RFC 3339 time with its offset, e.g. 2026-11-02T09:30:00+01:00");
                None
            }
        }
    }

    /// Money: a JSON number or a string of digits with an optional `.` and at most the currency's
    /// decimals (`1250.50`), read exactly; whatever the server's own number format is.
    fn money(&mut self, field: &str, currency: Currency, required: bool) -> Option<i64> {
        let exponent = currency.exponent();
        let value = match self.get(field) {
            None => {
                if required {
                    self.fail(field, "is required");
                }
                return None;
            }
            Some(Value::Number(n)) => n.as_f64().and_then(|f| crate::domain::crm::minor_units(f, exponent)),
            Some(Value::String(s)) => decimal_minor(s.trim(), exponent),
            Some(_) => None,
        };
        if value.is_none() {
            let example =
                if exponent == 0 { "1250".to_string() } else { format!("1250.{}", "5".repeat(exponent as usize)) };
            let why = match self.get(field) {
                Some(Value::String(t)) if t.trim().starts_with('-') => "must not be negative".to_string(),
                Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f < 0.0) => "must not be negative".to_string(),
                Some(Value::String(t)) if t.contains(',') || t.contains(' ') || t.contains('\'') => format!(
                    "holds a thousands separator or a decimal comma; the API reads amounts as digits with an \
                     optional `.` decimal mark, whatever the server's own number format: write {example}"
                ),
                Some(Value::String(t)) if t.split_once('.').is_some_and(|(_, d)| d.len() > exponent as usize) => {
                    format!("has more decimals than {} has ({exponent}); write {example}", currency.code())
                }
                Some(Value::String(_) | Value::Number(_)) => {
                    format!("must be digits with an optional `.` decimal mark and no currency sign, e.g. {example}")
                }
                _ => format!("must be a string like \"{example}\" or a number"),
            };
            self.fail(field, why);
        }
        value
    }

    fn done(self) -> Result<(), IntakeError> {
        if self.errors.is_empty() { Ok(()) } else { Err(IntakeError::Invalid(self.errors)) }
    }
}

/// `1250`, `1250.5`, `1250.50` as minor units with `exponent` decimals; `None` for anything else.
fn decimal_minor(text: &str, exponent: u32) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) || fraction.len() > exponent as usize {
        return None;
    }
    let mut all = whole.to_string();
    all.push_str(fraction);
    all.extend(std::iter::repeat_n('0', exponent as usize - fraction.len()));
    all.parse().ok()
}

fn external_id(fields: &mut Fields<'_>) -> Option<String> {
    let id = fields.text("external_id", true)?;
    let t = id.trim();
    if t.is_empty() || t.chars().count() > MAX_EXTERNAL_ID || t.chars().any(char::is_control) {
        fields.fail("external_id", format!("must be 1-{MAX_EXTERNAL_ID} printable characters"));
        return None;
    }
    Some(t.to_string())
}

/// The rep a body is for: `user_id` (required) and `user_name` (optional).
fn rep(fields: &mut Fields<'_>) -> (Option<Snowflake>, Option<Name>) {
    let user = fields.text("user_id", true).and_then(|u| {
        let r = Snowflake::parse(&u);
        fields.check("user_id", r)
    });
    let name = fields.text("user_name", false).and_then(|n| {
        let r = Name::parse(&n, "user_name");
        fields.check("user_name", r)
    });
    (user, name)
}

/// Every required field was read (`Fields::done` reported any that was not): this cannot happen.
fn incomplete() -> IntakeError {
    IntakeError::Invalid(vec![FieldError { field: "(body)".into(), message: "incomplete".into() }])
}

fn currency_matches(fields: &mut Fields<'_>, currency: Currency) {
    if let Some(code) = fields.text("currency", false)
        && !code.trim().eq_ignore_ascii_case(currency.code())
    {
        fields.fail(
            "currency",
            format!("this server keeps its money in {}; rally never converts amounts", currency.code()),
        );
    }
}

/// The fields of `POST /api/v1/activities`.
pub const ACTIVITY_FIELDS: &[&str] =
    &["external_id", "user_id", "user_name", "kind", "quantity", "amount", "currency", "occurred_at", "note", "deal"];
/// The fields of `POST /api/v1/deals`.
pub const DEAL_FIELDS: &[&str] = &[
    "external_id",
    "user_id",
    "user_name",
    "name",
    "value",
    "currency",
    "status",
    "stage",
    "opened_at",
    "closed_at",
    "expected_close",
    "lost_reason",
];

impl App {
    /// The name a rep is stored under: the one sent, else the one rally knows; a rep rally has
    /// never seen needs one.
    async fn rep_name(&self, guild: i64, user: Snowflake, given: Option<Name>) -> Result<String, IntakeError> {
        if let Some(name) = given {
            return Ok(name.as_str().to_string());
        }
        match self.store.member(guild, user.as_i64()).await?.map(|m| m.user_name) {
            Some(known) => Ok(known),
            // A mistyped id would otherwise become a rep nobody knows on every board.
            None => Err(IntakeError::Invalid(vec![FieldError {
                field: "user_name".into(),
                message: format!("is required for a rep this server has not seen yet (user_id {user})"),
            }])),
        }
    }

    /// Creates an intake API key for the guild. Returns the key (shown once, never stored) and its row.
    pub async fn api_key_create(&self, guild: i64, label: &str, now: DateTime<Utc>) -> AppResult<(String, ApiKeyRow)> {
        let label = label.trim();
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(AppError::User("the label must be at most 100 printable characters".into()));
        }
        let key = format!("rally_{}", super::crm::random_secret().expose());
        let prefix: String = key.chars().take(12).collect();
        let row =
            self.store.api_key_create(guild, label.to_string(), prefix, super::crm::secret_hash(&key), now).await?;
        Ok((key, row))
    }

    /// The guild's keys, newest first (their first characters, never the keys).
    pub async fn api_keys(&self, guild: i64) -> AppResult<Vec<ApiKeyRow>> {
        Ok(self.store.api_keys(guild).await?)
    }

    /// Revokes the guild's live key that `given` begins (its first characters as listed, with or
    /// without their "…", or the whole key). Returns it, or `None` with the prefix that was looked
    /// for: only those first characters are ever shown back.
    pub async fn api_key_revoke(
        &self,
        guild: i64,
        given: &str,
        now: DateTime<Utc>,
    ) -> AppResult<Result<ApiKeyRow, String>> {
        let given = given.trim().trim_end_matches('…').trim_end_matches("...");
        let shown: String = given.chars().take(12).collect();
        Ok(self.store.api_key_revoke(guild, shown.clone(), now).await?.ok_or(shown))
    }

    /// The guild and key id a presented key belongs to, if it is live.
    pub async fn api_key_guild(&self, key: &str) -> AppResult<Option<(i64, i64)>> {
        let hash = super::crm::secret_hash(key.trim());
        Ok(self.store.api_key_by_hash(hash).await?.map(|(id, guild, _)| (id, guild)))
    }

    /// Upserts one activity from an intake body (see [`ACTIVITY_FIELDS`]).
    pub async fn intake_activity(
        &self,
        guild: i64,
        key: i64,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<IntakeActivity, IntakeError> {
        let settings = self.store.guild_settings(guild).await?;
        let kinds = self.store.kinds_shared(guild).await?;
        let money = settings.money();
        let mut f = Fields::new(body, ACTIVITY_FIELDS)?;
        let external = external_id(&mut f);
        let (user, user_name) = rep(&mut f);
        let kind = f.text("kind", true).and_then(|k| match KindName::parse(&k) {
            Ok(name) if kinds.iter().any(|x| x.name == name) => Some(name),
            _ => {
                f.fail("kind", unknown_kind(&k, &kinds));
                None
            }
        });
        let quantity = match f.get("quantity") {
            None => Some(Quantity::ONE),
            Some(v) => match v.as_i64() {
                Some(n) => {
                    let r = Quantity::new(n);
                    f.check("quantity", r)
                }
                None => {
                    f.fail("quantity", "must be a whole number from 1 to 1000");
                    None
                }
            },
        };
        currency_matches(&mut f, money.currency);
        let amount = f.money("amount", money.currency, false).map(Amount::from_minor).transpose().unwrap_or_default();
        if let (Some(kind), Some(k)) = (&kind, kind.as_ref().and_then(|n| kinds.iter().find(|x| x.name == *n))) {
            let r = check_amount(kind, k.has_amount, amount);
            f.check("amount", r);
        }
        if let Some(k) = &kind
            && settings.is_crm_fed(k)
        {
            f.fail("kind", format!("`{k}` activities arrive from Pipedrive on this server; counting them here too would count them twice"));
        }
        let timed = f.get("occurred_at").is_some();
        let occurred_at = f.instant("occurred_at", now).unwrap_or(now);
        let note = match f.text("note", false) {
            Some(n) => {
                let r = Note::parse(&n);
                f.check("note", r)
            }
            None => Some(Note::default()),
        };
        let deal = f.text("deal", false).and_then(|d| {
            let r = DealRef::parse(&d);
            f.check("deal", r)
        });
        f.done()?;
        let (Some(external), Some(user), Some(kind), Some(quantity), Some(note)) =
            (external, user, kind, quantity, note)
        else {
            return Err(incomplete());
        };
        let user_name = self.rep_name(guild, user, user_name).await?;
        let activity = NewActivity {
            guild,
            user: user.as_i64(),
            user_name,
            team: None,
            kind,
            quantity,
            amount,
            occurred_at,
            note,
            deal,
            source: Source::Api,
            idem_key: format!("api:activity:{external}"),
            alt_key: None,
            actor: 0,
        };
        let (status, record) = self.store.intake_activity(activity, timed, key, now).await?;
        self.wall_changed(guild);
        Ok(IntakeActivity {
            status,
            id: record.id,
            external_id: external,
            user_id: user.to_string(),
            kind: record.kind,
            quantity: record.quantity,
            points: record.points,
            amount_minor: record.amount,
            currency: money.currency.code().to_string(),
            occurred_at: record.occurred_at,
            local_day: record.local_day,
        })
    }

    /// Upserts one deal from an intake body (see [`DEAL_FIELDS`]).
    pub async fn intake_deal(
        &self,
        guild: i64,
        key: i64,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<IntakeDeal, IntakeError> {
        let settings = self.store.guild_settings(guild).await?;
        let money = settings.money();
        let pipeline = self.store.pipeline(guild).await?;
        let mut f = Fields::new(body, DEAL_FIELDS)?;
        if settings.crm_fed.iter().any(|k| k.as_str() == crate::domain::activity::WON) {
            f.fail(
                "(body)",
                "deals arrive from Pipedrive on this server; counting them here too would count them twice",
            );
        }
        let external = external_id(&mut f);
        let (user, user_name) = rep(&mut f);
        let name = f.text("name", true).map(|n| deal_name(&n, external.as_deref().unwrap_or("")));
        currency_matches(&mut f, money.currency);
        let value = f.money("value", money.currency, true);
        let status = match f.text("status", false).map(|t| t.trim().to_ascii_lowercase()).as_deref() {
            None | Some("open") => Some(None),
            Some("won") => Some(Some(Outcome::Won)),
            Some("lost") => Some(Some(Outcome::Lost)),
            Some(_) => {
                f.fail("status", "must be open, won or lost");
                None
            }
        };
        let stage = match f.text("stage", false) {
            None => None,
            Some(s) => match StageName::parse(&s) {
                Ok(name) if pipeline.get(name.as_str()).is_some_and(|st| st.is_open()) => Some(name),
                _ => {
                    let open: Vec<&str> = pipeline.open_stages().iter().map(|s| s.name.as_str()).collect();
                    f.fail("stage", format!("must be an open stage of this server's pipeline: {}", open.join(", ")));
                    None
                }
            },
        };
        let timed = (f.get("opened_at").is_some(), f.get("closed_at").is_some());
        let opened_at = f.instant("opened_at", now).unwrap_or(now);
        let closed_at = f.instant("closed_at", now);
        let expected_close = f.text("expected_close", false).and_then(|d| {
            let r = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| "must be a date like 2026-12-31");
            f.check("expected_close", r)
        });
        let lost_reason = f.text("lost_reason", false).and_then(|r| {
            let parsed = LostReason::parse(&r);
            f.check("lost_reason", parsed)
        });
        f.done()?;
        let (Some(external), Some(user), Some(name), Some(value), Some(status)) = (external, user, name, value, status)
        else {
            return Err(incomplete());
        };
        let user_name = self.rep_name(guild, user, user_name).await?;
        let deal = TrackedDeal {
            name,
            value,
            stage: if status.is_some() {
                None
            } else {
                stage.or_else(|| pipeline.first_open().map(|s| s.name.clone()))
            },
            expected_close,
            opened_at: opened_at.min(now),
            closed: status.map(|o| (o, closed_at.unwrap_or(now))),
            lost_reason: lost_reason.map(|r| r.as_str().to_string()).filter(|r| !r.is_empty()),
        };
        let (status, record) = self
            .store
            .intake_deal(
                guild,
                format!("api:deal:{external}"),
                format!("api:deal:{external}:close"),
                (user.as_i64(), user_name),
                deal,
                timed,
                key,
                now,
            )
            .await?;
        self.wall_changed(guild);
        Ok(IntakeDeal {
            status,
            id: record.id,
            external_id: external,
            user_id: user.to_string(),
            name: record.name,
            value_minor: record.value,
            currency: money.currency.code().to_string(),
            stage: record.stage,
            outcome: record.outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::decimal_minor;

    #[test]
    fn api_amounts_are_plain_decimals_read_exactly() {
        assert_eq!(decimal_minor("1250.50", 2), Some(125_050));
        assert_eq!(decimal_minor("1250.5", 2), Some(125_050));
        assert_eq!(decimal_minor("1250", 2), Some(125_000));
        assert_eq!(decimal_minor("1250", 0), Some(1250));
        for bad in ["1,250.50", "1.250,50", "12.505", "-1", "", ".5", "5.", "1e3", "1250.5", "abc"] {
            let exponent = if bad == "1250.5" { 0 } else { 2 };
            assert_eq!(decimal_minor(bad, exponent), None, "{bad}");
        }
    }
}
