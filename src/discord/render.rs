//! Our `Response` -> serenity's interaction response (and the JSON Discord receives), and a plain
//! text rendering for `rally exec` and the demo transcript.

use serenity::builder::{
    CreateActionRow, CreateAttachment, CreateAutocompleteResponse, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateInputText, CreateInteractionResponse, CreateInteractionResponseMessage, CreateModal, EditInteractionResponse,
};
use serenity::model::application::{ButtonStyle as SerenityButtonStyle, InputTextStyle};

use crate::handlers::{ButtonStyle, Embed, Message, Modal, Response};

pub fn embed(e: &Embed) -> CreateEmbed {
    let mut out = CreateEmbed::new();
    if let Some(t) = &e.title {
        out = out.title(t);
    }
    if let Some(d) = &e.description {
        out = out.description(d);
    }
    for f in &e.fields {
        out = out.field(&f.name, &f.value, f.inline);
    }
    if let Some(footer) = &e.footer {
        out = out.footer(CreateEmbedFooter::new(footer));
    }
    if let Some(c) = e.color {
        out = out.colour(c);
    }
    if let Some(image) = &e.image {
        out = out.image(format!("attachment://{image}"));
    }
    out
}

/// The message's buttons in action rows (a link button opens its URL; the others come back as
/// interactions with their `custom_id`).
pub fn rows(m: &Message) -> Vec<CreateActionRow> {
    if m.buttons.is_empty() {
        return Vec::new();
    }
    // Five buttons per row is Discord's limit; a message may ask for fewer, one row per item.
    m.button_rows()
        .into_iter()
        .map(|chunk| {
            CreateActionRow::Buttons(
                chunk
                    .iter()
                    .map(|b| {
                        let button = match &b.url {
                            Some(url) => return CreateButton::new_link(url).label(&b.label).disabled(b.disabled),
                            None => CreateButton::new(&b.custom_id),
                        };
                        button
                            .label(&b.label)
                            .style(match b.style {
                                ButtonStyle::Primary => SerenityButtonStyle::Primary,
                                ButtonStyle::Secondary => SerenityButtonStyle::Secondary,
                                ButtonStyle::Danger => SerenityButtonStyle::Danger,
                            })
                            .disabled(b.disabled)
                    })
                    .collect(),
            )
        })
        .collect()
}

pub fn files(m: &Message) -> Vec<CreateAttachment> {
    m.attachments
        .iter()
        .map(|a| {
            let mut f = CreateAttachment::bytes(a.data.clone(), a.filename.clone());
            if let Some(d) = &a.description {
                f = f.description(d);
            }
            f
        })
        .collect()
}

pub fn message(m: &Message) -> CreateInteractionResponseMessage {
    // An update keeps the message's own visibility; flags other than SUPPRESS_EMBEDS are not
    // Discord's to change there.
    let mut out = CreateInteractionResponseMessage::new();
    if !m.update {
        out = out.ephemeral(m.ephemeral);
    }
    if let Some(c) = &m.content {
        out = out.content(c);
    }
    if !m.embeds.is_empty() {
        out = out.embeds(m.embeds.iter().map(embed).collect());
    }
    let rows = rows(m);
    if !rows.is_empty() {
        out = out.components(rows);
    }
    out.files(files(m))
}

/// The interaction response for Discord; attachments travel inside it as files.
pub fn interaction_response(r: &Response) -> CreateInteractionResponse {
    match r {
        Response::Message(m) if m.update => CreateInteractionResponse::UpdateMessage(message(m)),
        Response::Message(m) => CreateInteractionResponse::Message(message(m)),
        Response::Choices(choices) => {
            let mut out = CreateAutocompleteResponse::new();
            for c in choices {
                out = out.add_string_choice(&c.name, &c.value);
            }
            CreateInteractionResponse::Autocomplete(out)
        }
        Response::Modal(m) => CreateInteractionResponse::Modal(modal(m)),
    }
}

/// A modal: one action row per text input (Discord's shape for a form).
pub fn modal(m: &Modal) -> CreateModal {
    let rows = m
        .inputs
        .iter()
        .map(|i| {
            let mut input = CreateInputText::new(InputTextStyle::Short, &i.label, &i.custom_id)
                .required(i.required)
                .max_length(i.max_length);
            if let Some(p) = &i.placeholder {
                input = input.placeholder(p);
            }
            CreateActionRow::InputText(input)
        })
        .collect();
    CreateModal::new(&m.custom_id, &m.title).components(rows)
}

/// What completes a deferred response: the message itself; a form (which can only be the first
/// response) becomes a note to press the button again; suggestions complete nothing.
pub fn late(r: &Response) -> Option<Message> {
    match r {
        Response::Message(m) => Some(m.clone()),
        Response::Modal(_) => Some(Message {
            content: Some("⚠️ The form took too long to open: press the button again.".into()),
            ephemeral: true,
            ..Message::default()
        }),
        Response::Choices(_) => None,
    }
}

/// The edit that completes a deferred response.
pub fn edit(m: &Message) -> EditInteractionResponse {
    let mut out = EditInteractionResponse::new().content(m.content.clone().unwrap_or_default());
    out = out.embeds(m.embeds.iter().map(embed).collect());
    out = out.components(rows(m));
    for f in files(m) {
        out = out.new_attachment(f);
    }
    out
}

/// The JSON body Discord receives for this response (files are sent alongside as multipart parts).
pub fn interaction_json(r: &Response) -> serde_json::Value {
    serde_json::to_value(interaction_response(r)).unwrap_or_default()
}

/// A readable rendering for terminals (`rally exec`), made from the JSON Discord would receive so
/// that it shows exactly what a user would see.
pub fn text(r: &Response) -> String {
    text_from_json(&interaction_json(r))
}

/// Renders an interaction response as Discord received it (its JSON body) for a transcript.
pub fn text_from_json(body: &serde_json::Value) -> String {
    let data = &body["data"];
    let mut s = String::new();
    if body["type"] == 8 {
        let names: Vec<&str> =
            data["choices"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
        return format!("suggestions: {}\n", names.join(", "));
    }
    if body["type"] == 9 {
        let inputs: Vec<String> = data["components"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row["components"].as_array().into_iter().flatten())
            .map(|i| {
                let mark = if i["required"] == false { "" } else { "*" };
                format!("[{}{mark}]", i["label"].as_str().unwrap_or_default())
            })
            .collect();
        return format!("(a form) {}: {}\n", data["title"].as_str().unwrap_or_default(), inputs.join(" "));
    }
    if body["type"] == 5 {
        s.push_str("(thinking…)\n");
    }
    if data["flags"].as_u64().is_some_and(|f| f & 64 != 0) {
        s.push_str("(only you can see this)\n");
    }
    if let Some(c) = data["content"].as_str().filter(|c| !c.is_empty()) {
        s.push_str(c);
        s.push('\n');
    }
    for e in data["embeds"].as_array().into_iter().flatten() {
        if let Some(t) = e["title"].as_str() {
            s.push_str(&format!("┌ {t}\n"));
        }
        if let Some(d) = e["description"].as_str() {
            for line in d.lines().filter(|l| *l != "```") {
                s.push_str(&format!("│ {line}\n"));
            }
        }
        for f in e["fields"].as_array().into_iter().flatten() {
            let value = f["value"].as_str().unwrap_or_default().replace('\n', " · ");
            s.push_str(&format!("│ {}: {value}\n", f["name"].as_str().unwrap_or_default()));
        }
        if let Some(img) = e["image"]["url"].as_str() {
            s.push_str(&format!("│ [image {img}]\n"));
        }
        if let Some(f) = e["footer"]["text"].as_str() {
            s.push_str(&format!("└ {f}\n"));
        }
    }
    // One line per action row, as Discord lays them out.
    for row in data["components"].as_array().into_iter().flatten() {
        let buttons: Vec<String> = row["components"]
            .as_array()
            .into_iter()
            .flatten()
            // A greyed-out button (◀ on the first page) cannot be pressed: the transcript leaves it out.
            .filter(|b| b["disabled"] != true)
            .filter_map(|b| b["label"].as_str().map(|l| format!("[{l}]")))
            .collect();
        if !buttons.is_empty() {
            s.push_str(&buttons.join(" "));
            s.push('\n');
        }
    }
    for a in data["attachments"].as_array().into_iter().flatten() {
        s.push_str(&format!("📎 {}\n", a["filename"].as_str().unwrap_or("file")));
    }
    s
}
