//! `/help`: what rally does and every command, from the manifests.

use super::{CommandCall, Ctx, Embed, Field, Message, Response};
use crate::app::AppResult;

pub async fn handle(_ctx: &Ctx<'_>, _call: &CommandCall) -> AppResult<Response> {
    let mut fields = Vec::new();
    for manifest in super::manifests::all() {
        let name = manifest["name"].as_str().unwrap_or_default();
        let manager = manifest.get("default_member_permissions").is_some();
        let subs: Vec<String> = manifest["options"]
            .as_array()
            .map(|opts| {
                opts.iter()
                    .filter(|o| o["type"] == 1)
                    .filter_map(|o| o["name"].as_str())
                    .map(|s| format!("`{s}`"))
                    .collect()
            })
            .unwrap_or_default();
        let mut value = manifest["description"].as_str().unwrap_or_default().to_string();
        if !subs.is_empty() {
            value.push_str(&format!("\n{}", subs.join(" · ")));
        }
        fields.push(Field {
            name: format!("/{name}{}", if manager { " (managers)" } else { "" }),
            value,
            inline: false,
        });
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some("rally: log your sales activity, see where you stand".into()),
            description: Some(
                "Log what you did with `/log` in a few seconds; see your numbers with `/me` and who leads with `/leaderboard`. \
                 Periods: today, this-week, last-month, this-quarter, 2026-10, 2026-W44 …"
                    .into(),
            ),
            fields,
            color: Some(0x2f80ed),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}
