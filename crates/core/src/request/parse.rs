//! JSON body -> [`BuildRequest`], walking the document by hand so that every error names
//! the JSON path of the field at fault (`plugins[2].tag`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::strict_json::{self, ReadError};
use super::validate::{self, MAX_BODY_BYTES, MAX_DIRECTIVES, MAX_PLUGINS};
use super::{BuildRequest, Exclude, Platform, Plugin, Replace};
use crate::error::{Error, Result};

const TOP_LEVEL: &[&str] = &[
    "request_id",
    "target_platform",
    "rr_version",
    "plugins",
    "force_rebuild",
    "replaces",
    "excludes",
    "race",
    "debug",
];

pub(super) fn parse(json: &[u8]) -> Result<BuildRequest> {
    if json.len() > MAX_BODY_BYTES {
        return Err(Error::request(
            "body",
            format!("larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    let doc = strict_json::from_slice(json).map_err(|e| match e {
        ReadError::Duplicate(path) => Error::request(path, "appears twice"),
        ReadError::Syntax(e) => Error::request("body", format!("not valid JSON: {e}")),
    })?;
    let Value::Object(top) = doc else {
        return Err(Error::request("body", "must be a JSON object"));
    };
    only_known(&top, "", TOP_LEVEL)?;

    let request_id = match optional(&top, "request_id") {
        None => None,
        Some(v) => {
            let id = string(v, "request_id")?;
            if id.is_empty() {
                None
            } else {
                check("request_id", validate::uuid(id))?;
                Some(id.to_owned())
            }
        }
    };

    let rr_version = string(required(&top, "rr_version", "")?, "rr_version")?;
    check("rr_version", validate::rr_version(rr_version))?;

    let platform = object(required(&top, "target_platform", "")?, "target_platform")?;
    only_known(platform, "target_platform", &["os", "arch"])?;
    let os = string(
        required(platform, "os", "target_platform")?,
        "target_platform.os",
    )?;
    check("target_platform.os", validate::goos(os))?;
    let arch = string(
        required(platform, "arch", "target_platform")?,
        "target_platform.arch",
    )?;
    check("target_platform.arch", validate::goarch(os, arch))?;

    let plugins = plugins(required(&top, "plugins", "")?)?;
    let replaces = replaces(optional(&top, "replaces"))?;
    let excludes = excludes(optional(&top, "excludes"))?;

    Ok(BuildRequest {
        request_id,
        target_platform: Platform {
            os: os.to_owned(),
            arch: arch.to_owned(),
        },
        rr_version: rr_version.to_owned(),
        plugins,
        force_rebuild: flag(&top, "force_rebuild")?,
        replaces,
        excludes,
        race: flag(&top, "race")?,
        debug: flag(&top, "debug")?,
    })
}

fn plugins(value: &Value) -> Result<Vec<Plugin>> {
    let items = array(value, "plugins", MAX_PLUGINS)?;
    if items.is_empty() {
        return Err(Error::request("plugins", "at least one plugin is required"));
    }
    let mut seen = BTreeSet::new();
    let fields = [
        ("module_name", validate::module_path as Rule),
        ("tag", validate::tag),
    ];
    entries(items, "plugins", fields, |path, module, tag| {
        if !seen.insert(module) {
            let reason = format!("module {module:?} is listed twice");
            return Err(Error::request(format!("{path}.module_name"), reason));
        }
        Ok(Plugin {
            module_name: module.to_owned(),
            tag: tag.to_owned(),
        })
    })
}

fn replaces(value: Option<&Value>) -> Result<Vec<Replace>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = array(value, "replaces", MAX_DIRECTIVES)?;
    let mut seen = BTreeSet::new();
    let fields = [
        ("old", validate::replace_old as Rule),
        ("new", validate::replace_new),
    ];
    entries(items, "replaces", fields, |path, old, new| {
        // Velox refuses two replaces of the same `old`; so do we, before the round trip.
        if !seen.insert(old) {
            let reason = format!("{old:?} is replaced twice");
            return Err(Error::request(format!("{path}.old"), reason));
        }
        Ok(Replace {
            old: old.to_owned(),
            new: new.to_owned(),
        })
    })
}

fn excludes(value: Option<&Value>) -> Result<Vec<Exclude>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = array(value, "excludes", MAX_DIRECTIVES)?;
    let mut seen = BTreeSet::new();
    let fields = [
        ("module", validate::module_path as Rule),
        ("version", validate::exact_version),
    ];
    entries(items, "excludes", fields, |path, module, version| {
        if !seen.insert((module, version)) {
            let reason = format!("{module}@{version} is excluded twice");
            return Err(Error::request(path, reason));
        }
        Ok(Exclude {
            module: module.to_owned(),
            version: version.to_owned(),
        })
    })
}

type Rule = fn(&str) -> std::result::Result<(), String>;

/// A list of objects with two string fields, such as `plugins`. Each entry's fields are
/// read and checked in turn, then `take` checks the entry against the ones before it,
/// so the fault named is always the first one in the document.
fn entries<'a, T>(
    items: &'a [Value],
    list: &str,
    [(a, a_rule), (b, b_rule)]: [(&str, Rule); 2],
    mut take: impl FnMut(String, &'a str, &'a str) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("{list}[{i}]");
        let obj = object(item, &path)?;
        only_known(obj, &path, &[a, b])?;
        let field = |name: &str, rule: Rule| -> Result<&'a str> {
            let at = format!("{path}.{name}");
            let value = string(required(obj, name, &path)?, &at)?;
            check(&at, rule(value))?;
            Ok(value)
        };
        let a = field(a, a_rule)?;
        let b = field(b, b_rule)?;
        out.push(take(path, a, b)?);
    }
    Ok(out)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn only_known(obj: &Map<String, Value>, parent: &str, known: &[&str]) -> Result<()> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(Error::request(join(parent, unknown), "unknown field")),
        None => Ok(()),
    }
}

/// A present, non-null value.
fn optional<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Map<String, Value>, name: &str, parent: &str) -> Result<&'a Value> {
    optional(obj, name).ok_or_else(|| Error::request(join(parent, name), "is required"))
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str> {
    value
        .as_str()
        .ok_or_else(|| Error::request(field, "must be a string"))
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Error::request(field, "must be an object"))
}

fn array<'a>(value: &'a Value, field: &str, max: usize) -> Result<&'a Vec<Value>> {
    let items = value
        .as_array()
        .ok_or_else(|| Error::request(field, "must be an array"))?;
    if items.len() > max {
        return Err(Error::request(field, format!("more than {max} entries")));
    }
    Ok(items)
}

fn flag(obj: &Map<String, Value>, name: &str) -> Result<bool> {
    match optional(obj, name) {
        None => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| Error::request(name, "must be true or false")),
    }
}

fn check(field: &str, rule: std::result::Result<(), String>) -> Result<()> {
    rule.map_err(|reason| Error::request(field, reason))
}
