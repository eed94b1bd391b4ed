//! The request as Velox's Connect endpoint wants it: protobuf JSON of
//! `api.request.v1.BuildRequest`, with proto3 JSON (lowerCamelCase) field names.

use serde_json::{json, Map, Value};

use super::BuildRequest;

pub(super) fn to_velox_json(req: &BuildRequest) -> Value {
    let mut body = Map::new();
    if let Some(id) = &req.request_id {
        body.insert("requestId".into(), json!(id));
    }
    body.insert("rrVersion".into(), json!(req.rr_version));
    // proto3 JSON omits default values; Velox reads absence as false / empty.
    if req.force_rebuild {
        body.insert("forceRebuild".into(), json!(true));
    }
    body.insert(
        "targetPlatform".into(),
        json!({ "os": req.target_platform.os, "arch": req.target_platform.arch }),
    );
    let plugins: Vec<Value> = req
        .plugins
        .iter()
        .map(|p| json!({ "moduleName": p.module_name, "tag": p.tag }))
        .collect();
    body.insert("plugins".into(), Value::Array(plugins));
    insert_list(
        &mut body,
        "replaces",
        &req.replaces,
        |r| json!({ "new": r.new, "old": r.old }),
    );
    insert_list(
        &mut body,
        "excludes",
        &req.excludes,
        |e| json!({ "module": e.module, "version": e.version }),
    );
    if req.race {
        body.insert("race".into(), json!(true));
    }
    if req.debug {
        body.insert("debug".into(), json!(true));
    }
    Value::Object(body)
}

fn insert_list<T>(
    body: &mut Map<String, Value>,
    name: &str,
    items: &[T],
    to_json: fn(&T) -> Value,
) {
    if !items.is_empty() {
        body.insert(name.into(), items.iter().map(to_json).collect());
    }
}
