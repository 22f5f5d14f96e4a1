//! The loopback's Pipedrive data: activities and deals with ordered indexes (by id, and by update time then id) so
//! a cursor page starts where the last one ended instead of scanning from the top, plus users, activity types,
//! pipelines, stages and webhooks; and the JSON shapes Pipedrive answers them in. No HTTP, no locking.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use super::{PdActivity, PdDeal};

/// The stored data. Every activity and deal has `add_time` and `update_time` set.
#[derive(Default)]
pub(crate) struct Store {
    pub activities: BTreeMap<i64, PdActivity>,
    activity_updates: BTreeSet<(i64, i64)>,
    pub deals: BTreeMap<i64, PdDeal>,
    deal_updates: BTreeSet<(i64, i64)>,
    /// When each deal last moved to its stage (Pipedrive's `stage_change_time`).
    stage_changes: HashMap<i64, DateTime<Utc>>,
    pub users: BTreeMap<i64, User>,
    pub activity_types: Vec<ActivityType>,
    pub pipelines: BTreeMap<i64, Pipeline>,
    pub stages: BTreeMap<i64, Stage>,
    pub webhooks: BTreeMap<i64, Webhook>,
    next_activity: i64,
    next_deal: i64,
    next_webhook: i64,
}

pub(crate) struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub added: DateTime<Utc>,
}

pub(crate) struct ActivityType {
    pub id: i64,
    pub key_string: String,
    pub name: String,
    pub added: DateTime<Utc>,
}

pub(crate) struct Pipeline {
    pub id: i64,
    pub name: String,
    pub added: DateTime<Utc>,
}

pub(crate) struct Stage {
    pub id: i64,
    pub pipeline_id: i64,
    pub name: String,
    pub order_nr: i64,
    pub deal_probability: i64,
    pub added: DateTime<Utc>,
}

/// A registered webhook, as `POST /v1/webhooks` created it.
#[derive(Clone)]
pub(crate) struct Webhook {
    pub id: i64,
    pub name: String,
    pub subscription_url: String,
    pub event_action: String,
    pub event_object: String,
    pub user_id: i64,
    pub http_auth_user: Option<String>,
    pub http_auth_password: Option<String>,
    pub version: String,
    pub added: DateTime<Utc>,
    pub last_delivery_time: Option<DateTime<Utc>>,
    pub last_http_status: Option<u16>,
}

impl Webhook {
    pub fn wants(&self, action: &str, entity: &str) -> bool {
        (self.event_action == "*" || self.event_action == action)
            && (self.event_object == "*" || self.event_object == entity)
    }
}

fn secs(t: Option<DateTime<Utc>>) -> i64 {
    t.map_or(0, |t| t.timestamp())
}

impl Store {
    /// Stores `a` (id 0: the next free id) stamped `now`; returns the stored value and the one it replaced.
    pub fn put_activity(&mut self, mut a: PdActivity, now: DateTime<Utc>) -> (PdActivity, Option<PdActivity>) {
        if a.id <= 0 {
            a.id = self.next_activity.max(self.activities.last_key_value().map_or(0, |(id, _)| *id)) + 1;
        }
        self.next_activity = self.next_activity.max(a.id);
        let previous = self.activities.get(&a.id).cloned();
        if let Some(p) = &previous {
            self.activity_updates.remove(&(secs(p.update_time), p.id));
        }
        a.add_time = Some(previous.as_ref().and_then(|p| p.add_time).unwrap_or(now));
        a.update_time = Some(now);
        if a.done && a.marked_as_done_time.is_none() {
            a.marked_as_done_time = Some(previous.as_ref().and_then(|p| p.marked_as_done_time).unwrap_or(now));
        }
        if !a.done {
            a.marked_as_done_time = None;
        }
        self.activity_updates.insert((now.timestamp(), a.id));
        self.activities.insert(a.id, a.clone());
        (a, previous)
    }

    pub fn remove_activity(&mut self, id: i64) -> Option<PdActivity> {
        let gone = self.activities.remove(&id)?;
        self.activity_updates.remove(&(secs(gone.update_time), id));
        Some(gone)
    }

    /// Stores `d` (id 0: the next free id) stamped `now`; returns the stored value and the one it replaced.
    pub fn put_deal(&mut self, mut d: PdDeal, now: DateTime<Utc>) -> (PdDeal, Option<PdDeal>) {
        if d.id <= 0 {
            d.id = self.next_deal.max(self.deals.last_key_value().map_or(0, |(id, _)| *id)) + 1;
        }
        self.next_deal = self.next_deal.max(d.id);
        let previous = self.deals.get(&d.id).cloned();
        if let Some(p) = &previous {
            self.deal_updates.remove(&(secs(p.update_time), p.id));
        }
        if d.status.is_empty() {
            d.status = "open".into();
        }
        if d.currency.is_empty() {
            d.currency = "USD".into();
        }
        if d.status == "won" && d.won_time.is_none() {
            d.won_time = Some(now);
        }
        if d.status == "lost" && d.lost_time.is_none() {
            d.lost_time = Some(now);
        }
        d.add_time = Some(previous.as_ref().and_then(|p| p.add_time).unwrap_or(now));
        d.update_time = Some(now);
        if previous.as_ref().is_none_or(|p| p.stage_id != d.stage_id) {
            self.stage_changes.insert(d.id, now);
        }
        self.deal_updates.insert((now.timestamp(), d.id));
        self.deals.insert(d.id, d.clone());
        (d, previous)
    }

    pub fn next_webhook_id(&mut self) -> i64 {
        self.next_webhook += 1;
        self.next_webhook
    }

    /// Inserts many activities without webhooks: ids 0 get fresh ones. For loading benchmarks.
    pub fn bulk_activities(&mut self, items: impl IntoIterator<Item = PdActivity>, now: DateTime<Utc>) {
        for a in items {
            self.put_activity(a, now);
        }
    }

    pub fn activity_page(&self, q: &ListQuery, keep: &dyn Fn(&PdActivity) -> bool) -> Page<'_, PdActivity> {
        list(&self.activities, Some(&self.activity_updates), q, keep)
    }

    pub fn deal_page(&self, q: &ListQuery, keep: &dyn Fn(&PdDeal) -> bool) -> Page<'_, PdDeal> {
        list(&self.deals, Some(&self.deal_updates), q, keep)
    }

    pub fn stage_page(&self, q: &ListQuery, keep: &dyn Fn(&Stage) -> bool) -> Page<'_, Stage> {
        list(&self.stages, None, q, keep)
    }

    pub fn pipeline_page(&self, q: &ListQuery) -> Page<'_, Pipeline> {
        list(&self.pipelines, None, q, &|_| true)
    }

    pub fn stage_change_time(&self, deal: i64) -> Option<DateTime<Utc>> {
        self.stage_changes.get(&deal).copied()
    }
}

// ---- cursor paging ----

/// The value an item is ordered by; null sorts first, as Pipedrive's own cursors treat absent values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Null,
    Int(i64),
    Text(String),
}

/// Something a v2 list serves.
pub(crate) trait Row {
    fn id(&self) -> i64;
    /// The value of sort field `field` (`update_time` and `add_time` in whole seconds).
    fn key(&self, field: &str) -> Key;
    fn update_secs(&self) -> i64;
}

impl Row for PdActivity {
    fn id(&self) -> i64 {
        self.id
    }
    fn key(&self, field: &str) -> Key {
        match field {
            "update_time" => Key::Int(secs(self.update_time)),
            "add_time" => Key::Int(secs(self.add_time)),
            "due_date" => self.due_date.map_or(Key::Null, |d| Key::Text(d.format("%Y-%m-%d").to_string())),
            _ => Key::Int(self.id),
        }
    }
    fn update_secs(&self) -> i64 {
        secs(self.update_time)
    }
}

impl Row for PdDeal {
    fn id(&self) -> i64 {
        self.id
    }
    fn key(&self, field: &str) -> Key {
        match field {
            "update_time" => Key::Int(secs(self.update_time)),
            "add_time" => Key::Int(secs(self.add_time)),
            _ => Key::Int(self.id),
        }
    }
    fn update_secs(&self) -> i64 {
        secs(self.update_time)
    }
}

impl Row for Stage {
    fn id(&self) -> i64 {
        self.id
    }
    fn key(&self, field: &str) -> Key {
        match field {
            "update_time" | "add_time" => Key::Int(self.added.timestamp()),
            "order_nr" => Key::Int(self.order_nr),
            _ => Key::Int(self.id),
        }
    }
    fn update_secs(&self) -> i64 {
        self.added.timestamp()
    }
}

impl Row for Pipeline {
    fn id(&self) -> i64 {
        self.id
    }
    fn key(&self, field: &str) -> Key {
        match field {
            "update_time" | "add_time" => Key::Int(self.added.timestamp()),
            _ => Key::Int(self.id),
        }
    }
    fn update_secs(&self) -> i64 {
        self.added.timestamp()
    }
}

/// One list request, already checked and parsed.
#[derive(Clone, Debug)]
pub(crate) struct ListQuery {
    pub limit: usize,
    /// A sort field the operation allows: `id`, `update_time`, `add_time`, `due_date`, `order_nr`.
    pub sort_by: String,
    pub desc: bool,
    /// The last item of the previous page: its sort key and id. The page starts strictly after it.
    pub after: Option<(Key, i64)>,
    /// `update_time >= since`, in whole seconds (a fractional bound is rounded up, which is the same set).
    pub since: Option<i64>,
    /// `update_time < until`, in whole seconds (rounded up likewise).
    pub until: Option<i64>,
}

/// A page of items and, when more follow, the sort key and id of its last item (the next cursor).
pub(crate) struct Page<'a, T> {
    pub items: Vec<&'a T>,
    pub next: Option<(Key, i64)>,
}

/// With `updated_since` on a listing by id, gathering the ids from the update-time index is cheaper than walking
/// all items, as long as the window is this small.
const GATHER_CAP: usize = 20_000;

fn list<'a, T: Row>(
    by_id: &'a BTreeMap<i64, T>,
    by_update: Option<&'a BTreeSet<(i64, i64)>>,
    q: &ListQuery,
    keep: &dyn Fn(&T) -> bool,
) -> Page<'a, T> {
    let in_window = |t: &T| q.since.is_none_or(|s| t.update_secs() >= s) && q.until.is_none_or(|u| t.update_secs() < u);
    let pass = |t: &&T| in_window(t) && keep(t);
    let after_id = q.after.as_ref().map(|(_, id)| *id);
    let desc = q.desc;
    let ordered: Box<dyn Iterator<Item = &'a T> + 'a> = match (q.sort_by.as_str(), by_update) {
        ("id", Some(index)) if q.since.is_some() || q.until.is_some() => match gather(index, q.since, q.until) {
            Some(mut ids) => {
                ids.sort_unstable();
                if q.desc {
                    ids.reverse();
                }
                let ids =
                    ids.into_iter().filter(move |id| after_id.is_none_or(|a| if desc { *id < a } else { *id > a }));
                Box::new(ids.filter_map(move |id| by_id.get(&id)))
            }
            None => by_id_from(by_id, after_id, q.desc),
        },
        ("id", _) => by_id_from(by_id, after_id, q.desc),
        ("update_time", Some(index)) => {
            let after = match &q.after {
                Some((Key::Int(s), id)) => Some((*s, *id)),
                _ => None,
            };
            let items = by_update_from(index, after, q.since, q.until, q.desc);
            Box::new(items.filter_map(move |(_, id)| by_id.get(id)))
        }
        (field, _) => {
            let mut all: Vec<(Key, i64, &'a T)> =
                by_id.values().filter(pass).map(|t| (t.key(field), t.id(), t)).collect();
            all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            if q.desc {
                all.reverse();
            }
            let after = q.after.clone();
            Box::new(
                all.into_iter()
                    .skip_while(move |(k, id, _)| match &after {
                        Some((ak, aid)) => {
                            let here = (k, *id);
                            let there = (ak, *aid);
                            if desc { here >= there } else { here <= there }
                        }
                        None => false,
                    })
                    .map(|(_, _, t)| t),
            )
        }
    };
    let mut items: Vec<&T> = ordered.filter(pass).take(q.limit + 1).collect();
    let more = items.len() > q.limit;
    items.truncate(q.limit);
    let next = if more { items.last().map(|t| (t.key(&q.sort_by), t.id())) } else { None };
    Page { items, next }
}

fn by_id_from<'a, T>(
    by_id: &'a BTreeMap<i64, T>,
    after: Option<i64>,
    desc: bool,
) -> Box<dyn Iterator<Item = &'a T> + 'a> {
    match (after, desc) {
        (Some(a), false) => Box::new(by_id.range((Bound::Excluded(a), Bound::Unbounded)).map(|(_, t)| t)),
        (Some(a), true) => Box::new(by_id.range(..a).rev().map(|(_, t)| t)),
        (None, false) => Box::new(by_id.values()),
        (None, true) => Box::new(by_id.values().rev()),
    }
}

fn by_update_from<'a>(
    index: &'a BTreeSet<(i64, i64)>,
    after: Option<(i64, i64)>,
    since: Option<i64>,
    until: Option<i64>,
    desc: bool,
) -> Box<dyn Iterator<Item = &'a (i64, i64)> + 'a> {
    if desc {
        let upper = match (after, until) {
            (Some(a), Some(u)) if u <= a.0 => Bound::Excluded((u, i64::MIN)),
            (Some(a), _) => Bound::Excluded(a),
            (None, Some(u)) => Bound::Excluded((u, i64::MIN)),
            (None, None) => Bound::Unbounded,
        };
        Box::new(index.range((Bound::Unbounded, upper)).rev().take_while(move |(s, _)| since.is_none_or(|v| *s >= v)))
    } else {
        let lower = match (after, since) {
            (Some(a), Some(s)) if s > a.0 => Bound::Included((s, i64::MIN)),
            (Some(a), _) => Bound::Excluded(a),
            (None, Some(s)) => Bound::Included((s, i64::MIN)),
            (None, None) => Bound::Unbounded,
        };
        Box::new(index.range((lower, Bound::Unbounded)).take_while(move |(s, _)| until.is_none_or(|u| *s < u)))
    }
}

/// The ids updated in `[since, until)`, unless there are more than [`GATHER_CAP`].
fn gather(index: &BTreeSet<(i64, i64)>, since: Option<i64>, until: Option<i64>) -> Option<Vec<i64>> {
    let lower = since.map_or(Bound::Unbounded, |s| Bound::Included((s, i64::MIN)));
    let upper = until.map_or(Bound::Unbounded, |u| Bound::Excluded((u, i64::MIN)));
    let mut ids = Vec::new();
    for (_, id) in index.range((lower, upper)) {
        if ids.len() == GATHER_CAP {
            return None;
        }
        ids.push(*id);
    }
    Some(ids)
}

// ---- JSON shapes ----

/// `2026-11-02T09:15:00Z`: how v2 writes times.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    Rfc3339(t).to_string()
}

/// `2026-11-02 09:15:00`: how v1 writes most times (users, activity types).
fn v1_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Writes a time as v2 does without an intermediate `String` or a format string to interpret: the hot path of a
/// 500-activity page.
struct Time(Option<DateTime<Utc>>);

struct Rfc3339(DateTime<Utc>);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(t) => s.collect_str(&Rfc3339(t)),
            None => s.serialize_none(),
        }
    }
}

/// Pipedrive writes a whole amount as an integer (`200`), a fractional one as a decimal (`200.5`).
struct Amount(f64);

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

/// Writes an activity exactly as v2 `GET /activities` lists it: every field of the description's item schema, the
/// ones the loopback does not keep as null (or false, or empty). Written by hand rather than through serde: this is
/// the hot path of paging a million activities, and it must stay fast in debug builds, where tests run.
pub(crate) fn write_activity(out: &mut Vec<u8>, a: &PdActivity) {
    out.extend_from_slice(b"{\"id\":");
    int(out, a.id);
    out.extend_from_slice(b",\"subject\":");
    string(out, &a.subject);
    out.extend_from_slice(b",\"type\":");
    string(out, &a.r#type);
    out.extend_from_slice(b",\"owner_id\":");
    int(out, a.owner_id);
    out.extend_from_slice(b",\"creator_user_id\":");
    int(out, a.owner_id);
    out.extend_from_slice(b",\"is_deleted\":false,\"add_time\":");
    time(out, a.add_time);
    out.extend_from_slice(b",\"update_time\":");
    time(out, a.update_time);
    out.extend_from_slice(b",\"deal_id\":");
    match a.deal_id {
        Some(id) => int(out, id),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"lead_id\":null,\"person_id\":null,\"org_id\":null,\"project_id\":null,\"due_date\":");
    match a.due_date {
        Some(d) => {
            out.push(b'"');
            date(out, d);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"due_time\":");
    match a.due_time {
        Some(t) => {
            use chrono::Timelike;
            out.push(b'"');
            clock(out, t.hour(), t.minute(), t.second());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"duration\":null,\"busy\":false,\"done\":");
    out.extend_from_slice(if a.done { b"true" } else { b"false" });
    out.extend_from_slice(b",\"marked_as_done_time\":");
    time(out, a.marked_as_done_time);
    out.extend_from_slice(
        b",\"location\":null,\"participants\":[],\"conference_meeting_client\":null,\"conference_meeting_url\":null,\
          \"conference_meeting_id\":null,\"public_description\":null,\"priority\":null,\"note\":null}",
    );
}

fn int(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

fn two(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

fn date(out: &mut Vec<u8>, d: chrono::NaiveDate) {
    use chrono::Datelike;
    match u32::try_from(d.year()) {
        Ok(year) if year <= 9999 => {
            two(out, year / 100);
            two(out, year % 100);
        }
        _ => out.extend_from_slice(d.year().to_string().as_bytes()),
    }
    out.push(b'-');
    two(out, d.month());
    out.push(b'-');
    two(out, d.day());
}

fn clock(out: &mut Vec<u8>, hour: u32, minute: u32, second: u32) {
    two(out, hour);
    out.push(b':');
    two(out, minute);
    out.push(b':');
    two(out, second);
}

/// `"2026-11-02T09:15:00Z"` or `null`.
fn time(out: &mut Vec<u8>, t: Option<DateTime<Utc>>) {
    use chrono::Timelike;
    match t {
        Some(t) => {
            out.push(b'"');
            date(out, t.date_naive());
            out.push(b'T');
            clock(out, t.hour(), t.minute(), t.second());
            out.extend_from_slice(b"Z\"");
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string literal.
fn string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(text.as_bytes());
    } else {
        for c in text.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
                c => {
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
    }
    out.push(b'"');
}

/// A deal exactly as v2 `GET /deals` lists it.
#[derive(Serialize)]
pub(crate) struct DealJson<'a> {
    id: i64,
    title: &'a str,
    owner_id: i64,
    person_id: Option<i64>,
    org_id: Option<i64>,
    pipeline_id: i64,
    stage_id: i64,
    value: Amount,
    currency: &'a str,
    add_time: Time,
    update_time: Time,
    stage_change_time: Time,
    is_deleted: bool,
    is_archived: bool,
    status: &'a str,
    probability: Option<i64>,
    lost_reason: Option<&'a str>,
    visible_to: i64,
    close_time: Time,
    won_time: Time,
    lost_time: Time,
    expected_close_date: Option<String>,
    label_ids: [(); 0],
    origin: &'a str,
    origin_id: Option<&'a str>,
    channel: Option<i64>,
    channel_id: Option<&'a str>,
    source_lead_id: Option<&'a str>,
    arr: Option<f64>,
    mrr: Option<f64>,
    acv: Option<f64>,
    custom_fields: Map0,
    /// Only when asked for with `include_fields=next_activity_id` (then null when none is planned).
    #[serde(skip_serializing_if = "Option::is_none")]
    next_activity_id: Option<Option<i64>>,
}

/// `{}`.
struct Map0;

impl Serialize for Map0 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'a> DealJson<'a> {
    pub fn of(d: &'a PdDeal, stage_change_time: Option<DateTime<Utc>>) -> DealJson<'a> {
        let close_time = match d.status.as_str() {
            "won" => d.won_time,
            "lost" => d.lost_time,
            _ => None,
        };
        DealJson {
            id: d.id,
            title: &d.title,
            owner_id: d.owner_id,
            person_id: None,
            org_id: None,
            pipeline_id: d.pipeline_id,
            stage_id: d.stage_id,
            value: Amount(d.value),
            currency: &d.currency,
            add_time: Time(d.add_time),
            update_time: Time(d.update_time),
            stage_change_time: Time(stage_change_time),
            is_deleted: d.is_deleted,
            is_archived: false,
            status: &d.status,
            probability: d.probability,
            lost_reason: d.lost_reason.as_deref(),
            visible_to: 3,
            close_time: Time(close_time),
            won_time: Time(d.won_time),
            lost_time: Time(d.lost_time),
            expected_close_date: d.expected_close_date.map(|d| d.format("%Y-%m-%d").to_string()),
            label_ids: [],
            origin: "API",
            origin_id: None,
            channel: None,
            channel_id: None,
            source_lead_id: None,
            arr: None,
            mrr: None,
            acv: None,
            custom_fields: Map0,
            next_activity_id: None,
        }
    }

    /// The deal with its `next_activity_id` listed (`include_fields=next_activity_id`).
    pub fn with_next_activity(mut self, d: &PdDeal) -> DealJson<'a> {
        self.next_activity_id = Some(d.next_activity_id);
        self
    }
}

/// The activity as a JSON value (webhook `data` and `previous`): parsed from what the list writes, so the two
/// cannot differ.
pub(crate) fn activity_value(a: &PdActivity) -> Value {
    let mut out = Vec::with_capacity(700);
    write_activity(&mut out, a);
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

pub(crate) fn deal_value(store: &Store, d: &PdDeal) -> Value {
    serde_json::to_value(DealJson::of(d, store.stage_change_time(d.id))).unwrap_or(Value::Null)
}

pub(crate) fn stage_value(s: &Stage) -> Value {
    json!({
        "id": s.id, "order_nr": s.order_nr, "name": s.name, "is_deleted": false,
        "deal_probability": s.deal_probability, "pipeline_id": s.pipeline_id,
        "is_deal_rot_enabled": false, "days_to_rotten": null,
        "add_time": rfc3339(s.added), "update_time": rfc3339(s.added),
    })
}

pub(crate) fn pipeline_value(p: &Pipeline, order_nr: usize) -> Value {
    json!({
        "id": p.id, "name": p.name, "order_nr": order_nr, "is_deleted": false,
        "is_deal_probability_enabled": true,
        "add_time": rfc3339(p.added), "update_time": rfc3339(p.added),
    })
}

/// A user as v1 `GET /users` lists it. The first user added is the token's own (`is_you`).
pub(crate) fn user_value(u: &User, is_you: bool) -> Value {
    json!({
        "id": u.id, "name": u.name, "default_currency": "USD", "locale": "en_US", "lang": 1,
        "email": u.email, "phone": null, "activated": true,
        "last_login": v1_time(u.added), "created": v1_time(u.added), "modified": null,
        "has_created_company": is_you, "access": [{"app": "sales", "admin": is_you, "permission_set_id": "loopback"}],
        "active_flag": true, "timezone_name": "UTC", "timezone_offset": "+00:00", "role_id": 1,
        "icon_url": null, "is_you": is_you, "is_deleted": false,
    })
}

/// An activity type as v1 `GET /activityTypes` lists it.
pub(crate) fn activity_type_value(t: &ActivityType, order_nr: usize) -> Value {
    const BUILT_IN: [&str; 6] = ["call", "meeting", "task", "deadline", "email", "lunch"];
    let icon = if BUILT_IN.contains(&t.key_string.as_str()) { t.key_string.as_str() } else { "task" };
    json!({
        "id": t.id, "name": t.name, "icon_key": icon, "color": "FFFFFF", "order_nr": order_nr,
        "key_string": t.key_string, "active_flag": true,
        "is_custom_flag": !BUILT_IN.contains(&t.key_string.as_str()),
        "add_time": v1_time(t.added), "update_time": v1_time(t.added),
    })
}

/// A webhook as v1 `GET /webhooks` lists it (`is_active` is the number 1, as Pipedrive writes it).
pub(crate) fn webhook_value(w: &Webhook) -> Value {
    json!({
        "id": w.id, "company_id": super::COMPANY_ID, "owner_id": w.user_id, "user_id": w.user_id,
        "event_action": w.event_action, "event_object": w.event_object,
        "subscription_url": w.subscription_url, "version": w.version, "is_active": 1,
        "add_time": w.added.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(), "remove_time": null, "type": "general",
        "http_auth_user": w.http_auth_user, "http_auth_password": w.http_auth_password,
        "remove_reason": null,
        "last_delivery_time": w.last_delivery_time.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        "last_http_status": w.last_http_status, "admin_id": w.user_id, "name": w.name,
    })
}
