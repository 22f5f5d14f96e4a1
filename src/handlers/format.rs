//! Text layout shared by replies and the CLI: aligned tables and fitting lines into Discord's
//! limits with "and N more".

/// Pads columns to their widest cell; `left` lists the columns aligned left (text), others right.
pub fn table(rows: &[Vec<String>], left: &[usize]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|v| v.chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    if left.contains(&c) {
                        format!("{v:<w$}", w = widths[c])
                    } else {
                        format!("{v:>w$}", w = widths[c])
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

/// Joins `lines` with newlines within `budget` characters. `keep_head` lines (a table header) are
/// always kept; when lines must be dropped the text ends with "… and N more" and the count of
/// dropped lines is returned.
pub fn fit_lines(lines: &[String], keep_head: usize, budget: usize, more: &str) -> (String, usize) {
    let total: usize = lines.iter().map(|l| l.chars().count() + 1).sum();
    if total <= budget {
        return (lines.join("\n"), 0);
    }
    // Reserve room for the closing note, whose digits never exceed the line count's.
    let note_len = |n: usize| format!("… and {n} more{more}").chars().count() + 1;
    let reserve = note_len(lines.len());
    let mut used = 0;
    let mut kept = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let len = line.chars().count() + 1;
        if i >= keep_head && used + len + reserve > budget {
            break;
        }
        used += len;
        kept.push(line.clone());
    }
    let omitted = lines.len() - kept.len();
    kept.push(format!("… and {omitted} more{more}"));
    (kept.join("\n"), omitted)
}

/// Cuts a string to at most `max` characters, ending with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Points with their unit, singular for one: `1 pt`, `48 pts`.
pub fn pts(n: i64) -> String {
    if n.abs() == 1 { format!("{n} pt") } else { format!("{n} pts") }
}

/// A streak of working days with activity: `🔥 5 working days`, `🔥 1 working day`, and `none yet`
/// rather than a flame for zero.
pub fn streak(days: i64) -> String {
    match days {
        n if n <= 0 => "none yet".to_string(),
        1 => "🔥 1 working day".to_string(),
        n => format!("🔥 {n} working days"),
    }
}

/// How long is left of a window, for a "Time left" field: `2 days 7 h`, `5 h 12 min`, `7 h`,
/// `42 min`, `under a minute`.
pub fn time_left(left: chrono::Duration) -> String {
    let minutes = left.num_minutes();
    if minutes < 1 {
        return "under a minute".to_string();
    }
    let (days, hours, mins) = (minutes / (24 * 60), minutes / 60 % 24, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} day{}", if d == 1 { "" } else { "s" }),
        (d, h, _) => format!("{d} day{} {h} h", if d == 1 { "" } else { "s" }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_left_reads_as_a_duration() {
        use chrono::Duration;
        assert_eq!(super::time_left(Duration::minutes(42)), "42 min");
        assert_eq!(super::time_left(Duration::minutes(5 * 60 + 12)), "5 h 12 min");
        assert_eq!(super::time_left(Duration::minutes(7 * 60)), "7 h");
        assert_eq!(super::time_left(Duration::minutes(24 * 60 + 60)), "1 day 1 h");
        assert_eq!(super::time_left(Duration::minutes(2 * 24 * 60 + 7 * 60)), "2 days 7 h");
        assert_eq!(super::time_left(Duration::seconds(30)), "under a minute");
    }

    use super::*;

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let rows = vec![
            vec!["Rep".to_string(), "Pts".into()],
            vec!["Al".into(), "7".into()],
            vec!["Beatrice".into(), "120".into()],
        ];
        assert_eq!(table(&rows, &[0]), ["Rep       Pts", "Al          7", "Beatrice  120"]);
    }

    #[test]
    fn long_lists_are_cut_with_and_n_more_within_budget() {
        let lines: Vec<String> = (0..500).map(|i| format!("row number {i:>4}")).collect();
        let (text, omitted) = fit_lines(&lines, 1, 1000, " (use /export)");
        assert!(text.chars().count() <= 1000, "{}", text.len());
        assert!(text.ends_with(&format!("… and {omitted} more (use /export)")));
        assert!(text.starts_with("row number    0"));
        assert_eq!(text.lines().count() - 1 + omitted, 500);
        let (short, none) = fit_lines(&lines[..3], 1, 1000, "");
        assert_eq!((short.lines().count(), none), (3, 0));
    }
}
