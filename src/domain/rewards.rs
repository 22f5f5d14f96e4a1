//! Role rewards as pure rules: who should hold a reward role now, and the role changes that take the
//! holders rally recorded there, and the checks a reward role must pass before rally hands it out.
//! Imports nothing of ours outside `domain`; no I/O, time is an argument.
//!
//! # The rule
//!
//! A member *qualifies* for a reward when their figure for the reward's metric in the current period
//! (the week, month, fiscal quarter or fiscal year holding `now` in the guild's calendar) is at
//! least the threshold, and they are not left off the boards (the guild's exclusion role).
//! Everyone starts a new period at zero, so a holder who has not reached the threshold again in the
//! new period loses the role at its first instant; one who already has keeps it.
//!
//! Rally only takes away a role it gave: it records each member it gave the role to (a *holder*)
//! and removes the role from holders only. A member last seen holding the role without rally
//! having given it (someone gave it by hand) is left alone: neither given nor taken.

use std::collections::{BTreeSet, HashSet};

use super::DomainError;
use super::goals::{GoalMetric, GoalPeriod};

/// The changes that bring the recorded holders in line with who qualifies now: (users to give the
/// role to, users to take it from), each sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleChanges {
    /// Members to give the role to (user ids).
    pub add: Vec<u64>,
    /// Members rally gave it to who no longer qualify.
    pub remove: Vec<u64>,
}

impl RoleChanges {
    /// Nothing to give and nothing to take.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// What a reward asks for: a metric reaching `threshold` (minor currency units for revenue, a
/// count otherwise) within one `period`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewardRule {
    pub metric: GoalMetric,
    pub period: GoalPeriod,
    /// At least 1.
    pub threshold: i64,
}

impl RewardRule {
    /// Whether a figure in the current period reaches the threshold.
    pub fn reached(&self, value: i64) -> bool {
        value >= self.threshold
    }
}

/// The changes for one reward: `qualified` reached the threshold now (exclusions already left out),
/// `holders` are those rally gave the role to, `outside` those last seen holding the role whom rally
/// did not give it to. Holders who no longer qualify lose it; qualifiers who hold it from
/// elsewhere are left alone.
pub fn changes(qualified: &HashSet<u64>, holders: &HashSet<u64>, outside: &HashSet<u64>) -> RoleChanges {
    let add: BTreeSet<u64> =
        qualified.iter().filter(|u| !holders.contains(u) && !outside.contains(u)).copied().collect();
    let remove: BTreeSet<u64> = holders.iter().filter(|u| !qualified.contains(u)).copied().collect();
    RoleChanges { add: add.into_iter().collect(), remove: remove.into_iter().collect() }
}

/// A role as Discord's guild role list shows it: its id, name, position in the hierarchy (higher
/// is above), and whether an integration manages it (a bot's own role, a booster role).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleInfo {
    pub id: u64,
    pub name: String,
    pub position: i64,
    pub managed: bool,
}

/// Why rally cannot hand out a role, each with how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleProblem {
    /// The role is @everyone (its id is the guild's).
    Everyone,
    /// An integration manages the role; nobody can give it by hand.
    Managed,
    /// The bot lacks Manage Roles.
    NoManageRoles,
    /// The bot's highest role is not above the reward role.
    BelowRole { bot_role: Option<String> },
    /// The role is not in the guild's role list (deleted).
    UnknownRole,
}

impl RoleProblem {
    /// The problem and its fix, for the manager: `role` is how to name the role (`<@&id>`).
    pub fn explain(&self, role: &str) -> String {
        match self {
            RoleProblem::Everyone => "@everyone can't be a reward: everyone holds it already. Pick a role of its own \
                                      (Server Settings → Roles → Create Role)."
                .into(),
            RoleProblem::Managed => format!(
                "{role} is managed by an integration (a bot's or a booster role), so nobody can give it by hand. \
                 Pick a role of its own (Server Settings → Roles → Create Role)."
            ),
            RoleProblem::NoManageRoles => {
                "I need the **Manage Roles** permission to give a reward role: Server Settings → Roles → rally → \
                 turn on Manage Roles (or give rally a role that has it), then try again."
                    .into()
            }
            RoleProblem::BelowRole { bot_role } => format!(
                "my highest role{} is not above {role}, and Discord lets a bot give only roles below its own: \
                 Server Settings → Roles, drag {} above {role}, then try again.",
                bot_role.as_deref().map(|n| format!(" (**{n}**)")).unwrap_or_default(),
                bot_role.as_deref().map_or_else(|| "rally's role".to_string(), |n| format!("**{n}**"))
            ),
            RoleProblem::UnknownRole => format!("{role} is not a role on this server any more; pick another."),
        }
    }
}

/// The checks Discord applies to a bot giving `role`: `bot_roles` are the bot's own roles (their
/// ids; @everyone is implied), `roles` the guild's whole list. Administrator does not lift the
/// hierarchy: Discord refuses a role at or above the bot's highest one even then.
pub fn check_role(
    guild: u64,
    role: u64,
    roles: &[RoleInfo],
    bot_roles: &[u64],
    manage_roles: bool,
) -> Result<(), RoleProblem> {
    if role == guild {
        return Err(RoleProblem::Everyone);
    }
    let Some(target) = roles.iter().find(|r| r.id == role) else {
        return Err(RoleProblem::UnknownRole);
    };
    if target.managed {
        return Err(RoleProblem::Managed);
    }
    if !manage_roles {
        return Err(RoleProblem::NoManageRoles);
    }
    let top = roles.iter().filter(|r| bot_roles.contains(&r.id)).max_by_key(|r| (r.position, std::cmp::Reverse(r.id)));
    match top {
        Some(top) if top.position > target.position => Ok(()),
        top => Err(RoleProblem::BelowRole { bot_role: top.map(|t| t.name.clone()) }),
    }
}

/// Parses the threshold written for `metric`: money for revenue, a whole number otherwise.
pub fn parse_threshold(metric: &GoalMetric, text: &str, money: super::money::Money) -> Result<i64, DomainError> {
    metric.parse_target(text, money).map_err(|e| DomainError::invalid(e.message.replace("target", "threshold")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> HashSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn qualifiers_get_the_role_and_holders_below_the_threshold_lose_it() {
        let c = changes(&set(&[1, 2, 3]), &set(&[2, 4]), &set(&[]));
        assert_eq!(c, RoleChanges { add: vec![1, 3], remove: vec![4] });
    }

    #[test]
    fn a_member_holding_the_role_from_elsewhere_is_neither_given_it_nor_loses_it() {
        let c = changes(&set(&[5]), &set(&[]), &set(&[5, 6]));
        assert!(c.is_empty(), "{c:?}");
    }

    fn role(id: u64, position: i64, managed: bool) -> RoleInfo {
        RoleInfo { id, name: format!("r{id}"), position, managed }
    }

    #[test]
    fn a_role_is_refused_at_or_above_the_bots_highest_and_for_everyone_managed_or_without_permission() {
        let roles = [role(1, 0, false), role(10, 3, false), role(11, 5, false), role(12, 4, true), role(13, 6, false)];
        assert_eq!(check_role(1, 10, &roles, &[11], true), Ok(()));
        assert_eq!(
            check_role(1, 13, &roles, &[11], true),
            Err(RoleProblem::BelowRole { bot_role: Some("r11".into()) })
        );
        assert_eq!(
            check_role(1, 11, &roles, &[11], true),
            Err(RoleProblem::BelowRole { bot_role: Some("r11".into()) })
        );
        assert_eq!(check_role(1, 10, &roles, &[], true), Err(RoleProblem::BelowRole { bot_role: None }));
        assert_eq!(check_role(1, 1, &roles, &[11], true), Err(RoleProblem::Everyone));
        assert_eq!(check_role(1, 12, &roles, &[11], true), Err(RoleProblem::Managed));
        assert_eq!(check_role(1, 10, &roles, &[11], false), Err(RoleProblem::NoManageRoles));
        assert_eq!(check_role(1, 99, &roles, &[11], true), Err(RoleProblem::UnknownRole));
        let text = RoleProblem::BelowRole { bot_role: Some("rally".into()) }.explain("<@&10>");
        assert!(text.contains("drag **rally** above <@&10>"), "{text}");
    }
}
