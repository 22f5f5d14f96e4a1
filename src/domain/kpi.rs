//! KPI arithmetic over already-summed numbers: totals per member or team, win rate, average deal
//! size, streaks, competition ranking and change against a previous period. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::activity::{LOST, WON};
use super::settings::WorkingDays;

/// A ratio as a whole percent, by the one rule rally uses everywhere: rounded down, so 99.6 % of a
/// goal never reads as 100 % and 3,750 of 10,000 reads 37 % in every reply. The tiny allowance
/// keeps a ratio like 0.29 (28.999… % in floating point) at 29 %.
pub fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "-".to_string();
    }
    format!("{}%", whole_percent(ratio))
}

/// The whole percent [`percent`] shows for a ratio; differences between shown percents are taken
/// from these, so that "66% against 75%" says 9 points, as a reader would count.
pub fn whole_percent(ratio: f64) -> i64 {
    (ratio * 100.0 + 1e-9).floor() as i64
}

/// `part` of `whole` as a whole percent, exactly (integers), rounded down like [`percent`].
pub fn percent_of(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "-".to_string();
    }
    format!("{}%", (i128::from(part) * 100).div_euclid(i128::from(whole)))
}

/// The least number of points an improvement is measured against: without it a rep going from 1
/// point to 3 would "improve by 200 %" and win a most-improved board. 20 points is a few calls
/// and a meeting; a rep above it is measured against their own previous period.
pub const IMPROVEMENT_BASE_POINTS: i64 = 20;

/// The improvement of `current` over `previous` points, in basis points (1/100 of a percent) of
/// the larger of `previous` and [`IMPROVEMENT_BASE_POINTS`], rounded down: 100 → 150 is 5,000
/// (+50 %), 1 → 3 is 1,000 (+10 %, measured against the base), 0 → 10 is 5,000.
pub fn improvement_bp(current: i64, previous: i64) -> i64 {
    let base = i128::from(previous.max(IMPROVEMENT_BASE_POINTS));
    let bp = (i128::from(current) - i128::from(previous)) * 10_000;
    i64::try_from(bp.div_euclid(base)).unwrap_or(if bp < 0 { i64::MIN } else { i64::MAX })
}

/// `actual` of `target` in basis points, rounded down (0 for a target of 0 or less): the score of a
/// %-of-goal board, shown as whole percents by [`bp_percent`].
pub fn attainment_bp(actual: i64, target: i64) -> i64 {
    if target <= 0 {
        return 0;
    }
    let bp = (i128::from(actual) * 10_000).div_euclid(i128::from(target));
    i64::try_from(bp).unwrap_or(i64::MAX)
}

/// Basis points as a whole percent, rounded down like [`percent`]: 8,499 → `84%`, -250 → `-3%`.
pub fn bp_percent(bp: i64) -> String {
    format!("{}%", bp.div_euclid(100))
}

/// What a member or team did in a period, summed from day rollups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Quantity per kind name.
    pub counts: BTreeMap<String, i64>,
    pub points: i64,
    /// Sum of `won` amounts, in minor units.
    pub revenue: i64,
}

impl Totals {
    pub fn add(&mut self, kind: &str, quantity: i64, points: i64, amount: i64) {
        *self.counts.entry(kind.to_string()).or_default() += quantity;
        self.points += points;
        if kind == WON {
            self.revenue += amount;
        }
    }

    pub fn merge(&mut self, other: &Totals) {
        for (k, v) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += v;
        }
        self.points += other.points;
        self.revenue += other.revenue;
    }

    pub fn count(&self, kind: &str) -> i64 {
        self.counts.get(kind).copied().unwrap_or(0)
    }

    pub fn deals_won(&self) -> i64 {
        self.count(WON)
    }

    pub fn deals_lost(&self) -> i64 {
        self.count(LOST)
    }

    /// Revenue per won deal, in minor units, rounded half up; none without wins.
    pub fn average_deal_size(&self) -> Option<i64> {
        let won = self.deals_won();
        (won > 0).then(|| (self.revenue + won / 2) / won)
    }

    /// won / (won + lost); none when no deal was decided.
    pub fn win_rate(&self) -> Option<f64> {
        let decided = self.deals_won() + self.deals_lost();
        (decided > 0).then(|| self.deals_won() as f64 / decided as f64)
    }
}

/// Competition ranking ("1, 1, 3"): equal scores share a rank, the next rank skips the tied places.
/// `scores` must already be sorted best first; returns one rank per score.
pub fn competition_ranks<T: PartialEq>(scores: &[T]) -> Vec<u32> {
    let mut ranks = Vec::with_capacity(scores.len());
    for (i, s) in scores.iter().enumerate() {
        if i > 0 && scores[i - 1] == *s {
            let prev = ranks[i - 1];
            ranks.push(prev);
        } else {
            ranks.push(i as u32 + 1);
        }
    }
    ranks
}

/// Consecutive working days with at least one activity, counted back from `as_of`.
/// `as_of` itself counts when active but does not break the streak when it is not yet (the day may
/// still be going on); days off neither count nor break it.
pub fn streak(active_days: &BTreeSet<NaiveDate>, as_of: NaiveDate, working: WorkingDays) -> u32 {
    let mut streak = 0;
    let mut day = as_of;
    // A streak longer than ten years is not worth walking; it also bounds the loop.
    for step in 0..3660 {
        if working.is_working(day) {
            if active_days.contains(&day) {
                streak += 1;
            } else if step > 0 {
                break;
            }
        }
        match day.pred_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    streak
}

/// A value next to the same value in the previous period.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Change {
    pub current: i64,
    pub previous: i64,
}

impl Change {
    pub fn new(current: i64, previous: i64) -> Self {
        Change { current, previous }
    }

    pub fn delta(&self) -> i64 {
        self.current - self.previous
    }

    /// Relative change; none when the previous value was zero (growth from nothing has no ratio).
    pub fn percent(&self) -> Option<f64> {
        (self.previous != 0).then(|| (self.current - self.previous) as f64 * 100.0 / self.previous.abs() as f64)
    }

    /// `+12 (+25%)`, `-3 (-10%)`, `+5 (new)`, `±0`.
    pub fn describe(&self) -> String {
        self.describe_by(|v| v.to_string())
    }

    /// The same with the magnitude shown by `show` (money, say): `+1,250.00 (+25%)`.
    pub fn describe_by(&self, show: impl Fn(i64) -> String) -> String {
        let d = self.delta();
        let sign = if d < 0 { "-" } else { "+" };
        let magnitude = show(d.abs());
        match (d, self.percent()) {
            (0, _) => "±0".to_string(),
            // Rounded down like every percent rally shows (`+104.7` is `+104%`, `-25.9` is `-26%`).
            (_, Some(p)) => format!("{sign}{magnitude} ({:+}%)", (p + 1e-9).floor() as i64),
            (_, None) => format!("{sign}{magnitude} (new)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn improvement_is_measured_against_at_least_the_base() {
        assert_eq!(improvement_bp(150, 100), 5_000);
        assert_eq!(improvement_bp(3, 1), 1_000, "1 → 3 is +2 of a 20-point base");
        assert_eq!(improvement_bp(10, 0), 5_000);
        assert_eq!(improvement_bp(80, 100), -2_000);
        assert_eq!(improvement_bp(i64::MAX, 0), i64::MAX);
        assert_eq!(attainment_bp(3_750, 10_000), 3_750);
        assert_eq!(bp_percent(attainment_bp(3_750, 10_000)), "37%");
        assert_eq!(bp_percent(attainment_bp(2, 3)), "66%");
        assert_eq!(attainment_bp(5, 0), 0);
        assert_eq!(bp_percent(-250), "-3%");
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn totals_compute_revenue_win_rate_and_average_deal_size() {
        let mut t = Totals::default();
        t.add("call", 10, 10, 0);
        t.add(WON, 2, 40, 300_000);
        t.add(WON, 1, 20, 150_001);
        t.add(LOST, 1, 0, 0);
        assert_eq!(t.points, 70);
        assert_eq!(t.revenue, 450_001);
        assert_eq!(t.deals_won(), 3);
        assert_eq!(t.average_deal_size(), Some(150_000));
        assert_eq!(t.win_rate(), Some(0.75));
        assert_eq!(Totals::default().win_rate(), None);
        assert_eq!(Totals::default().average_deal_size(), None);
    }

    #[test]
    fn tied_scores_share_a_rank_and_the_next_rank_skips() {
        assert_eq!(competition_ranks(&[50, 30, 30, 10]), vec![1, 2, 2, 4]);
        assert_eq!(competition_ranks(&[0, 0, 0]), vec![1, 1, 1]);
        assert_eq!(competition_ranks::<i64>(&[]), Vec::<u32>::new());
    }

    #[test]
    fn a_streak_skips_weekends_and_an_unfinished_today() {
        // 2026-11-23 is a Monday.
        let active: BTreeSet<_> = ["2026-11-19", "2026-11-20", "2026-11-23", "2026-11-24"].into_iter().map(d).collect();
        // Wed 25th not yet active: Tue, Mon, (weekend), Fri, Thu = 4.
        assert_eq!(streak(&active, d("2026-11-25"), WorkingDays::MON_FRI), 4);
        // Thursday 26th: Wednesday was missed, so the streak is broken.
        assert_eq!(streak(&active, d("2026-11-26"), WorkingDays::MON_FRI), 0);
        // Sunday: the weekend does not count against it.
        assert_eq!(streak(&active, d("2026-11-22"), WorkingDays::MON_FRI), 2);
    }

    #[test]
    fn change_is_described_with_sign_and_percent() {
        assert_eq!(Change::new(60, 48).describe(), "+12 (+25%)");
        assert_eq!(Change::new(9, 10).describe(), "-1 (-10%)");
        assert_eq!(Change::new(5, 0).describe(), "+5 (new)");
        assert_eq!(percent(0.375), "37%");
        assert_eq!(percent(0.29), "29%");
        assert_eq!(percent(0.996), "99%");
        assert_eq!(percent_of(3_750, 10_000), "37%");
        assert_eq!(percent_of(1, 0), "-");
        assert_eq!(Change::new(3, 3).describe(), "±0");
        assert_eq!(
            Change::new(50_000, 0).describe_by(|v| crate::domain::money::Money::default().number(v)),
            "+500.00 (new)"
        );
        assert_eq!(
            Change::new(0, 125_000).describe_by(|v| crate::domain::money::Money::default().number(v)),
            "-1,250.00 (-100%)"
        );
    }
}
