//! Celebrations as rules: what a `/celebrate` rule celebrates (a big win, a personal best day or
//! week for a kind, a rep's first win, a streak of 5, 10 or 20 working days), the content-derived
//! key that makes each event celebrated once (an undo and the same thing logged again is the same
//! event), which activities a rule may celebrate at all (never the past), and how a burst in one
//! channel folds into one post. Imports nothing of ours outside `domain`; time is an argument.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use super::DomainError;
use super::activity::KindName;
use super::kpi::streak;
use super::settings::WorkingDays;

/// The streak lengths (working days in a row with something logged) that are celebrated.
pub const STREAK_LEVELS: [u32; 3] = [5, 10, 20];
/// At most this many celebration posts per channel in [`RATE_WINDOW`]; beyond, what waits folds
/// into one post. Sales floors want the bell, not a wall of it.
pub const RATE_POSTS: usize = 3;
/// The window [`RATE_POSTS`] counts in.
pub const RATE_WINDOW: Duration = Duration::minutes(10);
/// An activity recorded longer ago than this is no longer news: after a long outage the bot does
/// not ring the bell for yesterday.
pub const MAX_AGE: Duration = Duration::hours(12);
/// Most celebrations one folded post names; the rest are counted ("and 12 more").
pub const FOLD_NAMED: usize = 10;
/// Most live celebration rules per guild.
pub const MAX_RULES: usize = 25;

/// The span a personal best is measured over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Span {
    /// One local day.
    Day,
    /// One week, starting on the guild's week start.
    Week,
}

impl Span {
    /// `day` or `week`, as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Span::Day => "day",
            Span::Week => "week",
        }
    }

    /// Reads `day` or `week`.
    pub fn parse(text: &str) -> Result<Span, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "day" => Ok(Span::Day),
            "week" => Ok(Span::Week),
            other => Err(DomainError::invalid(format!(
                "`{}` is not a span: a personal best is a best `day` or a best `week`",
                super::activity::shorten(other, 20)
            ))),
        }
    }

    /// The first day of the span `day` falls in (the day itself, or its week's first day).
    pub fn bucket(self, day: NaiveDate, week_start: Weekday) -> NaiveDate {
        match self {
            Span::Day => day,
            Span::Week => {
                let back = (7 + day.weekday().num_days_from_monday() - week_start.num_days_from_monday()) % 7;
                day - Duration::days(i64::from(back))
            }
        }
    }
}

/// What a rule celebrates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// A deal won (an activity of kind `won`) of at least `min` minor units of `currency` (the
    /// guild's currency when the rule was added; amounts are never converted).
    BigWin { min: i64, currency: String },
    /// A rep's count of `kind` on a day (or in a week) above their best of any other one.
    PersonalBest { span: Span, kind: KindName },
    /// A rep's first deal won ever.
    FirstWin,
    /// A rep's streak reaching one of [`STREAK_LEVELS`].
    Streak,
}

impl RuleKind {
    /// The rule's name as stored and typed: `big-win`, `personal-best`, `first-win`, `streak`.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::BigWin { .. } => "big-win",
            RuleKind::PersonalBest { .. } => "personal-best",
            RuleKind::FirstWin => "first-win",
            RuleKind::Streak => "streak",
        }
    }
}

/// One activity as a celebration rule sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The rep's Discord user id.
    pub user: u64,
    /// The activity kind's name (`won`, `demo`).
    pub kind: String,
    /// How many (1..=1000).
    pub quantity: u32,
    /// Minor units, for a `won`.
    pub amount: Option<i64>,
    /// The deal reference the rep gave, if any.
    pub deal: Option<String>,
    /// When it happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// When rally recorded it (UTC).
    pub recorded_at: DateTime<Utc>,
    /// The local day it counts on.
    pub day: NaiveDate,
}

/// Whether a rule added at `rule_added` may celebrate `seen` at `now`: only what happened and was
/// recorded after the rule was added (an import of last week's wins is the past), and only while
/// it is news ([`MAX_AGE`]).
pub fn may_celebrate(rule_added: DateTime<Utc>, seen: &Seen, now: DateTime<Utc>) -> bool {
    seen.occurred_at >= rule_added && seen.recorded_at >= rule_added && now - seen.recorded_at <= MAX_AGE
}

/// Whether a win of `amount` minor units in `currency` is big for a rule of `min` in
/// `rule_currency`; never across currencies.
pub fn is_big_win(amount: i64, currency: &str, min: i64, rule_currency: &str) -> bool {
    currency.eq_ignore_ascii_case(rule_currency) && amount >= min
}

/// A personal best: the rep's count in the current span beats their best of every other span,
/// and they had one (a first day ever is a start, not a record). `earlier`: the count of each
/// other span the rep logged the kind in; returns the best beaten.
pub fn beats_best(current: i64, earlier: impl IntoIterator<Item = i64>) -> Option<i64> {
    let best = earlier.into_iter().max().filter(|b| *b > 0)?;
    (current > best).then_some(best)
}

/// The counts per span from counts per day: (span's first day, sum), in day order.
pub fn per_span(days: &[(NaiveDate, i64)], span: Span, week_start: Weekday) -> Vec<(NaiveDate, i64)> {
    let mut out: Vec<(NaiveDate, i64)> = Vec::new();
    let mut sorted = days.to_vec();
    sorted.sort();
    for (day, n) in sorted {
        let b = span.bucket(day, week_start);
        match out.last_mut() {
            Some((last, sum)) if *last == b => *sum += n,
            _ => out.push((b, n)),
        }
    }
    out
}

/// The streak level reached on `day` and the streak's first day, when activity on `day` (a
/// working day) made the rep's streak exactly one of [`STREAK_LEVELS`]. Days off neither count
/// nor break a streak, so an activity on a day off reaches nothing.
pub fn streak_reached(active: &BTreeSet<NaiveDate>, day: NaiveDate, working: WorkingDays) -> Option<(u32, NaiveDate)> {
    if !working.is_working(day) || !active.contains(&day) {
        return None;
    }
    let length = streak(active, day, working);
    if !STREAK_LEVELS.contains(&length) {
        return None;
    }
    // Walk back over `length` working days to the first.
    let mut first = day;
    let mut counted = 0;
    let mut cursor = day;
    for _ in 0..3660 {
        if working.is_working(cursor) {
            counted += 1;
            first = cursor;
            if counted == length {
                break;
            }
        }
        cursor = cursor.pred_opt()?;
    }
    Some((length, first))
}

/// The key of a celebrated event, from its content (never an activity id), so that undoing an
/// activity and logging the same thing again is the same event and is not celebrated twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKey {
    /// A big win: its deal reference when it has one, else its amount, on its local day.
    BigWin {
        rule: i64,
        user: u64,
        deal: Option<String>,
        amount: i64,
        day: NaiveDate,
    },
    PersonalBest {
        rule: i64,
        user: u64,
        kind: String,
        span: Span,
        first_day: NaiveDate,
    },
    FirstWin {
        rule: i64,
        user: u64,
    },
    Streak {
        rule: i64,
        user: u64,
        level: u32,
        first_day: NaiveDate,
    },
}

impl EventKey {
    /// The key as stored (unique per guild).
    pub fn text(&self) -> String {
        match self {
            EventKey::BigWin { rule, user, deal: Some(deal), day, .. } => {
                format!("big:{rule}:{user}:deal:{}:{day}", deal.to_lowercase())
            }
            EventKey::BigWin { rule, user, deal: None, amount, day } => {
                format!("big:{rule}:{user}:amount:{amount}:{day}")
            }
            EventKey::PersonalBest { rule, user, kind, span, first_day } => {
                format!("best:{rule}:{user}:{kind}:{}:{first_day}", span.as_str())
            }
            EventKey::FirstWin { rule, user } => format!("first:{rule}:{user}"),
            EventKey::Streak { rule, user, level, first_day } => format!("streak:{rule}:{user}:{level}:{first_day}"),
        }
    }
}

/// How the celebrations waiting in one channel go out: `singles` posts of one each, then (when
/// `folded`) one post with all the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Posts of one celebration each, the oldest waiting first.
    pub singles: usize,
    /// Whether one more post tells of all the rest.
    pub folded: bool,
}

/// The plan for `waiting` celebrations in a channel that had `recent` celebration posts in the
/// last [`RATE_WINDOW`]: one post each while the rate allows, the rest folded into the last post
/// the rate allows; nothing when the rate is used up (they wait for the window to move on).
pub fn plan(waiting: usize, recent: usize) -> Plan {
    let room = RATE_POSTS.saturating_sub(recent);
    if waiting == 0 || room == 0 {
        Plan { singles: 0, folded: false }
    } else if waiting <= room {
        Plan { singles: waiting, folded: false }
    } else {
        Plan { singles: room - 1, folded: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn days(list: &[&str]) -> BTreeSet<NaiveDate> {
        list.iter().map(|s| d(s)).collect()
    }

    #[test]
    fn a_personal_best_must_beat_the_best_strictly_and_needs_one_to_beat() {
        assert_eq!(beats_best(11, [3, 10, 7]), Some(10));
        assert_eq!(beats_best(10, [3, 10, 7]), None, "equalling a best is not beating it");
        assert_eq!(beats_best(5, []), None, "a first day ever is no record");
        assert_eq!(beats_best(5, [0]), None);
    }

    #[test]
    fn weeks_are_summed_from_the_guilds_week_start() {
        // Sunday 29 Nov 2026 and Monday 30 Nov: one week from Sunday, two from Monday.
        let counts = [(d("2026-11-29"), 2), (d("2026-11-30"), 3), (d("2026-11-23"), 4)];
        assert_eq!(per_span(&counts, Span::Week, Weekday::Mon), vec![(d("2026-11-23"), 6), (d("2026-11-30"), 3)]);
        assert_eq!(per_span(&counts, Span::Week, Weekday::Sun), vec![(d("2026-11-22"), 4), (d("2026-11-29"), 5)]);
        assert_eq!(per_span(&counts, Span::Day, Weekday::Mon).len(), 3);
    }

    #[test]
    fn a_streak_of_five_reached_across_a_weekend_starts_on_its_first_working_day() {
        // Thu 19, Fri 20, (weekend off), Mon 23, Tue 24, Wed 25 November 2026.
        let active = days(&["2026-11-19", "2026-11-20", "2026-11-23", "2026-11-24", "2026-11-25"]);
        assert_eq!(streak_reached(&active, d("2026-11-25"), WorkingDays::MON_FRI), Some((5, d("2026-11-19"))));
        // Four days is no level; the same streak on its fourth day reaches nothing.
        assert_eq!(streak_reached(&active, d("2026-11-24"), WorkingDays::MON_FRI), None);
    }

    #[test]
    fn an_activity_on_a_day_off_reaches_no_streak_level() {
        let mut active = days(&["2026-11-19", "2026-11-20", "2026-11-23", "2026-11-24", "2026-11-25"]);
        active.insert(d("2026-11-28"));
        assert_eq!(streak_reached(&active, d("2026-11-28"), WorkingDays::MON_FRI), None);
        // With Saturday a working day, the missing Saturday 21st breaks the earlier run.
        let six = WorkingDays::parse("mon-sat").unwrap();
        assert_eq!(streak_reached(&active, d("2026-11-25"), six), None);
    }

    #[test]
    fn ten_and_twenty_are_levels_and_eleven_is_not() {
        let mut active = BTreeSet::new();
        let mut day = d("2026-11-02");
        while active.len() < 20 {
            if WorkingDays::MON_FRI.is_working(day) {
                active.insert(day);
            }
            day = day.succ_opt().unwrap();
        }
        let nth = |n: usize| *active.iter().nth(n - 1).unwrap();
        assert_eq!(streak_reached(&active, nth(10), WorkingDays::MON_FRI).map(|x| x.0), Some(10));
        assert_eq!(streak_reached(&active, nth(11), WorkingDays::MON_FRI), None);
        assert_eq!(streak_reached(&active, nth(20), WorkingDays::MON_FRI), Some((20, d("2026-11-02"))));
    }

    #[test]
    fn nothing_before_the_rule_or_stale_is_celebrated() {
        let rule = t("2026-11-30T09:00:00Z");
        let seen = |occurred: &str, recorded: &str| Seen {
            user: 1,
            kind: "won".into(),
            quantity: 1,
            amount: Some(1),
            deal: None,
            occurred_at: t(occurred),
            recorded_at: t(recorded),
            day: d("2026-11-30"),
        };
        let now = t("2026-11-30T10:00:00Z");
        assert!(may_celebrate(rule, &seen("2026-11-30T09:30:00Z", "2026-11-30T09:30:00Z"), now));
        // Imported now, but it happened last week.
        assert!(!may_celebrate(rule, &seen("2026-11-23T09:30:00Z", "2026-11-30T09:30:00Z"), now));
        // Happened after, recorded long ago (impossible live, but a clock skew must not fire it).
        assert!(!may_celebrate(rule, &seen("2026-11-30T09:30:00Z", "2026-11-30T08:30:00Z"), now));
        assert!(!may_celebrate(rule, &seen("2026-11-30T09:30:00Z", "2026-11-30T09:30:00Z"), now + MAX_AGE));
    }

    #[test]
    fn a_big_win_is_at_least_the_minimum_in_the_same_currency() {
        assert!(is_big_win(1_000_000, "EUR", 1_000_000, "EUR"));
        assert!(!is_big_win(999_999, "EUR", 1_000_000, "EUR"));
        assert!(!is_big_win(5_000_000, "USD", 1_000_000, "EUR"));
    }

    #[test]
    fn a_redo_has_the_same_event_key() {
        let key = |deal: Option<&str>| {
            EventKey::BigWin { rule: 1, user: 2, deal: deal.map(String::from), amount: 500, day: d("2026-11-30") }
                .text()
        };
        assert_eq!(key(Some("ACME-1")), key(Some("acme-1")));
        assert_ne!(key(Some("ACME-1")), key(None));
    }

    #[test]
    fn a_burst_folds_into_the_last_post_the_rate_allows() {
        assert_eq!(plan(2, 0), Plan { singles: 2, folded: false });
        assert_eq!(plan(3, 0), Plan { singles: 3, folded: false });
        assert_eq!(plan(7, 0), Plan { singles: 2, folded: true });
        assert_eq!(plan(7, 2), Plan { singles: 0, folded: true });
        assert_eq!(plan(7, 3), Plan { singles: 0, folded: false });
        assert_eq!(plan(0, 0), Plan { singles: 0, folded: false });
    }
}
