//! Commission estimates. A team's plan pays a rate on the rep's revenue, split into an individual
//! part scaled by the rep's goal attainment and a team part scaled by the team's attainment (default
//! 50/50). Above 100 % attainment an optional accelerator pays the excess at a higher multiple, and
//! a per-rep bonus is paid when the team meets its goal. An estimate, not payroll.

use serde::Serialize;

use super::DomainError;

/// A compensation plan, valid by construction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Commission rate on revenue in basis points (850 = 8.5 %).
    pub rate_bp: u32,
    /// Percent of the commission tied to the rep's own attainment; the rest to the team's.
    pub individual_share: u8,
    /// Multiplier for attainment above 100 %, in percent (150 = the excess pays 1.5×; 100 = none).
    pub accelerator_pct: u32,
    /// Paid to each rep, in minor units, when the team reaches its goal.
    pub team_bonus: i64,
}

impl Plan {
    /// Parses the options of `/comp plan set`: rate in percent (`8.5`), shares in percent summing to
    /// 100, accelerator as a multiple (`1.5`), team bonus in minor units.
    pub fn new(
        rate_percent: f64,
        individual_share: i64,
        team_share: i64,
        accelerator: Option<f64>,
        team_bonus: i64,
    ) -> Result<Plan, DomainError> {
        if !rate_percent.is_finite() || !(0.0..=100.0).contains(&rate_percent) {
            return Err(DomainError::invalid("the commission rate is a percentage between 0 and 100"));
        }
        if !(0..=100).contains(&individual_share)
            || !(0..=100).contains(&team_share)
            || individual_share + team_share != 100
        {
            return Err(DomainError::invalid(format!(
                "the individual and team shares must add up to 100 (they add up to {})",
                individual_share.saturating_add(team_share)
            )));
        }
        let accelerator = accelerator.unwrap_or(1.0);
        if !accelerator.is_finite() || !(1.0..=10.0).contains(&accelerator) {
            return Err(DomainError::invalid("the accelerator is a multiple between 1 (none) and 10, e.g. 1.5"));
        }
        if team_bonus < 0 {
            return Err(DomainError::invalid("the team bonus cannot be negative"));
        }
        Ok(Plan {
            rate_bp: (rate_percent * 100.0).round() as u32,
            individual_share: individual_share as u8,
            accelerator_pct: (accelerator * 100.0).round() as u32,
            team_bonus,
        })
    }

    pub fn team_share(&self) -> u8 {
        100 - self.individual_share
    }
}

/// The estimate for one rep, every part in minor units.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// revenue × rate: what the plan pays at exactly 100 % on both sides.
    pub base: i64,
    pub individual: i64,
    pub team: i64,
    /// The extra paid on attainment above 100 %.
    pub accelerator: i64,
    pub bonus: i64,
    pub total: i64,
    /// The attainments used; `None` means no goal, counted as 100 %.
    pub rep_attainment: Option<f64>,
    pub team_attainment: Option<f64>,
}

/// Pays `pool` for `attainment`: proportionally up to 100 %, and the excess times the accelerator.
/// Returns (the proportional part, the accelerator's extra).
fn scaled(pool: f64, attainment: f64, accelerator_pct: u32) -> (f64, f64) {
    let attainment = attainment.max(0.0);
    if attainment <= 1.0 {
        return (pool * attainment, 0.0);
    }
    let excess = attainment - 1.0;
    let multiple = accelerator_pct as f64 / 100.0;
    (pool * (1.0 + excess), pool * excess * (multiple - 1.0))
}

/// Estimates a rep's commission on `revenue` (minor units) for one period.
pub fn estimate(plan: &Plan, revenue: i64, rep_attainment: Option<f64>, team_attainment: Option<f64>) -> Estimate {
    let base = revenue.max(0) as f64 * plan.rate_bp as f64 / 10_000.0;
    let rep = rep_attainment.filter(|a| a.is_finite());
    let team = team_attainment.filter(|a| a.is_finite());
    let (individual, acc_i) =
        scaled(base * plan.individual_share as f64 / 100.0, rep.unwrap_or(1.0), plan.accelerator_pct);
    let (team_part, acc_t) = scaled(base * plan.team_share() as f64 / 100.0, team.unwrap_or(1.0), plan.accelerator_pct);
    let bonus = if team.is_some_and(|a| a >= 1.0) { plan.team_bonus } else { 0 };
    let (individual, team_part, accelerator) =
        (individual.round() as i64, team_part.round() as i64, (acc_i + acc_t).round() as i64);
    Estimate {
        base: base.round() as i64,
        individual,
        team: team_part,
        accelerator,
        bonus,
        total: individual + team_part + accelerator + bonus,
        rep_attainment: rep,
        team_attainment: team,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(accelerator: Option<f64>, bonus: i64) -> Plan {
        Plan::new(10.0, 50, 50, accelerator, bonus).unwrap()
    }

    #[test]
    fn half_is_scaled_by_the_rep_and_half_by_the_team() {
        // 10 % of 20,000.00 = 2,000.00; rep at 80 % -> 800.00; team at 50 % -> 500.00.
        let e = estimate(&plan(None, 0), 2_000_000, Some(0.8), Some(0.5));
        assert_eq!(
            (e.base, e.individual, e.team, e.accelerator, e.bonus, e.total),
            (200_000, 80_000, 50_000, 0, 0, 130_000)
        );
    }

    #[test]
    fn the_accelerator_pays_the_excess_above_goal_at_a_higher_multiple() {
        // Rep at 120 %: 1,000.00 x 1.2 = 1,200.00, plus 1,000.00 x 0.2 x 0.5 = 100.00 accelerator.
        // Team at 100 % exactly: 1,000.00 and the 250.00 bonus.
        let e = estimate(&plan(Some(1.5), 25_000), 2_000_000, Some(1.2), Some(1.0));
        assert_eq!(
            (e.individual, e.team, e.accelerator, e.bonus, e.total),
            (120_000, 100_000, 10_000, 25_000, 255_000)
        );
    }

    #[test]
    fn without_goals_both_parts_count_as_met_but_no_bonus_is_promised() {
        let e = estimate(&plan(None, 25_000), 1_000_000, None, None);
        assert_eq!((e.individual, e.team, e.bonus, e.total), (50_000, 50_000, 0, 100_000));
    }

    #[test]
    fn plans_are_validated() {
        assert!(Plan::new(8.5, 60, 40, Some(1.5), 0).is_ok());
        assert_eq!(Plan::new(8.5, 60, 40, None, 0).unwrap().rate_bp, 850);
        assert!(Plan::new(8.5, 60, 50, None, 0).unwrap_err().message.contains("add up to 100 (they add up to 110)"));
        assert!(Plan::new(-1.0, 50, 50, None, 0).is_err());
        assert!(Plan::new(f64::NAN, 50, 50, None, 0).is_err());
        assert!(Plan::new(5.0, 50, 50, Some(0.5), 0).is_err());
        assert!(Plan::new(5.0, 50, 50, None, -1).is_err());
    }
}
