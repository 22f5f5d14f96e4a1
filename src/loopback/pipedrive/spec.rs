//! Pipedrive's published OpenAPI 3.0 descriptions (v1 and v2, YAML), read at runtime from a folder: operation
//! lookup by path template, query/path parameter and request-body checks, token costs, and response schemas for the
//! drift tests. Owns no HTTP and no state beyond the process-wide caches.
//!
//! Documents are parsed once per folder for the whole process, and each parameter or body validator is compiled on
//! first use and kept with its operation: tests start many loopbacks, and parsing 2.7 MB of YAML or compiling a
//! schema costs far more than checking one request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value, json};

/// Which of Pipedrive's two descriptions, with the URL prefix it is served under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Api {
    V1,
    V2,
}

impl Api {
    pub fn prefix(self) -> &'static str {
        match self {
            Api::V1 => "/v1",
            Api::V2 => "/api/v2",
        }
    }

    pub fn file(self) -> &'static str {
        match self {
            Api::V1 => "v1.yaml",
            Api::V2 => "v2.yaml",
        }
    }

    /// The API a request path belongs to, and the path below its prefix (`/activities`).
    pub fn of(path: &str) -> Option<(Api, &str)> {
        for api in [Api::V1, Api::V2] {
            if let Some(rest) = path.strip_prefix(api.prefix())
                && rest.starts_with('/')
            {
                return Some((api, rest));
            }
        }
        None
    }
}

/// Both descriptions.
pub(crate) struct Specs {
    v1: Document,
    v2: Document,
}

impl Specs {
    /// Reads and parses `v1.yaml` and `v2.yaml` in `dir` once per folder for the whole process.
    pub fn load(dir: &Path) -> std::io::Result<Arc<Specs>> {
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<Specs>>>> = OnceLock::new();
        let key = dir.canonicalize()?;
        let cache = CACHE.get_or_init(Default::default);
        // Held while parsing, so concurrent test threads parse once and the rest wait for it.
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(specs) = cache.get(&key) {
            return Ok(specs.clone());
        }
        let specs = Arc::new(Specs { v1: Document::load(&key, Api::V1)?, v2: Document::load(&key, Api::V2)? });
        cache.insert(key, specs.clone());
        Ok(specs)
    }

    pub fn document(&self, api: Api) -> &Document {
        match api {
            Api::V1 => &self.v1,
            Api::V2 => &self.v2,
        }
    }
}

/// One description: its operations by path template.
pub(crate) struct Document {
    api: Api,
    paths: Vec<PathItem>,
}

struct PathItem {
    template: String,
    segments: Vec<Segment>,
    operations: Vec<Arc<Operation>>,
}

enum Segment {
    Literal(String),
    Param(String),
}

/// One operation (`GET /activities` of v2) with what a request to it may carry.
pub(crate) struct Operation {
    pub api: Api,
    /// Upper case, e.g. `GET`.
    pub method: String,
    /// As the description spells it, e.g. `/webhooks/{id}`.
    pub template: String,
    pub operation_id: String,
    /// The operation's `x-token-cost`: what it takes from the rate-limit budget.
    pub token_cost: u32,
    params: Vec<Param>,
    /// `application/json` request body schema, converted to JSON Schema, with whether it is required.
    body: Option<(Value, bool)>,
    body_validator: OnceLock<Result<Validator, String>>,
    /// Whether the description lists `api_key` (the `x-api-token` header) among the operation's security.
    pub takes_api_key: bool,
    /// Kept for the response schemas, which only the drift tests read.
    #[cfg_attr(not(test), allow(dead_code))]
    raw: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    Query,
    Path,
    Header,
}

struct Param {
    name: String,
    location: Location,
    required: bool,
    schema: Value,
    validator: OnceLock<Result<Validator, String>>,
}

/// Decoded `(name, value)` pairs, from a query string or a path.
pub(crate) type Pairs = Vec<(String, String)>;

/// A matched operation with the path parameters taken from the request path.
pub(crate) struct Matched {
    pub operation: Arc<Operation>,
    pub path_params: Pairs,
}

/// Why a request path has no operation.
pub(crate) enum Miss {
    /// No template matches the path.
    NoPath,
    /// A template matches, but has no operation for the method; its methods are listed.
    NoMethod(String, Vec<String>),
}

impl Document {
    fn load(dir: &Path, api: Api) -> std::io::Result<Document> {
        let path = dir.join(api.file());
        let text = std::fs::read_to_string(&path)?;
        let doc: Value = serde_norway::from_str(&text).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} is not YAML: {e}", path.display()))
        })?;
        let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} has no `paths`: not an OpenAPI document", path.display()),
            ));
        };
        let mut items = Vec::new();
        for (template, item) in paths {
            let shared_params = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut operations = Vec::new();
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if let Some(op) = item.get(method) {
                    operations.push(Arc::new(Operation::new(api, method, template, op, &shared_params)));
                }
            }
            let segments = template
                .split('/')
                .skip(1)
                .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_string()),
                    None => Segment::Literal(s.to_string()),
                })
                .collect();
            items.push(PathItem { template: template.clone(), segments, operations });
        }
        Ok(Document { api, paths: items })
    }

    /// The operation for `method` on `path` (below the API prefix). Of several matching templates the one with the
    /// most literal segments wins, so `/deals/summary` is not `/deals/{id}`.
    pub fn find(&self, method: &str, path: &str) -> Result<Matched, Miss> {
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let mut best: Option<(usize, &PathItem, Pairs)> = None;
        for item in &self.paths {
            if item.segments.len() != segments.len() {
                continue;
            }
            let mut literals = 0;
            let mut params = Vec::new();
            let fits = item.segments.iter().zip(&segments).all(|(pattern, actual)| match pattern {
                Segment::Literal(l) => {
                    literals += 1;
                    l == actual
                }
                Segment::Param(name) => {
                    params.push((name.clone(), percent_decode(actual).unwrap_or_default()));
                    !actual.is_empty()
                }
            });
            if fits && best.as_ref().is_none_or(|(n, _, _)| literals > *n) {
                best = Some((literals, item, params));
            }
        }
        let Some((_, item, path_params)) = best else {
            return Err(Miss::NoPath);
        };
        match item.operations.iter().find(|op| op.method.eq_ignore_ascii_case(method)) {
            Some(operation) => Ok(Matched { operation: operation.clone(), path_params }),
            None => Err(Miss::NoMethod(
                format!("{}{}", self.api.prefix(), item.template),
                item.operations.iter().map(|op| op.method.clone()).collect(),
            )),
        }
    }

    /// The operation with this method and template.
    #[cfg(test)]
    pub fn operation(&self, method: &str, template: &str) -> Option<Arc<Operation>> {
        let item = self.paths.iter().find(|p| p.template == template)?;
        item.operations.iter().find(|op| op.method.eq_ignore_ascii_case(method)).cloned()
    }
}

impl Operation {
    fn new(api: Api, method: &str, template: &str, op: &Value, shared_params: &[Value]) -> Operation {
        let mut params: Vec<Param> = Vec::new();
        for raw in shared_params.iter().chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten()) {
            let (Some(name), Some(location)) = (raw.get("name").and_then(Value::as_str), raw.get("in")) else {
                continue;
            };
            let location = match location.as_str() {
                Some("query") => Location::Query,
                Some("path") => Location::Path,
                Some("header") => Location::Header,
                _ => continue,
            };
            let mut schema = to_json_schema(raw.get("schema").unwrap_or(&json!({})), Strictness::Request);
            patch_param(name, raw, &mut schema);
            let param = Param {
                name: name.to_string(),
                location,
                required: raw.get("required").and_then(Value::as_bool).unwrap_or(location == Location::Path),
                schema,
                validator: OnceLock::new(),
            };
            // An operation's own parameter overrides the path item's of the same name and location.
            params.retain(|p| !(p.name == param.name && p.location == param.location));
            params.push(param);
        }
        let body = op.get("requestBody").and_then(|rb| {
            let schema = rb.pointer("/content/application~1json/schema")?;
            let required = rb.get("required").and_then(Value::as_bool).unwrap_or(false);
            let mut schema = to_json_schema(schema, Strictness::Request);
            // Pipedrive ignores fields it does not know; for a client that means a typo is silently lost, so the
            // loopback refuses undeclared top-level fields.
            if let Some(map) = schema.as_object_mut()
                && map.contains_key("properties")
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            Some((schema, required))
        });
        let takes_api_key = op
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|alternatives| alternatives.iter().any(|a| a.get("api_key").is_some()));
        Operation {
            api,
            method: method.to_ascii_uppercase(),
            template: template.to_string(),
            operation_id: op.get("operationId").and_then(Value::as_str).unwrap_or("?").to_string(),
            token_cost: op.get("x-token-cost").and_then(Value::as_u64).map_or(0, |c| c.min(u32::MAX as u64) as u32),
            params,
            body,
            body_validator: OnceLock::new(),
            takes_api_key,
            raw: op.clone(),
        }
    }

    /// `GET /api/v2/activities (getActivities)`, how violations name the operation.
    pub fn label(&self) -> String {
        format!("{} {}{} ({})", self.method, self.api.prefix(), self.template, self.operation_id)
    }

    /// Every way the query and path parameters differ from what the operation declares. `query` is decoded
    /// `(name, value)` pairs in request order.
    pub fn check_params(&self, query: &[(String, String)], path_params: &[(String, String)]) -> Vec<String> {
        let label = self.label();
        let mut problems = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in query {
            let Some(param) = self.params.iter().find(|p| p.location == Location::Query && p.name == *name) else {
                problems.push(format!("{label}: query parameter `{name}` is not declared by the operation"));
                continue;
            };
            if seen.contains(&name.as_str()) {
                problems.push(format!("{label}: query parameter `{name}` is given more than once"));
                continue;
            }
            seen.push(name);
            if let Err(why) = param.check(value) {
                problems.push(format!("{label}: query parameter `{name}`={value:?} {why}"));
            }
        }
        for param in self.params.iter().filter(|p| p.location == Location::Query && p.required) {
            if !query.iter().any(|(n, _)| *n == param.name) {
                problems.push(format!("{label}: required query parameter `{}` is missing", param.name));
            }
        }
        for (name, value) in path_params {
            if let Some(param) = self.params.iter().find(|p| p.location == Location::Path && p.name == *name)
                && let Err(why) = param.check(value)
            {
                problems.push(format!("{label}: path parameter `{name}`={value:?} {why}"));
            }
        }
        problems
    }

    /// Whether the operation declares a JSON request body, and whether it requires one.
    pub fn body(&self) -> Option<bool> {
        self.body.as_ref().map(|(_, required)| *required)
    }

    /// The reasons `body` does not fit the operation's `application/json` request schema (at most 5, then a count).
    pub fn check_body(&self, body: &Value) -> Vec<String> {
        let Some((schema, _)) = &self.body else {
            return Vec::new();
        };
        let validator = self.body_validator.get_or_init(|| compile(schema));
        let label = self.label();
        match validator {
            Ok(v) => describe(v, body).into_iter().map(|e| format!("{label}: request body {e}")).collect(),
            Err(e) => vec![format!("{label}: the request body schema does not compile: {e}")],
        }
    }

    /// The `application/json` schema of response `status`, converted for a strict check of what the loopback
    /// answers: no undeclared properties, and null allowed anywhere (see [`Strictness::Response`]).
    #[cfg(test)]
    pub fn response_schema(&self, status: &str) -> Option<Value> {
        let schema = self.raw.pointer(&format!("/responses/{status}/content/application~1json/schema"))?;
        Some(to_json_schema(schema, Strictness::Response))
    }
}

impl Param {
    fn check(&self, raw: &str) -> Result<(), String> {
        let value = coerce(&self.schema, raw)?;
        match self.validator.get_or_init(|| compile(&self.schema)) {
            Ok(v) => match describe(v, &value).into_iter().next() {
                Some(problem) => Err(problem),
                None => Ok(()),
            },
            Err(e) => Err(format!("cannot be checked: its schema does not compile: {e}")),
        }
    }
}

/// Turns a query-string value into the JSON value its schema describes (OpenAPI's default `form` style).
fn coerce(schema: &Value, raw: &str) -> Result<Value, String> {
    let kinds: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec!["string"],
    };
    if kinds.contains(&"integer") {
        return raw.parse::<i64>().map(Value::from).map_err(|_| "is not an integer".to_string());
    }
    if kinds.contains(&"number") {
        return match raw.parse::<f64>().ok().filter(|f| f.is_finite()).and_then(serde_json::Number::from_f64) {
            Some(n) => Ok(Value::Number(n)),
            None => Err("is not a number".to_string()),
        };
    }
    if kinds.contains(&"boolean") {
        return match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("is not a boolean (`true` or `false`)".to_string()),
        };
    }
    if kinds.contains(&"array") {
        let items = schema.get("items").cloned().unwrap_or(json!({}));
        return raw.split(',').map(|item| coerce(&items, item)).collect::<Result<Vec<_>, _>>().map(Value::Array);
    }
    Ok(Value::String(raw.to_string()))
}

/// Where a parameter's description states a rule its schema leaves out, and Pipedrive enforces it.
fn patch_param(name: &str, raw: &Value, schema: &mut Value) {
    let description = raw.get("description").and_then(Value::as_str).unwrap_or("");
    if name == "limit"
        && description.contains("maximum value of 500")
        && let Some(map) = schema.as_object_mut()
    {
        map.insert("maximum".into(), json!(500));
        map.insert("minimum".into(), json!(1));
    }
}

fn compile(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(Draft::Draft4)
        .should_validate_formats(false)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// At most five readable reasons, then how many more.
fn describe(validator: &Validator, value: &Value) -> Vec<String> {
    if validator.is_valid(value) {
        return Vec::new();
    }
    let all: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { String::new() } else { format!("at {at} ") };
            shorten(&format!("{at}{e}"), 200)
        })
        .collect();
    let mut shown: Vec<String> = all.iter().take(5).cloned().collect();
    if all.len() > 5 {
        shown.push(format!("and {} more", all.len() - 5));
    }
    shown
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}…")
}

/// How an OpenAPI 3.0 schema becomes a JSON Schema.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// `nullable` as declared.
    Request,
    /// Objects refuse properties they do not declare (so the loopback cannot invent fields), and every value may be
    /// null: Pipedrive's descriptions mark few fields `nullable`, yet its responses carry null for every unset one
    /// (`deal_id` of an activity without a deal, `next_cursor` on the last page).
    Response,
}

/// Converts an OpenAPI 3.0 schema object to JSON Schema (draft 4, which 3.0's keywords follow): `nullable` becomes a
/// `null` type, `allOf` of plain objects is merged into one object (so `additionalProperties` can see all of its
/// properties), and documentation keywords are dropped.
pub(crate) fn to_json_schema(schema: &Value, strictness: Strictness) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "description" | "example" | "examples" | "title" | "nullable" | "readOnly" | "writeOnly"
            | "discriminator" | "xml" | "externalDocs" | "deprecated" => {}
            k if k.starts_with("x-") => {}
            "properties" => {
                let props = value
                    .as_object()
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), to_json_schema(v, strictness))).collect())
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(props));
            }
            "items" | "not" => {
                out.insert(key.clone(), to_json_schema(value, strictness));
            }
            "additionalProperties" if value.is_object() => {
                out.insert(key.clone(), to_json_schema(value, strictness));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let list = value.as_array().map(|l| l.iter().map(|v| to_json_schema(v, strictness)).collect());
                out.insert(key.clone(), Value::Array(list.unwrap_or_default()));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    merge_all_of(&mut out);
    let nullable = map.get("nullable").and_then(Value::as_bool).unwrap_or(false) || strictness == Strictness::Response;
    if strictness == Strictness::Response && out.contains_key("properties") && !out.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if nullable {
        allow_null(&mut out);
    }
    Value::Object(out)
}

/// Folds `allOf` branches that are plain object schemas into the schema itself.
fn merge_all_of(out: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = out.get("allOf") else {
        return;
    };
    let mergeable = |b: &Value| {
        b.as_object().is_some_and(|m| {
            m.keys().all(|k| matches!(k.as_str(), "type" | "properties" | "required" | "additionalProperties"))
        })
    };
    if !branches.iter().all(mergeable) {
        // `is_active: {allOf: [{type, enum, default}]}`: a single branch stands for the schema itself.
        if branches.len() == 1
            && let Some(Value::Object(only)) = branches.first().cloned()
        {
            out.remove("allOf");
            for (k, v) in only {
                out.entry(k).or_insert(v);
            }
        }
        return;
    }
    let branches = match out.remove("allOf") {
        Some(Value::Array(b)) => b,
        _ => return,
    };
    for branch in branches {
        let Value::Object(branch) = branch else { continue };
        for (k, v) in branch {
            match (k.as_str(), out.get_mut(&k)) {
                // A branch sees only its own properties; the merged object decides for all of them.
                ("additionalProperties", _) => {}
                ("properties", Some(Value::Object(props))) => {
                    if let Value::Object(more) = v {
                        props.extend(more);
                    }
                }
                ("required", Some(Value::Array(req))) => {
                    if let Value::Array(more) = v {
                        req.extend(more);
                    }
                }
                _ => {
                    out.insert(k, v);
                }
            }
        }
    }
}

fn allow_null(out: &mut Map<String, Value>) {
    match out.get_mut("type") {
        Some(Value::String(t)) => {
            let t = t.clone();
            if t != "null" {
                out.insert("type".into(), json!([t, "null"]));
            }
        }
        Some(Value::Array(ts)) => {
            if !ts.iter().any(|t| t == "null") {
                ts.push(json!("null"));
            }
        }
        _ => {
            // No `type` to widen (a bare `allOf`/`oneOf`): null becomes one more alternative.
            if out.keys().any(|k| matches!(k.as_str(), "allOf" | "anyOf" | "oneOf" | "enum")) {
                let inner = Value::Object(std::mem::take(out));
                out.insert("anyOf".into(), json!([{"type": "null"}, inner]));
            }
            return;
        }
    }
    if let Some(Value::Array(values)) = out.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

/// Decodes one `application/x-www-form-urlencoded` component; `None` when it is not UTF-8 or has a bad escape.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Splits a raw query string into decoded `(name, value)` pairs, or says which part cannot be decoded.
pub(crate) fn parse_query(query: &str) -> Result<Pairs, String> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        match (percent_decode(name), percent_decode(value)) {
            (Some(n), Some(v)) => pairs.push((n, v)),
            _ => return Err(format!("`{}` is not a well-formed query component", shorten(part, 60))),
        }
    }
    Ok(pairs)
}
