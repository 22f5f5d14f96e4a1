//! A small `multipart/form-data` reader for the bodies serenity (via reqwest) sends with attachments.
//!
//! Hand-written because the crate's axum has no "multipart" feature, and these bodies are simple: a `payload_json`
//! text part plus `files[n]` parts.

/// One part of a form: its field name, file name when it is a file, and raw content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// Returns the boundary of a `multipart/form-data` content type, or `None` for any other type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut pieces = content_type.split(';');
    let essence = pieces.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    pieces.find_map(|p| {
        let (key, value) = p.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_string())
    })
}

pub(crate) fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut rest = match find(body, &delimiter) {
        Some(at) => &body[at + delimiter.len()..],
        None => return Err("multipart body has no opening boundary".into()),
    };
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or("multipart boundary is not followed by CRLF")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("multipart part has no end of headers")?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| "multipart part headers are not UTF-8")?;
        let content = &rest[head_end + 4..];
        let closing = [b"\r\n".as_slice(), &delimiter].concat();
        let end = find(content, &closing).ok_or("multipart part has no closing boundary")?;
        let (name, filename) = disposition(head)?;
        parts.push(Part { name, filename, data: content[..end].to_vec() });
        rest = &content[end + closing.len()..];
    }
}

fn disposition(head: &str) -> Result<(String, Option<String>), String> {
    let line = head
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
        .ok_or("multipart part has no Content-Disposition")?;
    let mut name = None;
    let mut filename = None;
    for param in line.split(';').skip(1) {
        let Some((key, value)) = param.trim().split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim() {
            "name" => name = Some(value.to_string()),
            // reqwest percent-encodes file names by default.
            "filename" => filename = Some(percent_decode(value)),
            _ => {}
        }
    }
    Ok((name.ok_or("multipart part has no name")?, filename))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_with_payload_json_and_a_file_is_split_into_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a%20b.csv\"\r\n\
Content-Type: text/csv\r\n\r\nx,y\r\n1,2\r\n--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n\
{\"content\":\"hi\"}\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ").expect("parses");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "files[0]");
        assert_eq!(parts[0].filename.as_deref(), Some("a b.csv"));
        assert_eq!(parts[0].data, b"x,y\r\n1,2");
        assert_eq!(parts[1].name, "payload_json");
        assert_eq!(parts[1].data, b"{\"content\":\"hi\"}");
    }

    #[test]
    fn the_boundary_is_read_from_the_content_type() {
        assert_eq!(boundary("multipart/form-data; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(boundary("multipart/form-data; boundary=\"q r\"").as_deref(), Some("q r"));
        assert_eq!(boundary("application/json"), None);
    }

    #[test]
    fn a_truncated_form_is_an_error() {
        assert!(parse(b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "XyZ").is_err());
    }
}
