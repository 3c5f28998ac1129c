//! Clerk's published OpenAPI documents (Backend API, Frontend API, webhooks;
//! `../shared/clerk-openapi/` from the project root, never copied in) as JSON Schema
//! validators: OpenAPI 3.0's `nullable` and boolean `exclusiveMinimum`/`exclusiveMaximum`
//! become their JSON Schema equivalents, and `$ref`s resolve inside the loaded document's
//! `components`.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::OnceLock;

pub const BAPI: &str = "bapi-2026-05-12.yml";
pub const WEBHOOKS: &str = "webhooks-2025-04-15.yml";
pub const FAPI: &str = "fapi-2026-05-12.yml";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clerk-openapi")
}

/// The document, converted, loaded once per test process.
pub fn document(name: &'static str) -> &'static Value {
    static BAPI_DOC: OnceLock<Value> = OnceLock::new();
    static WEBHOOKS_DOC: OnceLock<Value> = OnceLock::new();
    static FAPI_DOC: OnceLock<Value> = OnceLock::new();
    let cell = match name {
        BAPI => &BAPI_DOC,
        WEBHOOKS => &WEBHOOKS_DOC,
        FAPI => &FAPI_DOC,
        other => panic!("unknown document {other}"),
    };
    cell.get_or_init(|| {
        let path = dir().join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (Clerk's OpenAPI documents live in ../shared/clerk-openapi/)", path.display())
        });
        let mut doc: Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML we can read: {e}", path.display()));
        to_json_schema(&mut doc);
        doc
    })
}

/// OpenAPI 3.0 schema dialect → JSON Schema 2020-12, in place.
fn to_json_schema(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(to_json_schema),
        Value::Object(o) => {
            o.values_mut().for_each(to_json_schema);
            for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
                if let Some(Value::Bool(b)) = o.get(flag).cloned() {
                    o.remove(flag);
                    if b {
                        if let Some(n) = o.remove(bound) {
                            o.insert(flag.into(), n);
                        }
                    }
                }
            }
            if o.get("nullable") == Some(&Value::Bool(true)) {
                o.remove("nullable");
                let inner = Value::Object(std::mem::take(o));
                o.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            }
        }
        _ => {}
    }
}

/// The operation `method path` of the Backend API document (`path` as the document writes it).
pub fn operation(method: &str, path: &str) -> Option<&'static Value> {
    document(BAPI)["paths"].get(path)?.get(method.to_ascii_lowercase())
}

/// The 200 response schema of an operation, `$ref`s to `#/components/responses` followed.
pub fn response_schema(op: &Value) -> Value {
    response_schema_in(BAPI, op)
}

/// The operation `method path` of the Frontend API document (`path` as it writes it: `/v1/…`).
pub fn fapi_operation(method: &str, path: &str) -> Option<&'static Value> {
    document(FAPI)["paths"].get(path)?.get(method.to_ascii_lowercase())
}

/// [`response_schema`] for an operation of document `doc`.
pub fn response_schema_in(doc: &'static str, op: &Value) -> Value {
    let mut resp = &op["responses"]["200"];
    if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/responses/").expect("a response reference");
        resp = &document(doc)["components"]["responses"][name];
    }
    resp["content"]["application/json"]["schema"].clone()
}

/// `schema` with the document's `components` beside it, so `#/components/...` resolves.
pub fn validator(doc: &'static str, schema: &Value) -> jsonschema::Validator {
    let mut root = match schema {
        Value::Object(o) => o.clone(),
        other => panic!("not a schema object: {other}"),
    };
    root.insert("components".into(), document(doc)["components"].clone());
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("the schema does not compile: {e}"))
}

/// Every violation of `instance` against `schema`, one readable line each; empty when valid.
pub fn violations(doc: &'static str, schema: &Value, instance: &Value) -> Vec<String> {
    let v = validator(doc, schema);
    v.iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().to_string();
            let line = format!("at {}: {}", if at.is_empty() { "/" } else { &at }, e);
            // `oneOf`/`anyOf` failures print the whole instance.
            truncate(&line, 400)
        })
        .collect()
}

/// Panics with every violation, naming `what`.
pub fn assert_valid(doc: &'static str, what: &str, schema: &Value, instance: &Value) {
    let errs = violations(doc, schema, instance);
    assert!(
        errs.is_empty(),
        "{what}: the response does not match Clerk's published schema ({doc}):\n  {}\n\nresponse: {}",
        errs.join("\n  "),
        truncate(&instance.to_string(), 2000)
    );
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// A named component schema as a `$ref` (for webhook payloads and spot checks).
pub fn component(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}
