//! The deal pipeline's rules: a guild's stages (won and lost are terminal), stage conversion where
//! skipped stages count as reached, win rate, cycle time, sales velocity, the weakest stage against
//! a benchmark and mentor matching. Pure: no I/O, no clock; imports nothing of ours outside `domain`.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::DomainError;
use super::activity::shorten;

/// At most this many open stages: every stage must fit an autocomplete list (25) and a funnel table.
pub const MAX_OPEN_STAGES: usize = 20;
/// A rate is judged only when at least this many deals reached the stage it starts from: below
/// that, one deal more or less swings it by a third or more, which is noise, not a coaching point.
pub const MIN_SAMPLE: u64 = 3;
pub const MAX_STAGE_NAME_CHARS: usize = 32;
pub const MAX_DEAL_NAME_CHARS: usize = 100;
pub const MAX_REASON_CHARS: usize = 200;

/// How a closed deal ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Won,
    Lost,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Won => "won",
            Outcome::Lost => "lost",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "won" => Some(Outcome::Won),
            "lost" => Some(Outcome::Lost),
            _ => None,
        }
    }
}

/// A stage's name: lowercase ASCII letters, digits, `-` and `_`, 1..=32 characters, so that it can
/// be typed on a command line and matched case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageName(String);

impl StageName {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim().to_ascii_lowercase();
        let ok = !t.is_empty()
            && t.len() <= MAX_STAGE_NAME_CHARS
            && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(StageName(t))
        } else {
            Err(DomainError::invalid(format!(
                "`{}` is not a valid stage name (1-{MAX_STAGE_NAME_CHARS} letters, digits, - or _)",
                shorten(text.trim(), 40)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A deal's name: 1..=100 printable characters. It doubles as the `deal_ref` of the activity
/// logged when the deal is won, hence the same limits as a deal reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DealName(String);

impl DealName {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(DomainError::invalid("a deal needs a name"));
        }
        if t.chars().count() > MAX_DEAL_NAME_CHARS || t.chars().any(char::is_control) {
            return Err(DomainError::invalid(format!(
                "a deal name must be at most {MAX_DEAL_NAME_CHARS} printable characters"
            )));
        }
        Ok(DealName(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DealName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a deal was lost: at most 200 printable characters (it ends up in a list row).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LostReason(String);

impl LostReason {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        if t.chars().count() > MAX_REASON_CHARS || t.chars().any(char::is_control) {
            return Err(DomainError::invalid(format!(
                "a reason must be at most {MAX_REASON_CHARS} printable characters"
            )));
        }
        Ok(LostReason(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An expected close date, `2026-12-15`, a local date in the guild's timezone.
pub fn parse_close_date(text: &str) -> Result<NaiveDate, DomainError> {
    let t = text.trim();
    let bad =
        || DomainError::invalid(format!("`{}` is not a date; write the close date like 2026-12-15", shorten(t, 40)));
    // chrono accepts `+2026` and one-digit months; a date typed by a person has exactly this shape.
    let shaped = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !shaped {
        return Err(bad());
    }
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad())?;
    if !(2000..=2100).contains(&chrono::Datelike::year(&date)) {
        return Err(DomainError::invalid("the close date must be between the years 2000 and 2100"));
    }
    Ok(date)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub name: StageName,
    /// Order in the pipeline: open stages are 1..=n, then won, then lost.
    pub position: i64,
    /// Chance, in percent, that a deal in this stage is won (weights the forecast).
    pub probability: u8,
    /// Set on the two terminal stages only.
    pub outcome: Option<Outcome>,
}

impl Stage {
    pub fn is_open(&self) -> bool {
        self.outcome.is_none()
    }
}

/// The stages a guild starts with (DESIGN.md).
pub fn default_stages() -> Vec<Stage> {
    [
        ("lead", 10, None),
        ("qualified", 25, None),
        ("demo", 40, None),
        ("proposal", 60, None),
        ("negotiation", 80, None),
        ("won", 100, Some(Outcome::Won)),
        ("lost", 0, Some(Outcome::Lost)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, probability, outcome))| Stage {
        name: StageName(name.to_string()),
        position: i as i64 + 1,
        probability,
        outcome,
    })
    .collect()
}

/// A guild's stages in pipeline order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

impl Pipeline {
    /// Orders the stages by position (then name, so that a tie cannot reorder them at random).
    pub fn new(mut stages: Vec<Stage>) -> Pipeline {
        stages.sort_by(|a, b| {
            let rank = |s: &Stage| match s.outcome {
                None => 0,
                Some(Outcome::Won) => 1,
                Some(Outcome::Lost) => 2,
            };
            rank(a).cmp(&rank(b)).then(a.position.cmp(&b.position)).then(a.name.cmp(&b.name))
        });
        Pipeline { stages }
    }

    pub fn defaults() -> Pipeline {
        Pipeline::new(default_stages())
    }

    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    pub fn open_stages(&self) -> Vec<&Stage> {
        self.stages.iter().filter(|s| s.is_open()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Stage> {
        let name = name.trim();
        self.stages.iter().find(|s| s.name.as_str().eq_ignore_ascii_case(name))
    }

    /// Where a new deal starts when no stage is given.
    pub fn first_open(&self) -> Option<&Stage> {
        self.stages.iter().find(|s| s.is_open())
    }

    pub fn terminal(&self, outcome: Outcome) -> Option<&Stage> {
        self.stages.iter().find(|s| s.outcome == Some(outcome))
    }

    /// Adds an open stage or changes one's probability, placed at `place` (1-based among the open
    /// stages; `None` keeps an existing stage where it is and puts a new one last). Positions are
    /// renumbered so that open stages are 1..=n and won, lost follow.
    pub fn with_stage(&self, name: &StageName, probability: i64, place: Option<i64>) -> Result<Pipeline, DomainError> {
        if !(0..=100).contains(&probability) {
            return Err(DomainError::invalid(format!("a probability is 0 to 100 %, not {probability}")));
        }
        if let Some(existing) = self.get(name.as_str())
            && !existing.is_open()
        {
            return Err(DomainError::invalid(format!(
                "`{}` is a closing stage (won 100 %, lost 0 %) and cannot be changed",
                existing.name
            )));
        }
        let mut open: Vec<Stage> = self.open_stages().into_iter().cloned().collect();
        let current = open.iter().position(|s| s.name == *name);
        if current.is_none() && open.len() >= MAX_OPEN_STAGES {
            return Err(DomainError::invalid(format!("a pipeline has at most {MAX_OPEN_STAGES} open stages")));
        }
        let stage = Stage { name: name.clone(), position: 0, probability: probability as u8, outcome: None };
        let index = match (current, place) {
            (Some(i), None) => i,
            (None, None) => open.len(),
            (current, Some(p)) => {
                let slots = open.len() + usize::from(current.is_none());
                if p < 1 || p as usize > slots {
                    return Err(DomainError::invalid(format!("the position must be between 1 and {slots}")));
                }
                p as usize - 1
            }
        };
        if let Some(i) = current {
            open.remove(i);
        }
        open.insert(index, stage);
        Ok(Self::renumbered(open, self))
    }

    /// Removes an open stage. Won and lost are needed by every deal's end and cannot go; a stage
    /// that open deals sit in must be emptied first (`deals_in_it`), so that no deal points nowhere.
    pub fn without_stage(&self, name: &str, deals_in_it: u64) -> Result<Pipeline, DomainError> {
        let Some(stage) = self.get(name) else {
            return Err(DomainError::invalid(format!("there is no stage `{}`", shorten(name.trim(), 40))));
        };
        if !stage.is_open() {
            return Err(DomainError::invalid(format!("`{}` closes deals and cannot be removed", stage.name)));
        }
        if deals_in_it > 0 {
            return Err(DomainError::invalid(format!(
                "{deals_in_it} open deal{} sit{} in `{}`; move {} to another stage first",
                plural(deals_in_it),
                if deals_in_it == 1 { "s" } else { "" },
                stage.name,
                if deals_in_it == 1 { "it" } else { "them" }
            )));
        }
        let open: Vec<Stage> = self.open_stages().into_iter().filter(|s| s.name != stage.name).cloned().collect();
        if open.is_empty() {
            return Err(DomainError::invalid("a pipeline needs at least one open stage"));
        }
        Ok(Self::renumbered(open, self))
    }

    fn renumbered(open: Vec<Stage>, old: &Pipeline) -> Pipeline {
        let n = open.len() as i64;
        let mut stages: Vec<Stage> =
            open.into_iter().enumerate().map(|(i, s)| Stage { position: i as i64 + 1, ..s }).collect();
        for (offset, outcome) in [(1, Outcome::Won), (2, Outcome::Lost)] {
            if let Some(t) = old.terminal(outcome) {
                stages.push(Stage { position: n + offset, ..t.clone() });
            }
        }
        Pipeline::new(stages)
    }

    /// How many open stages a deal reached, counted from the first: skipped stages count as
    /// reached, a won deal reached them all. Stages are matched by their current name so that
    /// inserting or reordering stages reinterprets history consistently with what is shown; an
    /// entry for a stage removed since falls back to the position it had then.
    pub fn reached(&self, deal: &DealFacts) -> usize {
        let open = self.open_stages();
        if deal.outcome == Some(Outcome::Won) {
            return open.len();
        }
        deal.history
            .iter()
            .map(|(name, recorded)| match self.get(name) {
                Some(s) if s.is_open() => open.iter().position(|o| o.name == s.name).map_or(0, |i| i + 1),
                Some(_) => 0,
                None => open.iter().filter(|o| o.position <= *recorded).count(),
            })
            .max()
            .unwrap_or(0)
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What the funnel needs to know about one deal.
#[derive(Clone, Debug, PartialEq)]
pub struct DealFacts {
    pub owner: u64,
    /// In minor units; for a won deal, the value it was won at.
    pub value: i64,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    /// Every stage the deal entered, in order: (name, position it had then).
    pub history: Vec<(String, i64)>,
}

/// A share as a fraction, so that rates compare exactly (2/3 against 4/6 is a tie, not a rounding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Ratio {
    pub num: u64,
    pub den: u64,
}

impl Ratio {
    pub fn new(num: u64, den: u64) -> Option<Ratio> {
        (den > 0).then_some(Ratio { num, den })
    }

    pub fn value(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// `67%`
    pub fn percent(self) -> String {
        super::kpi::percent(self.value())
    }

    fn cmp_exact(self, other: Ratio) -> Ordering {
        (u128::from(self.num) * u128::from(other.den)).cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

/// Conversion from one stage to the next (the last open stage's next is won).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub from: String,
    pub to: String,
    /// Deals that reached `from` and `to`.
    pub reached_from: u64,
    pub reached_to: u64,
}

impl Step {
    pub fn rate(&self) -> Option<Ratio> {
        Ratio::new(self.reached_to, self.reached_from)
    }

    pub fn label(&self) -> String {
        format!("{} → {}", self.from, self.to)
    }
}

/// The funnel of a set of deals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunnelStats {
    pub deals: u64,
    pub open: u64,
    pub won: u64,
    pub lost: u64,
    /// Distinct owners of the deals: the team average of velocity is per rep.
    pub owners: u64,
    pub steps: Vec<Step>,
    /// Sum of won deals' values, minor units.
    pub won_value: i64,
    /// Sum over closed deals of open -> closed, in seconds; cycle time is its mean.
    cycle_seconds: i64,
}

const SECONDS_PER_DAY: f64 = 86_400.0;

impl FunnelStats {
    pub fn compute(pipeline: &Pipeline, deals: &[DealFacts]) -> FunnelStats {
        let open_stages = pipeline.open_stages();
        let n = open_stages.len();
        // reached[k]: deals that reached open stage k; reached[n]: deals won.
        let mut reached = vec![0u64; n + 1];
        let mut stats = FunnelStats {
            deals: deals.len() as u64,
            open: 0,
            won: 0,
            lost: 0,
            owners: 0,
            steps: Vec::new(),
            won_value: 0,
            cycle_seconds: 0,
        };
        let mut owners: Vec<u64> = Vec::new();
        for deal in deals {
            if !owners.contains(&deal.owner) {
                owners.push(deal.owner);
            }
            for r in reached.iter_mut().take(pipeline.reached(deal)) {
                *r += 1;
            }
            match deal.outcome {
                None => stats.open += 1,
                Some(Outcome::Won) => {
                    stats.won += 1;
                    stats.won_value += deal.value;
                    reached[n] += 1;
                }
                Some(Outcome::Lost) => stats.lost += 1,
            }
            if deal.outcome.is_some()
                && let Some(closed) = deal.closed_at
            {
                stats.cycle_seconds += (closed - deal.opened_at).num_seconds().max(0);
            }
        }
        stats.owners = owners.len() as u64;
        let won_name = pipeline.terminal(Outcome::Won).map_or("won".to_string(), |s| s.name.to_string());
        let names: Vec<String> =
            open_stages.iter().map(|s| s.name.to_string()).chain(std::iter::once(won_name)).collect();
        stats.steps = (0..n)
            .map(|k| Step {
                from: names[k].clone(),
                to: names[k + 1].clone(),
                reached_from: reached[k],
                reached_to: reached[k + 1],
            })
            .collect();
        stats
    }

    /// won / (won + lost); none while nothing is decided.
    pub fn win_rate(&self) -> Option<Ratio> {
        Ratio::new(self.won, self.won + self.lost)
    }

    /// Mean value of won deals in minor units, rounded half up; none without wins.
    pub fn average_deal_size(&self) -> Option<i64> {
        let won = self.won as i64;
        (won > 0).then(|| (self.won_value + won / 2) / won)
    }

    /// Mean time from open to closed (won or lost) in days, fractional; none while nothing closed.
    pub fn average_cycle_days(&self) -> Option<f64> {
        let closed = self.won + self.lost;
        (closed > 0).then(|| self.cycle_seconds as f64 / SECONDS_PER_DAY / closed as f64)
    }

    /// Sales velocity, in minor currency units per day:
    ///
    /// ```text
    /// velocity = open deals × win rate × average deal size / average cycle length in days
    /// ```
    ///
    /// where all four come from the same set of deals (`open` counts those still open, the win
    /// rate is won / (won + lost), the size is the mean of won values, the cycle the mean open ->
    /// closed time of closed deals). It estimates the revenue per day the open deals should bring
    /// in if they convert and close like the closed ones did. A cycle shorter than one day counts
    /// as one day: a same-day close must not make velocity explode. None while any factor is
    /// undefined (nothing won, nothing closed).
    pub fn velocity(&self) -> Option<f64> {
        let win_rate = self.win_rate()?.value();
        let size = self.average_deal_size()? as f64;
        let cycle = self.average_cycle_days()?.max(1.0);
        Some(self.open as f64 * win_rate * size / cycle)
    }

    /// Velocity divided among the owners: what a team's average rep contributes, comparable with
    /// one rep's own velocity.
    pub fn velocity_per_rep(&self) -> Option<f64> {
        let v = self.velocity()?;
        (self.owners > 0).then(|| v / self.owners as f64)
    }
}

/// The step where a subject converts furthest below a benchmark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub step: Step,
    pub benchmark: Step,
}

impl Gap {
    /// Percentage points below the benchmark (positive).
    pub fn points_below(&self) -> f64 {
        match (self.step.rate(), self.benchmark.rate()) {
            (Some(a), Some(b)) => (b.value() - a.value()) * 100.0,
            _ => 0.0,
        }
    }

    /// The gap between the two percents as they are shown (whole, rounded down), so the words
    /// and the numbers beside them agree.
    pub fn shown_points_below(&self) -> i64 {
        match (self.step.rate(), self.benchmark.rate()) {
            (Some(a), Some(b)) => super::kpi::whole_percent(b.value()) - super::kpi::whole_percent(a.value()),
            _ => 0,
        }
    }
}

/// The step where `subject` falls furthest below `benchmark`, judged only where the subject has at
/// least `min_sample` deals reaching the step's first stage. None when it is nowhere below.
/// Ties go to the earlier stage: it is where a lost deal costs the most downstream.
pub fn weakest_step(subject: &FunnelStats, benchmark: &FunnelStats, min_sample: u64) -> Option<Gap> {
    let mut best: Option<(f64, usize)> = None;
    for (i, (mine, theirs)) in subject.steps.iter().zip(&benchmark.steps).enumerate() {
        if mine.from != theirs.from || mine.reached_from < min_sample {
            continue;
        }
        let (Some(a), Some(b)) = (mine.rate(), theirs.rate()) else { continue };
        if a.cmp_exact(b) != Ordering::Less {
            continue;
        }
        let gap = b.value() - a.value();
        if best.is_none_or(|(g, _)| gap > g + 1e-12) {
            best = Some((gap, i));
        }
    }
    best.map(|(_, i)| Gap { step: subject.steps[i].clone(), benchmark: benchmark.steps[i].clone() })
}

/// The step where a subject converts worst, among steps with enough data; ties go to the earlier.
pub fn worst_step(stats: &FunnelStats, min_sample: u64) -> Option<&Step> {
    worst_step_except(stats, min_sample, &[])
}

/// [`worst_step`] among the steps not starting at a stage in `skip` (stages flagged as the
/// process's problem, which no one-to-one pairing fixes).
pub fn worst_step_except<'a>(stats: &'a FunnelStats, min_sample: u64, skip: &[String]) -> Option<&'a Step> {
    let mut worst: Option<&Step> = None;
    for step in stats.steps.iter().filter(|s| s.reached_from >= min_sample && !skip.contains(&s.from)) {
        let Some(rate) = step.rate() else { continue };
        if worst.and_then(Step::rate).is_none_or(|w| rate.cmp_exact(w) == Ordering::Less) {
            worst = Some(step);
        }
    }
    worst
}

/// A coaching pair: where a rep converts worst, and the teammate who converts best there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MentorMatch {
    pub rep: u64,
    pub step: Step,
    /// The teammate and their numbers on the same step; none when no teammate with enough data
    /// converts better there.
    pub mentor: Option<(u64, Step)>,
}

/// For each rep (of one team) with enough data somewhere, their worst step and the teammate who
/// converts best on it: the mentor needs `min_sample` deals there too, and must do strictly
/// better. Among equally good mentors the one with more deals there wins (more evidence), then
/// the lower id (stable).
pub fn mentor_matches(reps: &[(u64, FunnelStats)], min_sample: u64) -> Vec<MentorMatch> {
    mentor_matches_except(reps, min_sample, &[])
}

/// [`mentor_matches`] leaving out the steps that start at a stage in `skip`.
pub fn mentor_matches_except(reps: &[(u64, FunnelStats)], min_sample: u64, skip: &[String]) -> Vec<MentorMatch> {
    let mut out = Vec::new();
    for (rep, stats) in reps {
        let Some(step) = worst_step_except(stats, min_sample, skip) else { continue };
        let Some(rate) = step.rate() else { continue };
        let mut mentor: Option<(u64, &Step)> = None;
        for (other, theirs) in reps.iter().filter(|(o, _)| o != rep) {
            let Some(candidate) = theirs.steps.iter().find(|s| s.from == step.from && s.to == step.to) else {
                continue;
            };
            let Some(their_rate) = candidate.rate() else { continue };
            if candidate.reached_from < min_sample || their_rate.cmp_exact(rate) != Ordering::Greater {
                continue;
            }
            let better = match mentor {
                None => true,
                Some((id, current)) => {
                    let current_rate = current.rate().unwrap_or(Ratio { num: 0, den: 1 });
                    their_rate
                        .cmp_exact(current_rate)
                        .then(candidate.reached_from.cmp(&current.reached_from))
                        .then(id.cmp(other))
                        == Ordering::Greater
                }
            };
            if better {
                mentor = Some((*other, candidate));
            }
        }
        out.push(MentorMatch { rep: *rep, step: step.clone(), mentor: mentor.map(|(id, s)| (id, s.clone())) });
    }
    out
}

/// Periods of a team's rate at a stage that must each fall for the stage to count as falling:
/// the period asked for and the two before it.
pub const TREND_PERIODS: usize = 3;

/// Why a stage is the process's problem rather than one rep's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ProcessReason {
    /// More than half of the reps with [`MIN_SAMPLE`] deals at the stage convert below the
    /// guild's own rate there over the year before the period.
    MostRepsBelow { below: usize, reps: usize, historical: Ratio },
    /// The team's rate at the stage fell in each of the last [`TREND_PERIODS`] periods (oldest
    /// first), each with [`MIN_SAMPLE`] deals reaching the stage.
    Falling { rates: Vec<Ratio> },
}

/// A stage where many reps stall at once: coach the process, not one rep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessFlag {
    /// The group's numbers at the stage in the period.
    pub step: Step,
    pub reasons: Vec<ProcessReason>,
}

impl ProcessFlag {
    /// `3 of 4 reps convert below the server's rate of the year before (60%); the team's rate fell
    /// 70% → 55% → 40% over the last 3 periods`, with `noun` naming the period kind and `group`
    /// the group whose rate it is (`team`, or `server` for the whole server's funnel).
    pub fn describe(&self, noun: &str, group: &str) -> String {
        let parts: Vec<String> = self
            .reasons
            .iter()
            .map(|r| match r {
                ProcessReason::MostRepsBelow { below, reps, historical } => format!(
                    "{below} of {reps} reps convert below the server's rate of the year before ({})",
                    historical.percent()
                ),
                ProcessReason::Falling { rates } => format!(
                    "the {group}'s rate fell {} over the last {} {noun}s",
                    rates.iter().map(|r| r.percent()).collect::<Vec<_>>().join(" → "),
                    rates.len()
                ),
            })
            .collect();
        parts.join("; ")
    }
}

/// The stages to flag as the process's problem: where most of `reps` (each rep's own funnel for
/// the period) convert below `historical` (the guild's funnel over the year before), or where
/// `trend` (the team's funnel in each of the last [`TREND_PERIODS`] periods, oldest first) fell
/// every period. A rep, a historical rate or a period counts only with `min_sample` deals reaching
/// the stage; "most" needs at least two reps judged.
pub fn process_flags(
    group: &FunnelStats,
    reps: &[FunnelStats],
    historical: &FunnelStats,
    trend: &[FunnelStats],
    min_sample: u64,
) -> Vec<ProcessFlag> {
    let mut out = Vec::new();
    for (i, step) in group.steps.iter().enumerate() {
        let mut reasons = Vec::new();
        let history = historical.steps.get(i).filter(|h| h.from == step.from && h.reached_from >= min_sample);
        if let Some(h) = history.and_then(Step::rate) {
            let judged: Vec<Ratio> = reps
                .iter()
                .filter_map(|r| r.steps.get(i))
                .filter(|s| s.from == step.from && s.reached_from >= min_sample)
                .filter_map(Step::rate)
                .collect();
            let below = judged.iter().filter(|r| r.cmp_exact(h) == Ordering::Less).count();
            if judged.len() >= 2 && below * 2 > judged.len() {
                reasons.push(ProcessReason::MostRepsBelow { below, reps: judged.len(), historical: h });
            }
        }
        let rates: Vec<Ratio> = trend
            .iter()
            .filter_map(|t| t.steps.get(i))
            .filter(|s| s.from == step.from && s.reached_from >= min_sample)
            .filter_map(Step::rate)
            .collect();
        if trend.len() >= TREND_PERIODS
            && rates.len() == trend.len()
            && rates.windows(2).all(|w| w[1].cmp_exact(w[0]) == Ordering::Less)
        {
            reasons.push(ProcessReason::Falling { rates });
        }
        if !reasons.is_empty() {
            out.push(ProcessFlag { step: step.clone(), reasons });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn name(s: &str) -> StageName {
        StageName::parse(s).unwrap()
    }

    fn deal(owner: u64, stages: &[&str], outcome: Option<Outcome>, value: i64, days: i64) -> DealFacts {
        let pipeline = Pipeline::defaults();
        let opened = t("2026-10-01T09:00:00Z");
        DealFacts {
            owner,
            value,
            opened_at: opened,
            closed_at: outcome.map(|_| opened + chrono::Duration::days(days)),
            outcome,
            history: stages.iter().map(|s| (s.to_string(), pipeline.get(s).unwrap().position)).collect(),
        }
    }

    fn rates(stats: &FunnelStats) -> Vec<(u64, u64)> {
        stats.steps.iter().map(|s| (s.reached_to, s.reached_from)).collect()
    }

    #[test]
    fn the_default_pipeline_has_five_open_stages_then_won_and_lost() {
        let p = Pipeline::defaults();
        let names: Vec<&str> = p.stages().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["lead", "qualified", "demo", "proposal", "negotiation", "won", "lost"]);
        let probabilities: Vec<u8> = p.stages().iter().map(|s| s.probability).collect();
        assert_eq!(probabilities, [10, 25, 40, 60, 80, 100, 0]);
        assert_eq!(p.first_open().unwrap().name.as_str(), "lead");
        assert_eq!(p.terminal(Outcome::Won).unwrap().position, 6);
        assert_eq!(p.get(" Demo ").unwrap().position, 3);
    }

    #[test]
    fn a_deal_that_skipped_stages_counts_as_having_reached_them() {
        let p = Pipeline::defaults();
        // lead -> proposal skips qualified and demo; moving back to demo later changes nothing.
        let skipped = deal(1, &["lead", "proposal", "demo"], None, 0, 0);
        assert_eq!(p.reached(&skipped), 4);
        // Opened straight into negotiation, then lost: it reached every open stage.
        let lost_late = deal(1, &["negotiation", "lost"], Some(Outcome::Lost), 0, 3);
        assert_eq!(p.reached(&lost_late), 5);
        // A won deal reached every open stage even if its history is short.
        let won = deal(1, &["qualified", "won"], Some(Outcome::Won), 100, 2);
        assert_eq!(p.reached(&won), 5);
        assert_eq!(p.reached(&deal(1, &["lead"], None, 0, 0)), 1);
    }

    #[test]
    fn conversion_win_rate_size_cycle_and_velocity_match_hand_computed_values() {
        let p = Pipeline::defaults();
        let deals = vec![
            // reached lead only, still open
            deal(1, &["lead"], None, 100_000, 0),
            // lead -> demo (skipped qualified), still open
            deal(1, &["lead", "demo"], None, 200_000, 0),
            // lead -> qualified, lost after 4 days
            deal(1, &["lead", "qualified", "lost"], Some(Outcome::Lost), 300_000, 4),
            // opened at proposal (skipped three), won after 10 days at 5,000
            deal(1, &["proposal", "won"], Some(Outcome::Won), 500_000, 10),
            // lead -> negotiation (skipped three), won after 6 days at 3,000
            deal(1, &["lead", "negotiation", "won"], Some(Outcome::Won), 300_000, 6),
        ];
        let s = FunnelStats::compute(&p, &deals);
        // Reached: lead 5, qualified 4, demo 3, proposal 2, negotiation 2, won 2.
        assert_eq!(rates(&s), [(4, 5), (3, 4), (2, 3), (2, 2), (2, 2)]);
        assert_eq!(s.steps[0].label(), "lead → qualified");
        assert_eq!(s.steps[4].label(), "negotiation → won");
        assert_eq!((s.deals, s.open, s.won, s.lost, s.owners), (5, 2, 2, 1, 1));
        assert_eq!(s.win_rate(), Some(Ratio { num: 2, den: 3 }));
        assert_eq!(s.average_deal_size(), Some(400_000));
        // (4 + 10 + 6) / 3 closed deals
        assert!((s.average_cycle_days().unwrap() - 20.0 / 3.0).abs() < 1e-9);
        // 2 open × 2/3 × 400,000 / (20/3) = 80,000 minor units (800.00) per day
        assert!((s.velocity().unwrap() - 80_000.0).abs() < 1e-6, "{:?}", s.velocity());
        assert!((s.velocity_per_rep().unwrap() - 80_000.0).abs() < 1e-6);
    }

    #[test]
    fn an_empty_funnel_has_no_rates_and_no_velocity() {
        let s = FunnelStats::compute(&Pipeline::defaults(), &[]);
        assert!(s.steps.iter().all(|step| step.rate().is_none()));
        assert_eq!(
            (s.win_rate(), s.average_deal_size(), s.average_cycle_days(), s.velocity()),
            (None, None, None, None)
        );
        // Closed deals but no wins: win rate 0, still no size and so no velocity.
        let lost =
            FunnelStats::compute(&Pipeline::defaults(), &[deal(1, &["lead", "lost"], Some(Outcome::Lost), 5, 2)]);
        assert_eq!(lost.win_rate(), Some(Ratio { num: 0, den: 1 }));
        assert_eq!(lost.velocity(), None);
    }

    #[test]
    fn a_same_day_close_counts_as_a_one_day_cycle_in_velocity() {
        let deals = vec![deal(1, &["lead", "won"], Some(Outcome::Won), 10_000, 0), deal(1, &["lead"], None, 0, 0)];
        let s = FunnelStats::compute(&Pipeline::defaults(), &deals);
        assert_eq!(s.average_cycle_days(), Some(0.0));
        assert_eq!(s.velocity(), Some(10_000.0));
    }

    #[test]
    fn the_weakest_step_is_the_largest_gap_below_the_benchmark_with_enough_deals() {
        let p = Pipeline::defaults();
        // Rep: 4 reach lead, 3 qualified (75%), 1 demo (33%), ...
        let rep = vec![
            deal(1, &["lead"], None, 0, 0),
            deal(1, &["qualified"], None, 0, 0),
            deal(1, &["qualified"], None, 0, 0),
            deal(1, &["demo"], None, 0, 0),
        ];
        // Team: 4 reach lead, 2 qualified (50%), 2 demo (100%).
        let team = vec![
            deal(2, &["lead"], None, 0, 0),
            deal(2, &["lead"], None, 0, 0),
            deal(2, &["demo"], None, 0, 0),
            deal(2, &["demo"], None, 0, 0),
        ];
        let (r, b) = (FunnelStats::compute(&p, &rep), FunnelStats::compute(&p, &team));
        let gap = weakest_step(&r, &b, MIN_SAMPLE).unwrap();
        assert_eq!(gap.step.label(), "qualified → demo");
        assert_eq!((gap.step.reached_to, gap.step.reached_from), (1, 3));
        assert_eq!((gap.benchmark.reached_to, gap.benchmark.reached_from), (2, 2));
        assert!((gap.points_below() - 200.0 / 3.0).abs() < 1e-9);
        // With a higher bar the rep's 3 deals at qualified are not enough to judge.
        assert_eq!(weakest_step(&r, &b, 4), None);
        // Nowhere below: no gap.
        assert_eq!(weakest_step(&b, &b, 1), None);
    }

    #[test]
    fn mentors_are_the_teammates_who_convert_best_where_a_rep_converts_worst() {
        let p = Pipeline::defaults();
        let stats = |deals: Vec<DealFacts>| FunnelStats::compute(&p, &deals);
        // Ann (1): 3 at lead, all 3 qualified (100%), 0 demo (0%): worst qualified -> demo.
        let ann = stats(vec![
            deal(1, &["qualified"], None, 0, 0),
            deal(1, &["qualified"], None, 0, 0),
            deal(1, &["qualified"], None, 0, 0),
        ]);
        // Bob (2): 6 at lead, 4 qualified (4/6), 3 demo (3/4) and on to won: worst lead -> qualified.
        let won = |owner| deal(owner, &["lead", "won"], Some(Outcome::Won), 100, 5);
        let bob = stats(vec![
            deal(2, &["lead"], None, 0, 0),
            deal(2, &["lead"], None, 0, 0),
            deal(2, &["qualified"], None, 0, 0),
            won(2),
            won(2),
            won(2),
        ]);
        // Cy (3): two wins, 100 % everywhere, but too few deals to judge or to mentor.
        let cy = stats(vec![won(3), won(3)]);
        let matches = mentor_matches(&[(1, ann), (2, bob), (3, cy)], MIN_SAMPLE);
        assert_eq!(matches.len(), 2, "Cy has too little data for a worst step");
        let ann = &matches[0];
        assert_eq!((ann.rep, ann.step.label().as_str()), (1, "qualified → demo"));
        assert_eq!((ann.step.reached_to, ann.step.reached_from), (0, 3));
        let (mentor, step) = ann.mentor.as_ref().unwrap();
        assert_eq!((*mentor, step.reached_to, step.reached_from), (2, 3, 4));
        let bob = &matches[1];
        assert_eq!((bob.rep, bob.step.label().as_str()), (2, "lead → qualified"));
        assert_eq!((bob.step.reached_to, bob.step.reached_from), (4, 6));
        let (mentor, step) = bob.mentor.as_ref().unwrap();
        assert_eq!((*mentor, step.reached_to, step.reached_from), (1, 3, 3));
    }

    #[test]
    fn nobody_is_suggested_as_mentor_without_doing_strictly_better() {
        let p = Pipeline::defaults();
        let same = || {
            FunnelStats::compute(
                &p,
                &[deal(1, &["lead"], None, 0, 0), deal(1, &["lead"], None, 0, 0), deal(1, &["qualified"], None, 0, 0)],
            )
        };
        let matches = mentor_matches(&[(1, same()), (2, same())], MIN_SAMPLE);
        assert_eq!(matches.len(), 2);
        assert!(matches.iter().all(|m| m.mentor.is_none()));
    }

    #[test]
    fn stages_are_added_moved_and_removed_with_positions_renumbered() {
        let p = Pipeline::defaults();
        let p = p.with_stage(&name("discovery"), 15, Some(2)).unwrap();
        let order: Vec<(&str, i64)> = p.stages().iter().map(|s| (s.name.as_str(), s.position)).collect();
        assert_eq!(
            order,
            [
                ("lead", 1),
                ("discovery", 2),
                ("qualified", 3),
                ("demo", 4),
                ("proposal", 5),
                ("negotiation", 6),
                ("won", 7),
                ("lost", 8)
            ]
        );
        // Changing the probability alone keeps the place; a place moves it.
        let p = p.with_stage(&name("demo"), 45, None).unwrap();
        assert_eq!(p.get("demo").map(|s| (s.position, s.probability)), Some((4, 45)));
        let p = p.with_stage(&name("demo"), 45, Some(1)).unwrap();
        assert_eq!(p.open_stages()[0].name.as_str(), "demo");
        let p = p.with_stage(&name("pilot"), 70, None).unwrap();
        assert_eq!(p.get("pilot").unwrap().position, 7);
        let p = p.without_stage("discovery", 0).unwrap();
        assert_eq!(p.get("won").unwrap().position, 7);
        assert_eq!(p.get("lost").unwrap().position, 8);
    }

    #[test]
    fn closing_stages_and_occupied_stages_are_refused() {
        let p = Pipeline::defaults();
        assert!(p.with_stage(&name("won"), 50, None).unwrap_err().message.contains("cannot be changed"));
        assert!(p.without_stage("lost", 0).unwrap_err().message.contains("cannot be removed"));
        assert_eq!(
            p.without_stage("demo", 2).unwrap_err().message,
            "2 open deals sit in `demo`; move them to another stage first"
        );
        assert_eq!(p.without_stage("nope", 0).unwrap_err().message, "there is no stage `nope`");
        assert_eq!(p.with_stage(&name("x"), 101, None).unwrap_err().message, "a probability is 0 to 100 %, not 101");
        assert_eq!(p.with_stage(&name("x"), 5, Some(7)).unwrap_err().message, "the position must be between 1 and 6");
        let mut full = Pipeline::new(vec![]);
        for i in 0..MAX_OPEN_STAGES {
            full = full.with_stage(&name(&format!("s{i}")), 10, None).unwrap();
        }
        assert!(full.with_stage(&name("one-more"), 10, None).is_err());
        let single = Pipeline::defaults()
            .stages()
            .iter()
            .filter(|s| !s.is_open() || s.name.as_str() == "lead")
            .cloned()
            .collect();
        assert!(
            Pipeline::new(single).without_stage("lead", 0).unwrap_err().message.contains("at least one open stage")
        );
    }

    #[test]
    fn history_of_a_removed_stage_falls_back_to_its_recorded_position() {
        let p = Pipeline::defaults().without_stage("qualified", 0).unwrap();
        // Recorded at position 2 back then; lead (1) and demo, which moved up to 2, are at or before it.
        let old = DealFacts { history: vec![("qualified".into(), 2)], ..deal(1, &["lead"], None, 0, 0) };
        assert_eq!(p.reached(&old), 2);
    }

    #[test]
    fn names_dates_and_reasons_are_validated_at_the_edge() {
        assert_eq!(StageName::parse(" Demo ").unwrap().as_str(), "demo");
        assert!(StageName::parse("two words").is_err());
        assert!(StageName::parse(&"x".repeat(33)).is_err());
        assert!(DealName::parse("  ").is_err());
        assert!(DealName::parse(&"d".repeat(101)).is_err());
        assert_eq!(DealName::parse(" Acme renewal ").unwrap().as_str(), "Acme renewal");
        assert_eq!(parse_close_date("2026-12-15").unwrap(), NaiveDate::from_ymd_opt(2026, 12, 15).unwrap());
        for bad in ["2026-13-01", "15.12.2026", "+2026-12-15", "2026-2-1", "9999-12-31", ""] {
            assert!(parse_close_date(bad).is_err(), "{bad}");
        }
        assert!(LostReason::parse(&"r".repeat(201)).is_err());
        assert!(LostReason::parse("budget\u{7}").is_err());
    }

    /// `qualified` of `n` deals at lead, each owned by `owner`.
    fn leads(owner: u64, n: usize, qualified: usize) -> Vec<DealFacts> {
        (0..n)
            .map(|i| deal(owner, if i < qualified { &["lead", "qualified"] } else { &["lead"] }, None, 0, 0))
            .collect()
    }

    #[test]
    fn a_stage_is_the_process_when_most_reps_fall_below_the_servers_rate_or_the_teams_rate_keeps_falling() {
        let p = Pipeline::defaults();
        let stats = |deals: Vec<DealFacts>| FunnelStats::compute(&p, &deals);
        // The year before: 8 of 10 leads qualified (80%).
        let historical = stats(leads(9, 10, 8));
        // This period: Ann 2/4, Bob 3/4, Cy 4/4: two of the three reps judged are below 80%.
        let reps = [stats(leads(1, 4, 2)), stats(leads(2, 4, 3)), stats(leads(3, 4, 4))];
        let group = stats([leads(1, 4, 2), leads(2, 4, 3), leads(3, 4, 4)].concat());
        let flags = process_flags(&group, &reps, &historical, &[], MIN_SAMPLE);
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].step.label(), "lead → qualified");
        assert_eq!(
            flags[0].reasons,
            [ProcessReason::MostRepsBelow { below: 2, reps: 3, historical: Ratio { num: 8, den: 10 } }]
        );
        // One rep below of three is that rep's problem, not the process's.
        let one_below = [stats(leads(1, 4, 2)), stats(leads(2, 4, 4)), stats(leads(3, 4, 4))];
        assert!(process_flags(&group, &one_below, &historical, &[], MIN_SAMPLE).is_empty());
        // A rep with fewer than MIN_SAMPLE leads is not judged: one of one is not "most".
        assert!(process_flags(&group, &[stats(leads(1, 2, 0))], &historical, &[], MIN_SAMPLE).is_empty());

        // The team's rate fell 3/4 → 2/4 → 1/4 over three quarters: falling, said in words.
        let trend = [stats(leads(1, 4, 3)), stats(leads(1, 4, 2)), stats(leads(1, 4, 1))];
        let flags = process_flags(&trend[2], &[], &stats(Vec::new()), &trend, MIN_SAMPLE);
        assert_eq!(flags.len(), 1);
        assert_eq!(
            flags[0].describe("quarter", "team"),
            "the team's rate fell 75% → 50% → 25% over the last 3 quarters"
        );
        // Flat once is not falling; nor is a fall over too few deals.
        let flat = [stats(leads(1, 4, 3)), stats(leads(1, 4, 3)), stats(leads(1, 4, 1))];
        assert!(process_flags(&flat[2], &[], &stats(Vec::new()), &flat, MIN_SAMPLE).is_empty());
        let thin = [stats(leads(1, 2, 2)), stats(leads(1, 4, 2)), stats(leads(1, 4, 1))];
        assert!(process_flags(&thin[2], &[], &stats(Vec::new()), &thin, MIN_SAMPLE).is_empty());
    }

    #[test]
    fn mentoring_leaves_a_process_stage_out_of_the_pairings() {
        let p = Pipeline::defaults();
        let ann = FunnelStats::compute(&p, &leads(1, 4, 1));
        let bob = FunnelStats::compute(&p, &leads(2, 4, 4));
        let reps = [(1, ann), (2, bob)];
        assert_eq!(mentor_matches(&reps, MIN_SAMPLE)[0].mentor.as_ref().map(|m| m.0), Some(2));
        // With lead → qualified the process's, Ann has no other stage with enough deals, and Bob
        // is judged at qualified → demo (0 of his 4) instead.
        let except = mentor_matches_except(&reps, MIN_SAMPLE, &["lead".to_string()]);
        let got: Vec<(u64, String)> = except.iter().map(|m| (m.rep, m.step.label())).collect();
        assert_eq!(got, [(2, "qualified → demo".to_string())]);
    }
}
