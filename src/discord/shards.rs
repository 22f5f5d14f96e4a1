//! Which gateway shards a `rally run` process connects: Discord's recommended count, or a range of a
//! total so several processes can share one bot. Parsed and checked here, at the edge, from
//! `--shards A-B --total N`; pure (no serenity, no I/O), so every rule is a unit test.
//!
//! Discord routes a guild's events to shard `(guild_id >> 22) % num_shards`, and sends events without a
//! guild (DMs) to shard 0 only; a shard may hold at most 2,500 guilds, so a bot in more must shard
//! (Discord's Gateway documentation, "Sharding": <https://discord.com/developers/docs/events/gateway#sharding>).

use std::fmt;

/// The largest total Discord's own description allows: the shard count is an `int32` there
/// (`GatewayBotResponse.shards` in `shared/discord/openapi.json`). Discord documents no smaller cap;
/// a total beyond the bot's daily session start limit (`GET /gateway/bot`) is Discord's to refuse.
pub const MAX_TOTAL_SHARDS: u32 = i32::MAX as u32;

/// The shards this process connects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shards {
    /// As many as Discord recommends for the bot (`shards` from `GET /gateway/bot`), all in this
    /// process: the default, and right for any bot one process can carry.
    #[default]
    Recommended,
    /// Only these shards of a fixed total; the other processes run the rest.
    Range(ShardRange),
}

/// Shards `first..=last` (both ends included) of `total`: `0 <= first <= last < total <= MAX_TOTAL_SHARDS`,
/// which [`ShardRange::new`] enforces, so a value of this type is always one Discord accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardRange {
    first: u32,
    last: u32,
    total: u32,
}

impl ShardRange {
    /// Shards `first` to `last`, both included, of `total`.
    pub fn new(first: u32, last: u32, total: u32) -> Result<ShardRange, ShardsError> {
        check(u64::from(first), u64::from(last), u64::from(total))?;
        Ok(ShardRange { first, last, total })
    }

    /// The first shard id this process runs.
    pub fn first(&self) -> u32 {
        self.first
    }

    /// The last shard id this process runs (included).
    pub fn last(&self) -> u32 {
        self.last
    }

    /// The number of shards across every process (Discord's `num_shards`).
    pub fn total(&self) -> u32 {
        self.total
    }

    /// How many shards this process runs (at least 1).
    pub fn len(&self) -> u32 {
        self.last - self.first + 1
    }

    /// Never: a range holds at least one shard (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for ShardRange {
    /// `0-1 of 3`, or `2 of 3` for one shard.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{} of {}", self.first, self.total)
        } else {
            write!(f, "{}-{} of {}", self.first, self.last, self.total)
        }
    }
}

/// Why `--shards`/`--total` were refused; each message says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardsError {
    #[error(
        "--shards needs --total, the number of shards across every process (e.g. `--shards {0} --total 4`); \
         leave both out to use Discord's recommended count"
    )]
    MissingTotal(String),
    #[error(
        "--total needs --shards, the shards this process runs (e.g. `--shards 0-{last} --total {total}` for all \
         of them); leave both out to use Discord's recommended count",
        last = .0.saturating_sub(1),
        total = .0
    )]
    MissingShards(u64),
    #[error("`{0}` is not a shard range: write FIRST-LAST (e.g. 0-3) or one shard id (e.g. 3)")]
    NotARange(String),
    #[error("`{0}` is not a shard count: --total takes a whole number from 1 to {MAX_TOTAL_SHARDS}")]
    NotACount(String),
    #[error("--total 0: a bot needs at least one shard")]
    ZeroTotal,
    #[error("--total {0} is more shards than Discord accepts (at most {MAX_TOTAL_SHARDS})")]
    TooMany(u64),
    #[error("shard range {first}-{last} runs backwards: write the lower id first ({last}-{first})")]
    Backwards { first: u64, last: u64 },
    #[error(
        "shard {last} does not exist in a total of {total}: shard ids run from 0 to {max}",
        max = .total.saturating_sub(1)
    )]
    OutOfRange { last: u64, total: u64 },
}

/// Reads `--shards` (`A-B`, or `A` for `A-A`; ids from 0) and `--total` (`N`) into the shards to run.
/// Both absent (or blank) means [`Shards::Recommended`]; one without the other is refused, as are
/// `A > B`, `B >= N`, `N = 0`, `N > MAX_TOTAL_SHARDS` and anything that is not plain digits.
pub fn parse(shards: Option<&str>, total: Option<&str>) -> Result<Shards, ShardsError> {
    let shards = shards.map(str::trim).filter(|s| !s.is_empty());
    let total = total.map(str::trim).filter(|s| !s.is_empty());
    let (range, total) = match (shards, total) {
        (None, None) => return Ok(Shards::Recommended),
        (Some(range), None) => return Err(ShardsError::MissingTotal(range.to_string())),
        (None, Some(total)) => {
            let n = number(total).ok_or_else(|| ShardsError::NotACount(total.to_string()))?;
            // A total that is wrong on its own is the first thing to say.
            check(0, 0, n)?;
            return Err(ShardsError::MissingShards(n));
        }
        (Some(range), Some(total)) => (range, total),
    };
    let n = number(total).ok_or_else(|| ShardsError::NotACount(total.to_string()))?;
    let not_a_range = || ShardsError::NotARange(range.to_string());
    let (first, last) = match range.split_once('-') {
        Some((a, b)) => (number(a.trim()).ok_or_else(not_a_range)?, number(b.trim()).ok_or_else(not_a_range)?),
        None => {
            let a = number(range).ok_or_else(not_a_range)?;
            (a, a)
        }
    };
    check(first, last, n)?;
    // `check` bounds all three by MAX_TOTAL_SHARDS, so they fit a u32.
    let fit = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(Shards::Range(ShardRange { first: fit(first), last: fit(last), total: fit(n) }))
}

/// The rules, on numbers wide enough to hold whatever was typed.
fn check(first: u64, last: u64, total: u64) -> Result<(), ShardsError> {
    if total == 0 {
        return Err(ShardsError::ZeroTotal);
    }
    if total > u64::from(MAX_TOTAL_SHARDS) {
        return Err(ShardsError::TooMany(total));
    }
    if first > last {
        return Err(ShardsError::Backwards { first, last });
    }
    if last >= total {
        return Err(ShardsError::OutOfRange { last, total });
    }
    Ok(())
}

/// Plain ASCII digits (no sign, no spaces inside); a number too long for a u64 reads as u64::MAX, which
/// every rule then refuses with its own message rather than "not a number".
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u32, last: u32, total: u32) -> Shards {
        Shards::Range(ShardRange::new(first, last, total).expect("a valid range"))
    }

    #[test]
    fn no_flags_means_discords_recommended_count() {
        assert_eq!(parse(None, None), Ok(Shards::Recommended));
        assert_eq!(parse(Some(" "), Some("")), Ok(Shards::Recommended));
    }

    #[test]
    fn a_range_and_a_total_are_read_with_both_ends_included() {
        let Ok(Shards::Range(r)) = parse(Some("0-1"), Some("3")) else { panic!("a range") };
        assert_eq!((r.first(), r.last(), r.total(), r.len()), (0, 1, 3, 2));
        assert_eq!(r.to_string(), "0-1 of 3");
        assert_eq!(parse(Some(" 2 - 2 "), Some(" 3 ")), Ok(range(2, 2, 3)));
        assert_eq!(
            parse(Some("0-2147483646"), Some("2147483647")),
            Ok(range(0, MAX_TOTAL_SHARDS - 1, MAX_TOTAL_SHARDS))
        );
    }

    #[test]
    fn one_shard_id_means_that_shard_alone() {
        assert_eq!(parse(Some("3"), Some("4")), Ok(range(3, 3, 4)));
        let Shards::Range(r) = range(3, 3, 4) else { unreachable!() };
        assert_eq!(r.to_string(), "3 of 4");
    }

    #[test]
    fn one_flag_without_the_other_is_refused() {
        assert_eq!(parse(Some("0-1"), None), Err(ShardsError::MissingTotal("0-1".into())));
        assert_eq!(parse(None, Some("3")), Err(ShardsError::MissingShards(3)));
        assert!(parse(None, Some("3")).unwrap_err().to_string().contains("`--shards 0-2 --total 3`"));
        assert_eq!(parse(None, Some("x")), Err(ShardsError::NotACount("x".into())));
        assert_eq!(parse(None, Some("0")), Err(ShardsError::ZeroTotal));
    }

    #[test]
    fn a_backwards_range_is_refused_with_the_order_to_write() {
        let err = parse(Some("2-1"), Some("3")).unwrap_err();
        assert_eq!(err, ShardsError::Backwards { first: 2, last: 1 });
        assert_eq!(err.to_string(), "shard range 2-1 runs backwards: write the lower id first (1-2)");
    }

    #[test]
    fn a_shard_past_the_total_is_refused_because_ids_start_at_0() {
        let err = parse(Some("0-3"), Some("3")).unwrap_err();
        assert_eq!(err, ShardsError::OutOfRange { last: 3, total: 3 });
        assert_eq!(err.to_string(), "shard 3 does not exist in a total of 3: shard ids run from 0 to 2");
        assert!(matches!(parse(Some("99999999999999999999999"), Some("3")), Err(ShardsError::OutOfRange { .. })));
    }

    #[test]
    fn a_total_of_zero_or_beyond_discords_int32_is_refused() {
        assert_eq!(parse(Some("0"), Some("0")), Err(ShardsError::ZeroTotal));
        assert_eq!(parse(Some("0"), Some("2147483648")), Err(ShardsError::TooMany(2_147_483_648)));
        assert_eq!(parse(Some("0"), Some("99999999999999999999999")), Err(ShardsError::TooMany(u64::MAX)));
        assert_eq!(ShardRange::new(0, 0, 0), Err(ShardsError::ZeroTotal));
        assert!(ShardRange::new(0, 0, u32::MAX).is_err());
    }

    #[test]
    fn anything_but_plain_digits_is_refused_with_the_form_to_write() {
        for bad in ["a-b", "-1", "1-", "-", "0-1-2", "+1", "1.5", "0x2", "1 2", "١"] {
            assert_eq!(parse(Some(bad), Some("3")), Err(ShardsError::NotARange(bad.into())), "{bad}");
        }
        for bad in ["three", "-3", "3.0", "+3", "3 shards"] {
            assert_eq!(parse(Some("0"), Some(bad)), Err(ShardsError::NotACount(bad.into())), "{bad}");
        }
        assert!(parse(Some("a-b"), Some("3")).unwrap_err().to_string().contains("write FIRST-LAST (e.g. 0-3)"));
    }
}
