//! Field rules: what Velox accepts, and nothing that could make two requests share a key.
//!
//! Every rule returns the reason as text; the parser adds the JSON path of the field.
//! The character sets below never contain `|`, `@` (except where a rule splits on it),
//! whitespace or control characters, which is what keeps the cache key unambiguous.

/// Largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most plugins in one request.
pub(crate) const MAX_PLUGINS: usize = 100;
/// Most entries in `replaces`, and separately in `excludes`.
pub(crate) const MAX_DIRECTIVES: usize = 100;
/// Longest string accepted in any field, in bytes.
pub(crate) const MAX_STRING_BYTES: usize = 256;

/// Every `GOOS/GOARCH` pair of `go tool dist list` (Go 1.26).
const TARGETS: &[(&str, &str)] = &[
    ("aix", "ppc64"),
    ("android", "386"),
    ("android", "amd64"),
    ("android", "arm"),
    ("android", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("dragonfly", "amd64"),
    ("freebsd", "386"),
    ("freebsd", "amd64"),
    ("freebsd", "arm"),
    ("freebsd", "arm64"),
    ("illumos", "amd64"),
    ("ios", "amd64"),
    ("ios", "arm64"),
    ("js", "wasm"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "loong64"),
    ("linux", "mips"),
    ("linux", "mips64"),
    ("linux", "mips64le"),
    ("linux", "mipsle"),
    ("linux", "ppc64"),
    ("linux", "ppc64le"),
    ("linux", "riscv64"),
    ("linux", "s390x"),
    ("netbsd", "386"),
    ("netbsd", "amd64"),
    ("netbsd", "arm"),
    ("netbsd", "arm64"),
    ("openbsd", "386"),
    ("openbsd", "amd64"),
    ("openbsd", "arm"),
    ("openbsd", "arm64"),
    ("openbsd", "ppc64"),
    ("openbsd", "riscv64"),
    ("plan9", "386"),
    ("plan9", "amd64"),
    ("plan9", "arm"),
    ("solaris", "amd64"),
    ("wasip1", "wasm"),
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
];

/// Rules shared by every string: bounded, printable ASCII without spaces.
pub fn plain(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_STRING_BYTES {
        return Err(format!("longer than {MAX_STRING_BYTES} bytes"));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "contains {c:?}: whitespace, control and non-ASCII characters are not allowed"
        ));
    }
    if s.contains('|') {
        return Err("contains '|', the cache key separator".into());
    }
    Ok(())
}

pub fn goos(os: &str) -> Result<(), String> {
    plain(os)?;
    if TARGETS.iter().any(|(o, _)| *o == os) {
        Ok(())
    } else {
        Err(format!("{os:?} is not a GOOS known to Go"))
    }
}

/// Checks `arch` alone, then the pair against `go tool dist list`.
pub fn goarch(os: &str, arch: &str) -> Result<(), String> {
    plain(arch)?;
    if !TARGETS.iter().any(|(_, a)| *a == arch) {
        return Err(format!("{arch:?} is not a GOARCH known to Go"));
    }
    if !TARGETS.contains(&(os, arch)) {
        return Err(format!("Go cannot build for {os}/{arch}"));
    }
    Ok(())
}

/// `vX.Y.Z` with an optional semver prerelease and build, `master`, or a commit hash:
/// Velox's `^(v\d+\.\d+\.\d+.*|master|[a-f0-9]{7,40})$`, with the `.*` narrowed to semver.
pub fn rr_version(v: &str) -> Result<(), String> {
    version_or(v, "master")
}

/// A plugin's tag: a semver version, `latest` or a commit hash.
pub fn tag(t: &str) -> Result<(), String> {
    version_or(t, "latest")
}

/// A semver version, a commit hash or the one branch-like `word` the field allows.
fn version_or(v: &str, word: &str) -> Result<(), String> {
    plain(v)?;
    if v == word || commit(v) || semver(v) {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a version (vX.Y.Z[-pre][+build]), {word:?} or a 7-40 hex commit hash"
        ))
    }
}

/// A version in a go.mod directive where only a canonical version makes sense.
pub fn exact_version(v: &str) -> Result<(), String> {
    plain(v)?;
    if semver(v) {
        Ok(())
    } else {
        Err(format!("{v:?} is not a version (vX.Y.Z[-pre][+build])"))
    }
}

/// 7 to 40 lowercase hex digits.
fn commit(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `v` MAJOR.MINOR.PATCH, then optionally `-` prerelease and `+` build, each a non-empty
/// dot-separated list of non-empty `[0-9A-Za-z-]` identifiers (semver 2.0 grammar; leading
/// zeros are tolerated as Velox's own pattern does).
fn semver(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let (rest, build) = match rest.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (rest, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let idents_ok = |part: &str| {
        part.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(idents_ok)
        && build.is_none_or(idents_ok)
}

/// A UUID in its 8-4-4-4-12 hex form (either case), as protovalidate's `string.uuid`.
pub fn uuid(s: &str) -> Result<(), String> {
    let groups: Vec<&str> = s.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a UUID"))
    }
}

/// Go's module path rules (golang.org/x/mod/module.CheckPath): slash-separated elements
/// of `[A-Za-z0-9._~-]`, none empty, `.`/`..`, starting or ending with a dot, a Windows
/// reserved name or a `~digits` short name; the first element a lowercase host name with
/// a dot; a trailing `/vN` major version with N >= 2 and no leading zero.
pub fn module_path(p: &str) -> Result<(), String> {
    plain(p)?;
    if p.starts_with('/') || p.ends_with('/') {
        return Err("must not begin or end with '/'".into());
    }
    let elems: Vec<&str> = p.split('/').collect();
    for elem in &elems {
        element(elem)?;
    }
    let first = elems[0];
    if !first.contains('.') {
        return Err(format!(
            "first path element {first:?} must be a host name with a dot"
        ));
    }
    if first.starts_with('-') {
        return Err(format!("first path element {first:?} begins with '-'"));
    }
    if let Some(c) = first
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!(
            "first path element {first:?} contains {c:?} (only a-z, 0-9, '.', '-')"
        ));
    }
    if elems.len() > 1 {
        let last = elems[elems.len() - 1];
        if let Some(n) = last.strip_prefix('v') {
            if !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && (n.starts_with('0') || n == "1")
            {
                return Err(format!(
                    "major version suffix {last:?} must be /v2 or later"
                ));
            }
        }
    }
    Ok(())
}

fn element(elem: &str) -> Result<(), String> {
    if elem.is_empty() {
        return Err("has an empty path element ('//')".into());
    }
    if let Some(c) = elem
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')))
    {
        return Err(format!("path element {elem:?} contains {c:?}"));
    }
    if elem.starts_with('.') || elem.ends_with('.') {
        return Err(format!(
            "path element {elem:?} begins or ends with a dot ('..' is not allowed)"
        ));
    }
    let stem = elem.split('.').next().unwrap_or(elem);
    const RESERVED: &[&str] = &[
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Err(format!("path element {elem:?} is a reserved Windows name"));
    }
    if let Some((_, tail)) = stem.rsplit_once('~') {
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "path element {elem:?} looks like a Windows short name (~N)"
            ));
        }
    }
    Ok(())
}

/// `module` or `module@version` (the left side of a go.mod `replace`).
pub fn replace_old(s: &str) -> Result<(), String> {
    plain(s)?;
    match s.split_once('@') {
        Some((m, v)) => {
            module_path(m)?;
            exact_version(v)
        }
        None => module_path(s),
    }
}

/// `module@version` or a local path `./x`, `../x`, `/x` (the right side of a `replace`;
/// Velox forbids `@` in local paths). Local paths use `[A-Za-z0-9._~/+,-]` only.
pub fn replace_new(s: &str) -> Result<(), String> {
    plain(s)?;
    if s.starts_with("./") || s.starts_with("../") || s.starts_with('/') {
        if let Some(c) = s.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '/' | '+' | ',' | '-'))
        }) {
            return Err(format!("local path contains {c:?}"));
        }
        return Ok(());
    }
    match s.split_once('@') {
        Some((m, v)) => {
            module_path(m)?;
            tag(v)
        }
        None => Err("must be module@version or a local path (./, ../ or /)".into()),
    }
}
