//! The command line of `velox-cache`, parsed by hand (five commands, a few options: a
//! parser crate would cost more build time than it saves).

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: velox-cache [options] <command>

commands:
  stats            entries, bytes and problems against the configured limits
  ls               entries in eviction order (first = what would go next)
  verify           check sizes and look for orphans; --content also hashes every binary;
                   --provenance checks every binary's Go build information against
                   the request its metadata describes
  inspect KEY      one entry's metadata, with the provenance recorded when it was verified
  prune            apply the age, size and count limits now
  rm KEY           remove one entry
  remote-ls        the shared remote tier (cache.remote in --config): keys, sizes, ages
  remote-verify    hash every remote binary against its sha256 metadata
  remote-prune     delete remote keys older than --max-age-days (lifecycle rules are
                   the usual way; see README)

options:
  --dir DIR            the cache directory (cache.directory)
  --config FILE        the `velox:` section of .rr.yaml as JSON (or {\"velox\": {...}});
                       only its `cache` keys are used; the options below override them
  --policy P           lru, lfu or fifo (cache.eviction_policy)
  --max-size-gb F      cache.max_size_gb (0 = unlimited)
  --max-entries N      cache.max_entries (0 = unlimited)
  --max-age-days N     cache.max_age_days (0 = never expire)
  --json               machine-readable output
  -h, --help           this text

Safe next to a running RoadRunner using the same directory: stats, ls and verify only
read (so does inspect); prune and rm use the library's cache code and its commit protocol.";

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Stats,
    Ls,
    Verify {
        content: bool,
        provenance: bool,
    },
    Inspect {
        key: String,
    },
    Prune,
    Rm {
        key: String,
    },
    /// `remote-ls`, `remote-verify`, `remote-prune` (`cli::remote`).
    RemoteLs,
    RemoteVerify,
    RemotePrune,
    Help,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    pub dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub policy: Option<String>,
    pub max_size_gb: Option<f64>,
    pub max_entries: Option<u64>,
    pub max_age_days: Option<u64>,
    pub json: bool,
}

/// `Err` is a usage error, printed with the usage text.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<(Command, Options), String> {
    let mut opts = Options::default();
    let mut words = Vec::new();
    let mut content = false;
    let mut provenance = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok((Command::Help, opts)),
            "--json" => opts.json = true,
            "--content" => content = true,
            "--provenance" => provenance = true,
            "--dir" => opts.dir = Some(value("--dir")?.into()),
            "--config" => opts.config = Some(value("--config")?.into()),
            "--policy" => opts.policy = Some(value("--policy")?),
            "--max-size-gb" => {
                opts.max_size_gb = Some(number(&value("--max-size-gb")?, "--max-size-gb")?)
            }
            "--max-entries" => {
                opts.max_entries = Some(number(&value("--max-entries")?, "--max-entries")?)
            }
            "--max-age-days" => {
                opts.max_age_days = Some(number(&value("--max-age-days")?, "--max-age-days")?)
            }
            f if f.starts_with('-') => return Err(format!("unknown option {f}")),
            _ => words.push(arg),
        }
    }
    let mut words = words.into_iter();
    let command = match words.next().as_deref() {
        None => return Err("no command given".into()),
        Some("stats") => Command::Stats,
        Some("ls") => Command::Ls,
        Some("verify") => Command::Verify {
            content,
            provenance,
        },
        Some("inspect") => Command::Inspect {
            key: words.next().ok_or("inspect needs a KEY")?,
        },
        Some("prune") => Command::Prune,
        Some("rm") => Command::Rm {
            key: words.next().ok_or("rm needs a KEY")?,
        },
        Some("remote-ls") => Command::RemoteLs,
        Some("remote-verify") => Command::RemoteVerify,
        Some("remote-prune") => Command::RemotePrune,
        Some(other) => return Err(format!("unknown command {other:?}")),
    };
    if (content || provenance) && !matches!(command, Command::Verify { .. }) {
        return Err("--content and --provenance only go with verify".into());
    }
    if let Some(extra) = words.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    Ok((command, opts))
}

fn number<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{name}: {s:?} is not a valid number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<(Command, Options), String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_go_anywhere_and_take_inline_values() {
        let (cmd, o) = p(&["ls", "--dir=/c", "--json", "--max-entries", "3"]).unwrap();
        assert_eq!(cmd, Command::Ls);
        assert_eq!(o.dir, Some("/c".into()));
        assert_eq!(o.max_entries, Some(3));
        assert!(o.json);
    }

    #[test]
    fn usage_errors_name_the_problem() {
        assert!(p(&[]).unwrap_err().contains("no command"));
        assert!(p(&["rm"]).unwrap_err().contains("KEY"));
        assert!(p(&["ls", "--content"]).unwrap_err().contains("verify"));
        assert!(p(&["ls", "--max-entries", "x"])
            .unwrap_err()
            .contains("--max-entries"));
        assert!(p(&["frob"]).unwrap_err().contains("frob"));
    }
}
