//! The module information text Go writes into a binary (`go version -m` prints it):
//! tab-separated lines `path`, `mod` (the main module), `dep <path> <version> <sum>`,
//! `=> <path> <version> <sum>` (the replacement of the module on the line before) and
//! `build <key>=<value>` (GOOS, GOARCH, CGO_ENABLED, -race, -trimpath ...).

use serde::{Deserialize, Serialize};

use super::ReadError;

/// Lines beyond this are not a real module list (RoadRunner has a few hundred).
const MAX_LINES: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Module {
    pub path: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<Replacement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    pub path: String,
    /// Empty for a replacement by a directory.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModInfo {
    /// The main package's import path.
    pub path: String,
    pub main: Option<Module>,
    pub deps: Vec<Module>,
    /// `build` lines in order; quoted values are unquoted.
    pub settings: Vec<(String, String)>,
}

impl ModInfo {
    pub fn parse(text: &str) -> Result<ModInfo, ReadError> {
        let mut info = ModInfo::default();
        // The module the next `=>` line replaces: the `mod` or `dep` line just before.
        let mut last: Option<Last> = None;
        for (n, line) in text.lines().enumerate() {
            if n >= MAX_LINES {
                return Err(ReadError::Malformed(
                    "module information has too many lines".into(),
                ));
            }
            let bad = |why: &str| {
                ReadError::Malformed(format!("module information line {}: {why}", n + 1))
            };
            let (kind, rest) = line.split_once('\t').unwrap_or((line, ""));
            match kind {
                "path" => info.path = rest.to_owned(),
                "mod" | "dep" => {
                    let cols: Vec<&str> = rest.split('\t').collect();
                    if !(2..=3).contains(&cols.len()) {
                        return Err(bad("expected 2 or 3 columns"));
                    }
                    let module = Module {
                        path: cols[0].to_owned(),
                        version: cols[1].to_owned(),
                        replace: None,
                    };
                    if kind == "mod" {
                        info.main = Some(module);
                        last = Some(Last::Main);
                    } else {
                        info.deps.push(module);
                        last = Some(Last::Dep);
                    }
                }
                "=>" => {
                    let cols: Vec<&str> = rest.split('\t').collect();
                    if cols.len() != 3 {
                        return Err(bad("expected 3 columns for a replacement"));
                    }
                    let target = match last.take() {
                        Some(Last::Main) => info.main.as_mut(),
                        Some(Last::Dep) => info.deps.last_mut(),
                        None => None,
                    };
                    let target =
                        target.ok_or_else(|| bad("replacement with no module before it"))?;
                    target.replace = Some(Replacement {
                        path: cols[0].to_owned(),
                        version: cols[1].to_owned(),
                    });
                }
                "build" => {
                    // Keys that need quoting (none that we check) are kept as written.
                    let (key, value) = rest
                        .split_once('=')
                        .ok_or_else(|| bad("build line without `=`"))?;
                    info.settings.push((key.to_owned(), unquote(value)));
                }
                // Lines of kinds a newer Go may add are not ours to refuse.
                _ => {}
            }
        }
        Ok(info)
    }

    /// The value of a `build` setting (the last one, as Go reads them).
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The main module and the dependencies, main first.
    pub fn modules(&self) -> impl Iterator<Item = &Module> {
        self.main.iter().chain(&self.deps)
    }

    pub fn module(&self, path: &str) -> Option<&Module> {
        self.modules().find(|m| m.path == path)
    }
}

enum Last {
    Main,
    Dep,
}

/// Go quotes a value with spaces or quotes in it (`-ldflags="-s -w"`); only for display.
fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_modules_replacements_and_settings() {
        let text = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
                    dep\tgithub.com/a/b\tv1.2.3\th1:x=\n=>\tgithub.com/c/d\tv1.0.0\th1:y=\n\
                    dep\tgithub.com/e/f\tv0.1.0\th1:z=\n=>\t../local\t\t\n\
                    build\t-ldflags=\"-s -w\"\nbuild\tGOOS=linux\nbuild\tGOARCH=amd64\n";
        let info = ModInfo::parse(text).unwrap();
        assert_eq!(info.path, "example.com/app");
        assert_eq!(info.main.as_ref().unwrap().version, "(devel)");
        assert_eq!(info.deps.len(), 2);
        let b = info.module("github.com/a/b").unwrap();
        assert_eq!(b.replace.as_ref().unwrap().path, "github.com/c/d");
        let f = info.module("github.com/e/f").unwrap();
        assert_eq!(f.replace.as_ref().unwrap().version, "");
        assert_eq!(info.setting("GOOS"), Some("linux"));
        assert_eq!(info.setting("-ldflags"), Some("-s -w"));
    }

    #[test]
    fn a_replacement_without_a_module_is_refused() {
        assert!(ModInfo::parse("=>\ta\tv1\th\n").is_err());
        assert!(ModInfo::parse("dep\ta\tv1\nbuild\tnoequals\n").is_err());
    }
}
