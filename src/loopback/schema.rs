//! Request-body validation against Discord's published OpenAPI description, read at runtime from a path.
//!
//! Documents and compiled validators are cached process-wide: tests start many loopbacks, and compiling one
//! route's schema (with the whole `components` section beside it) costs far more than validating a body.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value, json};

/// One reason a body is not acceptable, in the shape Discord reports it (`errors` tree of "Invalid Form Body").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issue {
    pub path: Vec<String>,
    pub code: String,
    pub message: String,
}

impl Issue {
    pub fn new(path: Vec<String>, code: &str, message: impl Into<String>) -> Issue {
        Issue { path, code: code.to_string(), message: message.into() }
    }

    pub fn pointer(&self) -> String {
        if self.path.is_empty() { "(root)".to_string() } else { format!("/{}", self.path.join("/")) }
    }
}

/// Discord's OpenAPI document, patched where the description is stricter than Discord itself.
pub(crate) struct Spec {
    path: PathBuf,
    doc: Value,
}

/// The compiled request-body validator of one operation.
struct Compiled {
    validator: Validator,
}

type Cell = Arc<OnceLock<Result<Option<Arc<Compiled>>, String>>>;

fn documents() -> &'static Mutex<HashMap<PathBuf, Arc<Spec>>> {
    static DOCS: OnceLock<Mutex<HashMap<PathBuf, Arc<Spec>>>> = OnceLock::new();
    DOCS.get_or_init(Default::default)
}

/// (document path, route template, lowercase method).
type Key = (PathBuf, String, String);

fn validators() -> &'static Mutex<HashMap<Key, Cell>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Cell>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

impl Spec {
    /// Reads and parses the document once per path for the whole process.
    pub fn load(path: &Path) -> std::io::Result<Arc<Spec>> {
        let key = path.canonicalize()?;
        if let Some(spec) = documents().lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(spec.clone());
        }
        let text = std::fs::read_to_string(&key)?;
        let mut doc: Value = serde_json::from_str(&text).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} is not JSON: {e}", key.display()))
        })?;
        if doc.pointer("/paths").and_then(Value::as_object).is_none()
            || doc.pointer("/components/schemas").and_then(Value::as_object).is_none()
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} has no `paths` or `components.schemas`: not an OpenAPI document", key.display()),
            ));
        }
        patch(&mut doc);
        let spec = Arc::new(Spec { path: key.clone(), doc });
        let mut docs = documents().lock().unwrap_or_else(PoisonError::into_inner);
        Ok(docs.entry(key).or_insert(spec).clone())
    }

    /// Validates `body` against the `application/json` request schema of `template` + `method`; an operation that
    /// declares no JSON body accepts any. Blocking: the first call for a route compiles its validator.
    pub fn validate(&self, template: &str, method: &str, body: &Value) -> Result<Vec<Issue>, String> {
        let key = (self.path.clone(), template.to_string(), method.to_ascii_lowercase());
        let cell = validators().lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().clone();
        let compiled = cell.get_or_init(|| self.compile(template, method)).clone()?;
        let Some(compiled) = compiled else {
            return Ok(Vec::new());
        };
        Ok(compiled.check(body))
    }

    fn operation(&self, template: &str, method: &str) -> Option<&Value> {
        self.doc.get("paths")?.get(template)?.get(method.to_ascii_lowercase())
    }

    fn compile(&self, template: &str, method: &str) -> Result<Option<Arc<Compiled>>, String> {
        let Some(op) = self.operation(template, method) else {
            return Err(format!("{method} {template} is not in the OpenAPI document"));
        };
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
            return Ok(None);
        };
        let mut root = match schema {
            Value::Object(map) => map.clone(),
            other => {
                let mut map = Map::new();
                map.insert("allOf".into(), json!([other]));
                map
            }
        };
        // `$ref`s point at `#/components/schemas/...`: putting the components beside the operation's schema lets
        // them resolve inside this one document, with no retrieval.
        root.insert("components".into(), self.doc.get("components").cloned().unwrap_or(Value::Null));
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .offline()
            .should_validate_formats(false)
            .build(&Value::Object(root))
            .map_err(|e| format!("compiling the schema of {method} {template}: {e}"))?;
        Ok(Some(Arc::new(Compiled { validator })))
    }
}

impl Compiled {
    fn check(&self, body: &Value) -> Vec<Issue> {
        if self.validator.is_valid(body) {
            return Vec::new();
        }
        self.validator.iter_errors(body).flat_map(|e| issues_of(&e)).collect()
    }
}

/// Flattens one error into issues, descending into `anyOf`/`oneOf` failures: Discord's description wraps most
/// fields in `oneOf: [null, X]` and components in `oneOf` over kinds, where the useful errors sit inside the closest
/// branch, not on the union.
fn issues_of(error: &jsonschema::ValidationError<'_>) -> Vec<Issue> {
    use jsonschema::error::ValidationErrorKind as Kind;
    if let Kind::AnyOf { context } | Kind::OneOfNotValid { context } = error.kind() {
        let here: Vec<String> = error.instance_path().segments().map(|s| s.to_string()).collect();
        let closest = context.iter().filter(|b| !b.is_empty()).min_by_key(|branch| {
            // A branch that rejects the value's kind (its JSON type, or the `type` discriminator field) is
            // the wrong branch rather than a near miss.
            let wrong_kind = branch.iter().any(|e| {
                let path: Vec<String> = e.instance_path().segments().map(|s| s.to_string()).collect();
                let discriminator =
                    path.len() == here.len() + 1 && path.starts_with(&here) && path[here.len()] == "type";
                (path == here && matches!(e.kind(), Kind::Type { .. })) || discriminator
            });
            branch.len() + if wrong_kind { 1000 } else { 0 }
        });
        if let Some(branch) = closest {
            return branch.iter().flat_map(|e| issues_of(e)).collect();
        }
    }
    vec![issue_of(error)]
}

fn issue_of(error: &jsonschema::ValidationError<'_>) -> Issue {
    let path = error.instance_path().segments().map(|s| s.to_string()).collect();
    let code = match error.kind().keyword() {
        "maxLength" | "maxItems" | "maxProperties" => "BASE_TYPE_MAX_LENGTH".to_string(),
        "minLength" | "minItems" | "minProperties" => "BASE_TYPE_MIN_LENGTH".to_string(),
        "required" => "BASE_TYPE_REQUIRED".to_string(),
        "type" => "BASE_TYPE_BAD_TYPE".to_string(),
        "enum" | "const" => "BASE_TYPE_CHOICES".to_string(),
        "maximum" | "exclusiveMaximum" => "NUMBER_TYPE_MAX".to_string(),
        "minimum" | "exclusiveMinimum" => "NUMBER_TYPE_MIN".to_string(),
        other => format!("SCHEMA_{}", other.to_ascii_uppercase()),
    };
    // Messages quote the offending value, which may be thousands of characters long.
    let mut message = error.to_string();
    let instance = error.instance().to_string();
    if instance.chars().count() > 60 {
        message = message.replacen(&instance, &shorten(&instance, 40), 1);
    }
    Issue { path, code, message: shorten(&message, 200) }
}

pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}…")
}

/// Where the published description is stricter than Discord itself:
/// - permission bitfields: Discord documents and accepts them as strings (serenity and our manifests send
///   `"default_member_permissions": "32"`); the description types them as integers;
/// - attachment ids in message bodies: they are indexes of the uploaded `files[n]`, which Discord documents (and
///   serenity sends) as integers; the description demands snowflake strings.
fn patch(doc: &mut Value) {
    const BITFIELDS: [&str; 4] = ["default_member_permissions", "permissions", "allow", "deny"];
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(id) = schemas.get_mut("MessageAttachmentRequest").and_then(|s| s.pointer_mut("/properties/id")) {
        let original = id.take();
        *id = json!({"anyOf": [original, {"type": "integer", "minimum": 0, "maximum": 9}]});
    }
    for schema in schemas.values_mut() {
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for name in BITFIELDS {
            let Some(prop) = props.get_mut(name) else {
                continue;
            };
            let integer = match prop.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            if integer {
                let original = prop.take();
                *prop =
                    json!({"anyOf": [original, {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "maxLength": 20}]});
            }
        }
    }
}

/// Renders issues as Discord's `errors` tree: `{"content": {"_errors": [{"code", "message"}]}}`.
pub(crate) fn errors_tree(issues: &[Issue]) -> Value {
    let mut root = Map::new();
    for issue in issues {
        insert_issue(&mut root, &issue.path, issue);
    }
    Value::Object(root)
}

fn insert_issue(node: &mut Map<String, Value>, path: &[String], issue: &Issue) {
    match path.split_first() {
        Some((segment, rest)) => {
            let entry = node.entry(segment.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(child) = entry {
                insert_issue(child, rest, issue);
            }
        }
        None => {
            let errors = node.entry("_errors").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = errors {
                list.push(json!({"code": issue.code, "message": issue.message}));
            }
        }
    }
}
