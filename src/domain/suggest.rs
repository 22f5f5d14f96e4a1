//! "Did you mean ...?": finds the known name a user probably meant (a kind, a timezone, a role
//! word). Pure and cheap; knows nothing of what the names are.

/// The known name `typed` probably stands for, or `None` when nothing is close.
///
/// In order of preference, so that the most certain reading wins over a merely close one:
/// 1. the same name ignoring case (`europe/berlin` -> `Europe/Berlin`);
/// 2. the same name in the singular or plural ignoring case (`calls` -> `call`, `replies` ->
///    `reply`), which is how people say what they did but usually not how kinds are named;
/// 3. the name fewest edits away ignoring case, counting a swap of two neighbouring letters as
///    one edit (optimal string alignment, a restricted Damerau–Levenshtein), if that is at most
///    a third of the typed length but at least 1 (`Emial` -> `email`, `Europe/Berln` ->
///    `Europe/Berlin`). This is the bound rustc uses for its own suggestions: one slip in a short
///    word, more in a long one, while `xyz` is not "close" to `UTC` (3 edits).
///
/// Ties go to the name listed first, so callers decide by their order which name is preferred.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed = typed.trim().to_lowercase();
    if typed.is_empty() {
        return None;
    }
    let typed_len = typed.chars().count();
    let max_edits = (typed_len.max(3) / 3).max(1);
    let mut best: Option<(u8, usize, &'a str)> = None;
    for name in known {
        // Length alone rules most names out (a plural differs by at most 3 letters, a close name
        // by at most `max_edits`): checked before any allocation, since timezones are 600 names.
        if typed_len.abs_diff(name.chars().count()) > max_edits.max(3) {
            continue;
        }
        let lower = name.to_lowercase();
        let rank = if lower == typed {
            (0, 0)
        } else if same_but_number(&typed, &lower) {
            (1, 0)
        } else {
            // Length alone bounds the distance from below: skipping far-off names keeps a huge
            // input (the fuzzer sends megabytes) from costing a full comparison with each name.
            if typed_len.abs_diff(lower.chars().count()) > max_edits {
                continue;
            }
            let edits = strsim::osa_distance(&typed, &lower);
            if edits > max_edits {
                continue;
            }
            (2, edits)
        };
        if best.is_none_or(|(tier, edits, _)| (rank.0, rank.1) < (tier, edits)) {
            best = Some((rank.0, rank.1, name));
        }
    }
    best.map(|(_, _, name)| name)
}

/// Whether one is the plural of the other: `call`/`calls`, `box`/`boxes`, `reply`/`replies`.
fn same_but_number(a: &str, b: &str) -> bool {
    let plural_of = |plural: &str, singular: &str| {
        plural.strip_suffix('s') == Some(singular)
            || plural.strip_suffix("es") == Some(singular)
            || plural.strip_suffix("ies").zip(singular.strip_suffix('y')).is_some_and(|(p, s)| p == s)
    };
    plural_of(a, b) || plural_of(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [&str; 7] = ["call", "email", "meeting", "demo", "proposal", "won", "lost"];
    const ZONES: [&str; 6] = ["UTC", "Europe/Berlin", "Europe/Paris", "America/New_York", "Asia/Tokyo", "EST"];

    #[test]
    fn close_names_and_other_cases_suggest_the_known_name() {
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("calls", &KINDS, Some("call")),
            ("Calls", &KINDS, Some("call")),
            ("demos", &KINDS, Some("demo")),
            ("meetings", &KINDS, Some("meeting")),
            ("Emial", &KINDS, Some("email")),
            ("emails", &KINDS, Some("email")),
            ("propsal", &KINDS, Some("proposal")),
            ("wins", &KINDS, None),
            ("xyz", &KINDS, None),
            ("dance", &KINDS, None),
            ("juggling", &KINDS, None),
            ("", &KINDS, None),
            ("europe/berlin", &ZONES, Some("Europe/Berlin")),
            ("EUROPE/BERLIN", &ZONES, Some("Europe/Berlin")),
            ("Europe/Berln", &ZONES, Some("Europe/Berlin")),
            ("america/new york", &ZONES, Some("America/New_York")),
            ("utc", &ZONES, Some("UTC")),
            ("Mars/Olympus", &ZONES, None),
            ("xyz", &ZONES, None),
            ("replies", &["reply", "call"], Some("reply")),
            ("boxes", &["box"], Some("box")),
            ("manger", &["manager", "managers"], Some("manager")),
        ];
        for (typed, known, want) in cases {
            assert_eq!(closest(typed, known.iter().copied()), *want, "{typed}");
        }
    }

    #[test]
    fn a_name_equal_ignoring_case_wins_over_a_closer_spelling() {
        // `calls` is one edit from `call` and equal to `Calls` ignoring case.
        assert_eq!(closest("calls", ["call", "Calls"]), Some("Calls"));
        assert_eq!(closest("demo", ["demos", "Demo"]), Some("Demo"));
    }

    #[test]
    fn a_tie_goes_to_the_name_listed_first() {
        assert_eq!(closest("cat", ["car", "cab"]), Some("car"));
        assert_eq!(closest("cat", ["cab", "car"]), Some("cab"));
    }

    #[test]
    fn a_huge_or_odd_input_finds_nothing_and_does_not_panic() {
        let huge = "x".repeat(1_000_000);
        assert_eq!(closest(&huge, KINDS), None);
        assert_eq!(closest("🦀🦀", KINDS), None);
        assert_eq!(closest("   ", KINDS), None);
        assert_eq!(closest("İ", ["i̇"]), Some("i̇"));
    }
}
