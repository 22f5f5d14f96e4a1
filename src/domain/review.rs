//! The review rules for what reps log in chat (issue 14, "Numbers people trust"): a kind's optional
//! daily cap, and the outlier rule that flags an entry far above the rep's own usual for a
//! manager's review. Pure: the caller reads the rep's day total and history and passes `now`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::DomainError;

/// An entry is an outlier when it is more than this many times the rep's usual (their 90th
/// percentile) ...
pub const OUTLIER_FACTOR: i64 = 5;
/// ... of the entries they logged in chat in this many days before it.
pub const HISTORY_DAYS: i64 = 30;
/// The smallest entry a kind flags unless the guild sets another (`/settings kind review-min:`):
/// below it nothing is flagged, and a rep without history is flagged from it on.
pub const DEFAULT_REVIEW_MIN: u32 = 25;
/// The largest daily cap and review minimum accepted; far above any day's work, far from overflow.
pub const MAX_LIMIT: u32 = 1_000_000;

/// A kind's review rules. Off by default except the outlier rule's minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KindLimits {
    /// Most of the kind's quantity one rep may log on one local day; `None`: no cap.
    pub daily_cap: Option<u32>,
    /// The outlier rule's minimum quantity; 0 turns the rule off for the kind.
    pub review_min: u32,
}

impl KindLimits {
    /// Whether the outlier rule can flag an entry of `quantity` at all, whatever the rep's history:
    /// it is on and the quantity reaches its minimum. When not, [`outlier`] needs no history (the
    /// store skips reading it on every ordinary `/log`).
    pub fn may_flag(&self, quantity: i64) -> bool {
        self.review_min > 0 && quantity >= i64::from(self.review_min)
    }
}

impl Default for KindLimits {
    fn default() -> Self {
        KindLimits { daily_cap: None, review_min: DEFAULT_REVIEW_MIN }
    }
}

/// Checks a cap or minimum typed by a manager: 0..=[`MAX_LIMIT`].
pub fn parse_limit(value: i64, what: &str) -> Result<u32, DomainError> {
    u32::try_from(value)
        .ok()
        .filter(|v| *v <= MAX_LIMIT)
        .ok_or_else(|| DomainError::invalid(format!("{what} must be between 0 and {MAX_LIMIT}, not {value}")))
}

/// Whether flagged entries count in rollups, boards and goals before a manager decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
pub enum ReviewCounting {
    /// They count at once; a removal takes them back out (the default: a flag is a question, not
    /// a verdict, and nothing a rep logged waits on a manager who is away).
    #[default]
    WhilePending,
    /// They count only once a manager approves them.
    AfterApproval,
}

impl ReviewCounting {
    /// The option value: `while-pending` or `after-approval`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewCounting::WhilePending => "while-pending",
            ReviewCounting::AfterApproval => "after-approval",
        }
    }

    /// Reads an option value (see [`ReviewCounting::as_str`]).
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "while-pending" => Ok(ReviewCounting::WhilePending),
            "after-approval" => Ok(ReviewCounting::AfterApproval),
            other => Err(DomainError::invalid(format!(
                "`{}` is not a choice here; use while-pending or after-approval",
                super::activity::shorten(other, 40)
            ))),
        }
    }

    /// Whether a flagged entry counts while it waits for review.
    pub fn counts_pending(self) -> bool {
        self == ReviewCounting::WhilePending
    }
}

/// The first instant of the history the outlier rule reads for an entry logged at `now`.
pub fn history_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(HISTORY_DAYS)
}

/// The 90th percentile of `quantities` by the nearest-rank method: sorted ascending, the value at
/// rank ⌈0.9 × n⌉ (1-based), so it is always one of the entries. `None` for no entries.
pub fn percentile_90(quantities: &[i64]) -> Option<i64> {
    if quantities.is_empty() {
        return None;
    }
    let mut sorted = quantities.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() * 9).div_ceil(10);
    sorted.get(rank.saturating_sub(1)).copied()
}

/// Why an entry was flagged: its quantity, the rep's usual (`None` without history) and the
/// kind's minimum at the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Outlier {
    pub quantity: i64,
    /// The rep's 90th percentile over [`HISTORY_DAYS`] days; `None` when they logged none.
    pub usual: Option<i64>,
    pub minimum: u32,
}

impl Outlier {
    /// One line for a manager: `40 × call; their usual is at most 6 (90th percentile, 30 days)`.
    pub fn reason(&self, kind: &str) -> String {
        match self.usual {
            Some(usual) => format!(
                "{} × {kind}; their usual is at most {usual} (90th percentile, {HISTORY_DAYS} days)",
                self.quantity
            ),
            None => format!(
                "{} × {kind}; no {kind} logged in chat in the last {HISTORY_DAYS} days, and entries of {} or more are reviewed",
                self.quantity, self.minimum
            ),
        }
    }
}

impl Outlier {
    /// The same reason told to the rep who logged it.
    pub fn reason_to_rep(&self, kind: &str) -> String {
        match self.usual {
            Some(usual) => format!(
                "{} × {kind} is more than {OUTLIER_FACTOR}× your usual (at most {usual} per entry, 90th percentile \
                 of {HISTORY_DAYS} days)",
                self.quantity
            ),
            None => format!(
                "you logged no {kind} in chat in the last {HISTORY_DAYS} days, and entries of {} or more are reviewed",
                self.minimum
            ),
        }
    }
}

/// The outlier rule: an entry of `quantity` is flagged when it is at least the kind's minimum and
/// more than [`OUTLIER_FACTOR`] times the 90th percentile of the rep's own `history` (their
/// quantities of the kind in the [`HISTORY_DAYS`] days before it). Without history the minimum
/// alone decides. A minimum of 0 turns the rule off.
pub fn outlier(quantity: i64, history: &[i64], limits: &KindLimits) -> Option<Outlier> {
    if !limits.may_flag(quantity) {
        return None;
    }
    let usual = percentile_90(history);
    match usual {
        Some(p90) if quantity <= p90.saturating_mul(OUTLIER_FACTOR) => None,
        _ => Some(Outlier { quantity, usual, minimum: limits.review_min }),
    }
}

/// An entry refused by a kind's daily cap. Nothing was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverCap {
    pub cap: u32,
    /// The rep's quantity of the kind on the entry's local day so far.
    pub today: i64,
    /// How much more they can log that day (0 when the cap is reached).
    pub room: i64,
}

impl OverCap {
    /// The refusal a rep reads.
    pub fn message(&self, kind: &str, quantity: i64) -> String {
        let head = format!("`{kind}` has a daily cap of {} per rep and you have {} that day", self.cap, self.today);
        if self.room > 0 {
            format!(
                "{head}, so {quantity} more would go over it: you can log up to {} more. Nothing was logged",
                self.room
            )
        } else {
            format!("{head}: the cap is reached, so nothing was logged. Ask a manager if it should be higher")
        }
    }
}

/// The daily cap: logging `quantity` on a day where the rep already has `today` of the kind is
/// refused when it would take the day above `cap`; exactly reaching the cap is allowed.
pub fn check_cap(cap: Option<u32>, today: i64, quantity: i64) -> Result<(), OverCap> {
    let Some(cap) = cap else {
        return Ok(());
    };
    if today.saturating_add(quantity) <= i64::from(cap) {
        return Ok(());
    }
    Err(OverCap { cap, today, room: (i64::from(cap) - today).max(0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_the_rule_may_not_flag_is_never_flagged_whatever_the_history() {
        let histories: [&[i64]; 4] = [&[], &[1], &[1, 1, 2, 1], &[100, 200]];
        for review_min in [0, 1, 5, 25] {
            let limits = KindLimits { daily_cap: None, review_min };
            for quantity in 1..=60 {
                let flagged = histories.iter().any(|h| outlier(quantity, h, &limits).is_some());
                assert!(limits.may_flag(quantity) || !flagged, "{quantity} with a minimum of {review_min}");
                // And the other way: past the minimum, some history (none at all) flags it.
                assert_eq!(limits.may_flag(quantity), outlier(quantity, &[], &limits).is_some());
            }
        }
    }

    #[test]
    fn the_90th_percentile_is_the_nearest_rank() {
        assert_eq!(percentile_90(&[]), None);
        assert_eq!(percentile_90(&[7]), Some(7));
        // n = 10: rank 9.
        assert_eq!(percentile_90(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), Some(9));
        // n = 11: rank ⌈9.9⌉ = 10.
        assert_eq!(percentile_90(&[11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), Some(10));
        // n = 5: rank ⌈4.5⌉ = 5, the largest.
        assert_eq!(percentile_90(&[3, 1, 2, 5, 4]), Some(5));
    }

    #[test]
    fn an_entry_is_flagged_only_above_five_times_the_usual_and_from_the_minimum() {
        let limits = KindLimits { daily_cap: None, review_min: 25 };
        let history = [4, 6, 5, 6, 3];
        assert_eq!(outlier(30, &history, &limits), None, "5 × 6 is not more than 5 × 6");
        assert_eq!(outlier(31, &history, &limits), Some(Outlier { quantity: 31, usual: Some(6), minimum: 25 }));
        assert_eq!(outlier(24, &[1], &limits), None, "below the minimum");
        assert_eq!(outlier(25, &[], &limits), Some(Outlier { quantity: 25, usual: None, minimum: 25 }));
        assert_eq!(outlier(1000, &[], &KindLimits { daily_cap: None, review_min: 0 }), None, "the rule is off");
    }

    #[test]
    fn the_cap_allows_reaching_it_and_refuses_going_over() {
        assert_eq!(check_cap(None, 5000, 1000), Ok(()));
        assert_eq!(check_cap(Some(200), 150, 50), Ok(()));
        assert_eq!(check_cap(Some(200), 150, 51), Err(OverCap { cap: 200, today: 150, room: 50 }));
        assert_eq!(check_cap(Some(200), 250, 1), Err(OverCap { cap: 200, today: 250, room: 0 }));
    }

    #[test]
    fn counting_choices_read_back_as_written() {
        for c in [ReviewCounting::WhilePending, ReviewCounting::AfterApproval] {
            assert_eq!(ReviewCounting::parse(c.as_str()), Ok(c));
        }
        assert!(ReviewCounting::parse("maybe").is_err());
    }
}
