//! Competitions: who competes (teams or reps), how a score is computed (total, per-capita, or % of
//! each participant's goal), the seasons of a recurring competition, and the standings with shared
//! ranks. Pure: callers bring the totals, the active members and the targets.

use chrono::{Datelike, Duration, Months, NaiveDate};

use super::DomainError;
use super::kpi::competition_ranks;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Contest {
    Teams,
    Reps,
}

impl Contest {
    pub fn parse(text: &str) -> Result<Contest, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "teams" | "team" => Ok(Contest::Teams),
            "reps" | "rep" => Ok(Contest::Reps),
            _ => Err(DomainError::invalid("a competition is between `teams` or between `reps`")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Contest::Teams => "teams",
            Contest::Reps => "reps",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scoring {
    /// The metric's total over the season.
    Total,
    /// A team's total divided by its members who logged anything in the season, so teams of
    /// different size compete fairly.
    PerCapita,
    /// The total as a percentage of the participant's goal for the season.
    PercentOfGoal,
}

impl Scoring {
    pub fn parse(text: &str) -> Result<Scoring, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "total" => Ok(Scoring::Total),
            "per-capita" | "per capita" | "percapita" => Ok(Scoring::PerCapita),
            "percent-of-goal" | "percent of goal" | "%" | "percent" => Ok(Scoring::PercentOfGoal),
            _ => Err(DomainError::invalid("scoring is `total`, `per-capita` or `percent-of-goal`")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scoring::Total => "total",
            Scoring::PerCapita => "per-capita",
            Scoring::PercentOfGoal => "percent-of-goal",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scoring::Total => "total",
            Scoring::PerCapita => "per active member",
            Scoring::PercentOfGoal => "% of goal",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Repeat {
    None,
    Weekly,
    Monthly,
}

impl Repeat {
    pub fn parse(text: &str) -> Result<Repeat, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "none" | "no" | "once" => Ok(Repeat::None),
            "weekly" | "week" => Ok(Repeat::Weekly),
            "monthly" | "month" => Ok(Repeat::Monthly),
            _ => Err(DomainError::invalid("repeat is `none`, `weekly` or `monthly`")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Repeat::None => "none",
            Repeat::Weekly => "weekly",
            Repeat::Monthly => "monthly",
        }
    }
}

/// The first season's local days, both ends inclusive, and how it repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seasons {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub repeat: Repeat,
}

/// One season: local days [first_day, end_day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Season {
    pub index: u32,
    pub first_day: NaiveDate,
    pub end_day: NaiveDate,
}

/// The longest season rally accepts: a fiscal year and then some.
pub const MAX_SEASON_DAYS: i64 = 400;

impl Seasons {
    pub fn new(first_day: NaiveDate, last_day: NaiveDate, repeat: Repeat) -> Result<Seasons, DomainError> {
        if last_day < first_day {
            return Err(DomainError::invalid(format!(
                "the competition ends ({last_day}) before it starts ({first_day})"
            )));
        }
        let days = (last_day - first_day).num_days() + 1;
        if days > MAX_SEASON_DAYS {
            return Err(DomainError::invalid(format!("a season is at most {MAX_SEASON_DAYS} days, not {days}")));
        }
        match repeat {
            Repeat::Weekly if days > 7 => {
                Err(DomainError::invalid(format!("a weekly season is at most 7 days; this one has {days}")))
            }
            Repeat::Monthly if days > 31 => {
                Err(DomainError::invalid(format!("a monthly season is at most a month; this one has {days} days")))
            }
            _ => Ok(Seasons { first_day, last_day, repeat }),
        }
    }

    /// Season `index` (0 is the first); `None` past the last of a one-off competition or past
    /// chrono's calendar. Monthly seasons move both ends by whole months, measured on the day
    /// after the last so that "1 to 31 January" becomes "1 to 28 February".
    pub fn season(&self, index: u32) -> Option<Season> {
        let end = self.last_day.succ_opt()?;
        let (first_day, end_day) = match self.repeat {
            Repeat::None if index > 0 => return None,
            Repeat::None => (self.first_day, end),
            Repeat::Weekly => {
                let shift = Duration::days(7 * i64::from(index));
                (self.first_day.checked_add_signed(shift)?, end.checked_add_signed(shift)?)
            }
            Repeat::Monthly => {
                let shift = Months::new(index);
                (self.first_day.checked_add_months(shift)?, end.checked_add_months(shift)?)
            }
        };
        (first_day < end_day).then_some(Season { index, first_day, end_day })
    }

    /// The season holding local day `day`, or the next one to start after it.
    pub fn at_or_after(&self, day: NaiveDate) -> Option<Season> {
        let guess = match self.repeat {
            Repeat::None => 0,
            Repeat::Weekly => ((day - self.first_day).num_days().max(0) / 7) as u32,
            Repeat::Monthly => {
                let months =
                    (day.year() - self.first_day.year()) * 12 + day.month() as i32 - self.first_day.month() as i32;
                months.max(1) as u32 - 1
            }
        };
        // The guess is at most one season early; walk forward to the first that has not ended.
        (guess..guess.saturating_add(3)).filter_map(|i| self.season(i)).find(|s| s.end_day > day)
    }
}

/// A participant's raw figures for a season.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The team id, or the rep's user id.
    pub id: u64,
    pub name: String,
    /// The metric's total over the season (minor units for revenue).
    pub total: i64,
    /// Members who logged anything in the season (1 for a rep who did).
    pub active: u32,
    /// The goal for the season, when scored against goals and one is set.
    pub target: Option<f64>,
}

/// A participant's place in the standings.
#[derive(Clone, Debug, PartialEq)]
pub struct Standing {
    pub entry: Entry,
    /// `None`: cannot be scored (no goal under percent-of-goal).
    pub score: Option<f64>,
    /// Shared on ties (1, 1, 3); `None` for the unscored.
    pub rank: Option<u32>,
}

/// A participant's score; `None` when percent-of-goal has no goal to compare with.
pub fn score(scoring: Scoring, entry: &Entry) -> Option<f64> {
    match scoring {
        Scoring::Total => Some(entry.total as f64),
        Scoring::PerCapita if entry.active == 0 => Some(0.0),
        Scoring::PerCapita => Some(entry.total as f64 / f64::from(entry.active)),
        Scoring::PercentOfGoal => entry.target.filter(|t| *t > 0.0).map(|t| entry.total as f64 / t * 100.0),
    }
}

/// Standings, best first: ties share a rank and keep name order; the unscored come last.
pub fn standings(scoring: Scoring, entries: Vec<Entry>) -> Vec<Standing> {
    let mut scored: Vec<(Entry, Option<f64>)> =
        entries.into_iter().map(|e| (score(scoring, &e).map(round), e)).map(|(s, e)| (e, s)).collect();
    scored.sort_by(|a, b| {
        let key = |s: &Option<f64>| s.unwrap_or(f64::NEG_INFINITY);
        key(&b.1).total_cmp(&key(&a.1)).then_with(|| a.0.name.to_lowercase().cmp(&b.0.name.to_lowercase()))
    });
    // Only a score above nothing earns a place, as on every board: no medal for 0 % of a goal.
    let ranked: Vec<f64> = scored.iter().filter_map(|(_, s)| *s).filter(|v| *v > 0.0).collect();
    let mut ranks = competition_ranks(&ranked).into_iter();
    scored
        .into_iter()
        .map(|(entry, score)| Standing { rank: score.filter(|v| *v > 0.0).and_then(|_| ranks.next()), entry, score })
        .collect()
}

/// Scores are compared at a millionth, so 2/3 and 4/6 tie as a person would expect.
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The winners: everyone ranked first with a score above zero (nobody wins with nothing).
pub fn winners(standings: &[Standing]) -> Vec<&Standing> {
    standings.iter().filter(|s| s.rank == Some(1) && s.score.is_some_and(|v| v > 0.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test dates are real")
    }

    fn entry(name: &str, total: i64, active: u32, target: Option<f64>) -> Entry {
        Entry { id: name.len() as u64, name: name.into(), total, active, target }
    }

    #[test]
    fn nothing_earns_no_place_and_ties_share_one() {
        let s = standings(
            Scoring::PercentOfGoal,
            vec![
                entry("A", 50, 1, Some(100.0)),
                entry("B", 0, 1, Some(100.0)),
                entry("C", 50, 1, Some(100.0)),
                entry("D", 10, 1, None),
            ],
        );
        let ranks: Vec<(&str, Option<u32>)> = s.iter().map(|s| (s.entry.name.as_str(), s.rank)).collect();
        assert_eq!(ranks, vec![("A", Some(1)), ("C", Some(1)), ("B", None), ("D", None)]);
    }

    #[test]
    fn per_capita_lets_a_team_of_three_beat_a_team_of_seven() {
        // 3 active members with 90 points (30 each) against 7 with 140 (20 each).
        let s = standings(Scoring::PerCapita, vec![entry("Big", 140, 7, None), entry("Small", 90, 3, None)]);
        assert_eq!(s[0].entry.name, "Small");
        assert_eq!(s[0].score, Some(30.0));
        assert_eq!(s[1].score, Some(20.0));
        // By total the bigger team wins.
        let s = standings(Scoring::Total, vec![entry("Big", 140, 7, None), entry("Small", 90, 3, None)]);
        assert_eq!(s[0].entry.name, "Big");
    }

    #[test]
    fn ties_share_a_rank_and_the_unscored_come_last_without_one() {
        let s = standings(
            Scoring::PercentOfGoal,
            vec![
                entry("Cy", 50, 1, None),
                entry("Ann", 40, 1, Some(60.0)),
                entry("Bo", 20, 1, Some(30.0)),
                entry("Di", 90, 1, Some(100.0)),
            ],
        );
        let got: Vec<(&str, Option<u32>)> = s.iter().map(|s| (s.entry.name.as_str(), s.rank)).collect();
        assert_eq!(got, [("Di", Some(1)), ("Ann", Some(2)), ("Bo", Some(2)), ("Cy", None)]);
        assert_eq!(winners(&s).len(), 1);
    }

    #[test]
    fn nobody_wins_with_nothing_and_a_tie_for_first_has_two_winners() {
        let s = standings(Scoring::Total, vec![entry("A", 0, 0, None), entry("B", 0, 0, None)]);
        assert!(winners(&s).is_empty());
        let s = standings(Scoring::Total, vec![entry("A", 5, 1, None), entry("B", 5, 1, None), entry("C", 1, 1, None)]);
        assert_eq!(winners(&s).len(), 2);
    }

    #[test]
    fn weekly_and_monthly_seasons_follow_the_first() {
        let weekly = Seasons::new(date(2026, 11, 23), date(2026, 11, 27), Repeat::Weekly).unwrap();
        assert_eq!(
            weekly.season(2),
            Some(Season { index: 2, first_day: date(2026, 12, 7), end_day: date(2026, 12, 12) })
        );
        let monthly = Seasons::new(date(2027, 1, 1), date(2027, 1, 31), Repeat::Monthly).unwrap();
        assert_eq!(
            monthly.season(1),
            Some(Season { index: 1, first_day: date(2027, 2, 1), end_day: date(2027, 3, 1) })
        );
        assert_eq!(monthly.at_or_after(date(2027, 3, 15)).map(|s| s.index), Some(2));
        assert_eq!(monthly.at_or_after(date(2026, 12, 15)).map(|s| s.index), Some(0));
        assert_eq!(weekly.at_or_after(date(2026, 11, 28)).map(|s| s.index), Some(1));
        let once = Seasons::new(date(2026, 11, 23), date(2026, 11, 27), Repeat::None).unwrap();
        assert_eq!(once.season(1), None);
        assert_eq!(once.at_or_after(date(2026, 12, 1)), None);
    }

    #[test]
    fn bad_windows_are_refused_with_a_reason() {
        assert!(Seasons::new(date(2026, 11, 27), date(2026, 11, 23), Repeat::None).is_err());
        assert!(Seasons::new(date(2026, 11, 1), date(2026, 11, 30), Repeat::Weekly).is_err());
        assert!(Seasons::new(date(2026, 1, 1), date(2027, 6, 30), Repeat::None).is_err());
        assert!(Scoring::parse("average").is_err());
        assert!(Contest::parse("pets").is_err());
    }
}
