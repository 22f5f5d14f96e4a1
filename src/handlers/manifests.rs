//! The application-command manifests in `commands/`, embedded at build time. They are the single
//! source of truth for names, options and default permissions, registered with one bulk overwrite.

/// (command name, manifest JSON) for every file in `commands/`.
pub const MANIFESTS: &[(&str, &str)] = &[
    ("export", include_str!("../../commands/export.json")),
    ("help", include_str!("../../commands/help.json")),
    ("kpi", include_str!("../../commands/kpi.json")),
    ("leaderboard", include_str!("../../commands/leaderboard.json")),
    ("log", include_str!("../../commands/log.json")),
    ("me", include_str!("../../commands/me.json")),
    ("settings", include_str!("../../commands/settings.json")),
    ("team", include_str!("../../commands/team.json")),
    ("undo", include_str!("../../commands/undo.json")),
];

/// Every manifest parsed, as the array a bulk overwrite sends.
pub fn all() -> Vec<serde_json::Value> {
    MANIFESTS.iter().filter_map(|(_, json)| serde_json::from_str(json).ok()).collect()
}

/// One manifest by command name.
pub fn get(name: &str) -> Option<serde_json::Value> {
    MANIFESTS.iter().find(|(n, _)| *n == name).and_then(|(_, json)| serde_json::from_str(json).ok())
}
