//! Revenue forecast for a period: won so far plus the open pipeline weighted by each deal's stage
//! probability, for the deals expected to close inside the period; next to a run-rate projection
//! and the goal. Also the day-by-day cumulative series the chart draws. Pure.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

/// An open deal as the forecast sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenDeal {
    /// Minor units.
    pub value: i64,
    /// The stage's win probability, 0..=100.
    pub probability: u8,
    pub expected_close: Option<NaiveDate>,
    /// Whether the deal is stale by the guild's hygiene rules (`domain::hygiene`, rule `stale`).
    pub stale: bool,
    /// Whether the deal breaks any of the guild's enabled hygiene rules.
    pub broken: bool,
}

impl OpenDeal {
    /// A deal no hygiene rule flags (stale and broken false).
    pub fn new(value: i64, probability: u8, expected_close: Option<NaiveDate>) -> OpenDeal {
        OpenDeal { value, probability, expected_close, stale: false, broken: false }
    }

    pub fn weighted(&self) -> i64 {
        (self.value as i128 * self.probability.min(100) as i128 / 100) as i64
    }
}

/// One day of the period: its date and whether it is a working day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub working: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Forecast {
    /// Revenue won so far in the period.
    pub won: i64,
    /// Sum of value × probability of open deals expected to close from today to the period's end.
    pub weighted_open: i64,
    /// won + weighted_open.
    pub forecast: i64,
    /// won / elapsed working time × total working time; none before any working time has passed.
    pub run_rate: Option<i64>,
    pub goal: Option<i64>,
    /// Open deals counted in `weighted_open`.
    pub deals_in_period: usize,
    /// Open deals left out because they have no expected close date.
    pub undated: usize,
    /// Open deals whose expected close date has passed: they count on the last day they could close
    /// (today), since a slipping deal is still in play, and are named so a manager can chase them.
    pub overdue: usize,
    /// The part of `weighted_open` that sits on deals overdue (close date before today) or stale
    /// (`OpenDeal::stale`), each deal once, minor units.
    pub weighted_overdue_or_stale: i64,
    /// How many of the counted deals are overdue or stale.
    pub deals_overdue_or_stale: usize,
    /// The part of `weighted_open` that sits on deals breaking any hygiene rule, minor units.
    pub weighted_broken: i64,
    /// Cumulative series, one entry per day (minor units).
    pub series: Vec<SeriesDay>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesDay {
    pub date: NaiveDate,
    /// Cumulative won revenue up to and including the day; none after today.
    pub actual: Option<i64>,
    /// Where the goal says revenue should stand at the end of the day, spread over working days.
    pub goal: Option<i64>,
    /// From today on: actual so far plus weighted deals expected to close by the end of the day.
    pub forecast: Option<i64>,
}

/// Builds the forecast. `days` are the period's local days in order; `today` is the local date of
/// now; `elapsed` is the working time elapsed as a fraction of the period's total (0..=1).
pub fn forecast(
    days: &[Day],
    today: NaiveDate,
    won_by_day: &BTreeMap<NaiveDate, i64>,
    open: &[OpenDeal],
    goal: Option<i64>,
    elapsed: f64,
) -> Forecast {
    let (Some(first), Some(last)) = (days.first().map(|d| d.date), days.last().map(|d| d.date)) else {
        return Forecast {
            won: 0,
            weighted_open: 0,
            forecast: 0,
            run_rate: None,
            goal,
            deals_in_period: 0,
            undated: 0,
            overdue: 0,
            weighted_overdue_or_stale: 0,
            deals_overdue_or_stale: 0,
            weighted_broken: 0,
            series: Vec::new(),
        };
    };
    let won: i64 = won_by_day.range(first..=last.min(today)).map(|(_, v)| v).sum();
    // A deal closes, for the forecast, on its expected date, or today when that date has passed.
    let mut closing: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    let (mut undated, mut overdue, mut counted) = (0, 0, 0);
    let (mut at_risk, mut at_risk_deals, mut broken) = (0i64, 0, 0i64);
    for deal in open {
        let Some(close) = deal.expected_close else {
            undated += 1;
            continue;
        };
        let late = close < today;
        let when = if late {
            overdue += 1;
            today
        } else {
            close
        };
        if when >= first && when <= last && when >= today {
            *closing.entry(when).or_default() += deal.weighted();
            counted += 1;
            if late || deal.stale {
                at_risk += deal.weighted();
                at_risk_deals += 1;
            }
            if deal.broken {
                broken += deal.weighted();
            }
        }
    }
    let weighted_open: i64 = closing.values().sum();
    let elapsed = elapsed.clamp(0.0, 1.0);
    let run_rate = (elapsed > 0.0).then(|| (won as f64 / elapsed).round() as i64);

    let working_total = days.iter().filter(|d| d.working).count().max(1) as f64;
    let mut series = Vec::with_capacity(days.len());
    let (mut actual, mut expected, mut working_seen) = (0i64, 0i64, 0usize);
    for d in days {
        actual += won_by_day.get(&d.date).copied().unwrap_or(0);
        working_seen += usize::from(d.working);
        let is_past = d.date <= today;
        if d.date >= today {
            expected += closing.get(&d.date).copied().unwrap_or(0);
        }
        series.push(SeriesDay {
            date: d.date,
            actual: is_past.then_some(actual),
            goal: goal.map(|g| (g as f64 * working_seen as f64 / working_total).round() as i64),
            forecast: (d.date >= today).then_some(won + expected),
        });
    }
    Forecast {
        won,
        weighted_open,
        forecast: won + weighted_open,
        run_rate,
        goal,
        deals_in_period: counted,
        undated,
        overdue,
        weighted_overdue_or_stale: at_risk,
        deals_overdue_or_stale: at_risk_deals,
        weighted_broken: broken,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn week() -> Vec<Day> {
        // Monday 2026-11-23 .. Sunday 2026-11-29, Mon-Fri working.
        (0..7).map(|i| Day { date: d("2026-11-23") + chrono::Duration::days(i), working: i < 5 }).collect()
    }

    #[test]
    fn forecast_is_won_plus_weighted_deals_closing_in_the_period() {
        let won: BTreeMap<_, _> =
            [(d("2026-11-23"), 100_000), (d("2026-11-24"), 50_000), (d("2026-11-20"), 999_999)].into();
        let open = vec![
            OpenDeal::new(200_000, 60, Some(d("2026-11-26"))), // 120,000
            OpenDeal::new(100_000, 25, Some(d("2026-11-29"))), // 25,000
            OpenDeal::new(500_000, 80, Some(d("2026-12-02"))), // next period
            OpenDeal::new(300_000, 40, Some(d("2026-11-20"))), // overdue: today
            OpenDeal::new(700_000, 90, None),
        ];
        // Wednesday: two of five working days done.
        let f = forecast(&week(), d("2026-11-25"), &won, &open, Some(400_000), 0.4);
        assert_eq!(f.won, 150_000);
        assert_eq!(f.weighted_open, 120_000 + 25_000 + 120_000);
        assert_eq!(f.forecast, 415_000);
        assert_eq!(f.run_rate, Some(375_000));
        assert_eq!((f.deals_in_period, f.undated, f.overdue), (3, 1, 1));
        let wed = &f.series[2];
        assert_eq!((wed.actual, wed.forecast, wed.goal), (Some(150_000), Some(270_000), Some(240_000)));
        let thu = &f.series[3];
        assert_eq!((thu.actual, thu.forecast), (None, Some(390_000)));
        let sun = &f.series[6];
        assert_eq!((sun.forecast, sun.goal), (Some(415_000), Some(400_000)));
    }

    #[test]
    fn the_part_on_overdue_or_stale_deals_counts_each_deal_once_and_only_inside_the_period() {
        let stale = |value, probability, close: &str| OpenDeal {
            stale: true,
            broken: true,
            ..OpenDeal::new(value, probability, Some(d(close)))
        };
        let open = vec![
            OpenDeal::new(200_000, 60, Some(d("2026-11-26"))), // 120,000, healthy
            stale(100_000, 25, "2026-11-29"),                  // 25,000, stale
            stale(500_000, 80, "2026-12-02"),                  // stale, but closes next period
            OpenDeal { broken: true, ..OpenDeal::new(300_000, 40, Some(d("2026-11-20"))) }, // 120,000, overdue
            stale(50_000, 10, "2026-11-18"),                   // 5,000, overdue and stale: once
            OpenDeal { broken: true, ..OpenDeal::new(80_000, 50, Some(d("2026-11-27"))) }, // 40,000, missing data
        ];
        let f = forecast(&week(), d("2026-11-25"), &BTreeMap::new(), &open, None, 0.4);
        assert_eq!(f.weighted_open, 120_000 + 25_000 + 120_000 + 5_000 + 40_000);
        assert_eq!(f.weighted_overdue_or_stale, 25_000 + 120_000 + 5_000);
        assert_eq!(f.deals_overdue_or_stale, 3);
        assert_eq!(f.weighted_broken, 25_000 + 120_000 + 5_000 + 40_000);
    }

    #[test]
    fn an_empty_period_or_no_elapsed_time_gives_no_run_rate() {
        let f = forecast(&[], d("2026-11-25"), &BTreeMap::new(), &[], None, 0.5);
        assert_eq!((f.forecast, f.run_rate, f.series.len()), (0, None, 0));
        let f = forecast(&week(), d("2026-11-23"), &BTreeMap::new(), &[], Some(10), 0.0);
        assert_eq!(f.run_rate, None);
    }
}
