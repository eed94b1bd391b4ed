//! Executables that carry Go build information, for the fakes that answer builds: a
//! minimal ELF64 with a `.go.buildinfo` section in Go's 1.18+ inline format (what `go
//! version -m` reads), then a payload that tells builds apart. Nothing runs them; the
//! engine only reads their build information.

use velox_core::BuildRequest;

/// One `dep` line, with its `=>` replacement (path, version; version empty for a
/// directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub path: String,
    pub version: String,
    pub replace: Option<(String, String)>,
}

/// The build information of a fake executable, and what follows it in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoExe {
    pub go_version: String,
    /// The `mod` line: path and version.
    pub main: (String, String),
    pub deps: Vec<Dep>,
    /// `build` lines, in order.
    pub settings: Vec<(String, String)>,
    pub payload: Vec<u8>,
    /// Pad the file to this many bytes (deterministic filler), if it is smaller.
    pub size: Option<usize>,
}

/// The pseudo-version a fake gives a branch or commit tag: the commit's hex (or zeros)
/// as the revision.
pub fn pseudo_version(tag: &str) -> String {
    let hex = tag.bytes().all(|b| b.is_ascii_hexdigit()) && tag.len() >= 7;
    let rev: String = if hex {
        format!("{tag:0<12}")[..12].to_ascii_lowercase()
    } else {
        "000000000000".into()
    };
    format!("v0.0.0-20260101000000-{rev}")
}

fn is_semver(tag: &str) -> bool {
    let core = tag
        .strip_prefix('v')
        .unwrap_or("")
        .split(['-', '+'])
        .next()
        .unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn split_at_version(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (s, None),
    }
}

impl GoExe {
    /// What a build server that honours every field of `req` builds: RoadRunner's own
    /// module at `rr_version` as the main module, each plugin at its tag (a branch or
    /// commit as a pseudo-version), each replace as `=>`, the platform and `-race`.
    pub fn for_request(req: &BuildRequest) -> GoExe {
        let mut exe = GoExe::ignoring_new_fields(req);
        for r in &req.replaces {
            let (old, old_version) = split_at_version(&r.old);
            let (new, new_version) = split_at_version(&r.new);
            let is_dir =
                r.new.starts_with("./") || r.new.starts_with("../") || r.new.starts_with('/');
            let replace = if is_dir {
                (r.new.clone(), String::new())
            } else {
                (new.to_owned(), new_version.unwrap_or("").to_owned())
            };
            match exe.deps.iter_mut().find(|d| d.path == old) {
                Some(dep) => dep.replace = Some(replace),
                None => exe.deps.push(Dep {
                    path: old.to_owned(),
                    version: old_version.unwrap_or("v1.0.0").to_owned(),
                    replace: Some(replace),
                }),
            }
        }
        if req.race {
            exe.set("-race", "true");
            exe.set("CGO_ENABLED", "1");
        }
        exe
    }

    /// What a released Velox server (v2025.1.x, v2025.2-beta) builds for `req`: it
    /// drops `replaces`, `excludes`, `race` and `debug` and builds the rest.
    pub fn ignoring_new_fields(req: &BuildRequest) -> GoExe {
        let major = req
            .rr_version
            .trim_start_matches('v')
            .split('.')
            .next()
            .unwrap_or("2025");
        let deps = req
            .plugins
            .iter()
            .map(|p| Dep {
                path: p.module_name.clone(),
                version: if is_semver(&p.tag) {
                    p.tag.clone()
                } else {
                    pseudo_version(&p.tag)
                },
                replace: None,
            })
            .collect();
        GoExe {
            go_version: "go1.25.1".into(),
            main: (
                format!("github.com/roadrunner-server/roadrunner/v{major}"),
                req.rr_version.clone(),
            ),
            deps,
            settings: vec![
                ("-buildmode".into(), "exe".into()),
                ("-compiler".into(), "gc".into()),
                ("-trimpath".into(), "true".into()),
                ("CGO_ENABLED".into(), "0".into()),
                ("GOARCH".into(), req.target_platform.arch.clone()),
                ("GOOS".into(), req.target_platform.os.clone()),
            ],
            payload: Vec::new(),
            size: None,
        }
    }

    /// Sets (or adds) a `build` setting.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        match self.settings.iter_mut().find(|(k, _)| k == key) {
            Some(kv) => kv.1 = value.to_owned(),
            None => self.settings.push((key.to_owned(), value.to_owned())),
        }
        self
    }

    pub fn with_payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    pub fn padded_to(mut self, size: usize) -> Self {
        self.size = Some(size);
        self
    }

    /// The module information text, as Go writes it (without its sentinels).
    pub fn modinfo(&self) -> String {
        let mut text = format!(
            "path\t{}/cmd/rr\nmod\t{}\t{}\t\n",
            self.main.0, self.main.0, self.main.1
        );
        for dep in &self.deps {
            text += &format!("dep\t{}\t{}\th1:fake=\n", dep.path, dep.version);
            if let Some((path, version)) = &dep.replace {
                let sum = if version.is_empty() { "" } else { "h1:fake=" };
                text += &format!("=>\t{path}\t{version}\t{sum}\n");
            }
        }
        for (k, v) in &self.settings {
            text += &format!("build\t{k}={v}\n");
        }
        text
    }

    /// The `.go.buildinfo` section's bytes.
    pub fn buildinfo_section(&self) -> Vec<u8> {
        let mut s = b"\xff Go buildinf:".to_vec();
        s.push(8); // pointer size
        s.push(0x2); // inline strings, little-endian
        s.resize(32, 0);
        // cmd/go frames the module info with these sentinels.
        let start: [u8; 16] = [
            0x30, 0x77, 0xaf, 0x0c, 0x92, 0x74, 0x08, 0x02, 0x41, 0xe1, 0xc1, 0x07, 0xe6, 0xd6,
            0x18, 0xe6,
        ];
        let end: [u8; 16] = [
            0xf9, 0x32, 0x43, 0x31, 0x86, 0x18, 0x20, 0x72, 0x00, 0x82, 0x42, 0x10, 0x41, 0x16,
            0xd8, 0xf2,
        ];
        let modinfo = [&start[..], self.modinfo().as_bytes(), &end[..]].concat();
        for string in [self.go_version.as_bytes(), &modinfo[..]] {
            uvarint(&mut s, string.len() as u64);
            s.extend_from_slice(string);
        }
        s
    }

    /// The whole file: ELF header, `.go.buildinfo`, the section names, the section
    /// headers, the payload, then filler up to `size`.
    pub fn to_bytes(&self) -> Vec<u8> {
        const EHDR: usize = 64;
        let info = self.buildinfo_section();
        let names = b"\0.go.buildinfo\0.shstrtab\0";
        let info_at = EHDR;
        let names_at = info_at + info.len();
        let shdrs_at = (names_at + names.len()).next_multiple_of(8);

        let mut f = Vec::with_capacity(self.size.unwrap_or(0).max(shdrs_at + 3 * 64));
        f.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
        f.resize(16, 0);
        put(&mut f, &2u16.to_le_bytes()); // ET_EXEC
        put(&mut f, &62u16.to_le_bytes()); // x86-64
        put(&mut f, &1u32.to_le_bytes());
        put(&mut f, &0u64.to_le_bytes()); // entry
        put(&mut f, &0u64.to_le_bytes()); // no program headers
        put(&mut f, &(shdrs_at as u64).to_le_bytes());
        put(&mut f, &0u32.to_le_bytes());
        for half in [EHDR as u16, 56, 0, 64, 3, 2] {
            put(&mut f, &half.to_le_bytes());
        }
        f.extend_from_slice(&info);
        f.extend_from_slice(names);
        f.resize(shdrs_at, 0);
        f.extend_from_slice(&[0u8; 64]);
        // SHT_PROGBITS, SHF_WRITE|SHF_ALLOC, as Go's linker marks it.
        section(&mut f, 1, 1, 3, info_at, info.len());
        section(&mut f, 15, 3, 0, names_at, names.len());
        f.extend_from_slice(&self.payload);
        if let Some(size) = self.size {
            let mut x: u32 = 0x9e37_79b9;
            while f.len() < size {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                f.push(x as u8);
            }
        }
        f
    }
}

fn put(f: &mut Vec<u8>, b: &[u8]) {
    f.extend_from_slice(b);
}

fn section(f: &mut Vec<u8>, name: u32, kind: u32, flags: u64, offset: usize, size: usize) {
    put(f, &name.to_le_bytes());
    put(f, &kind.to_le_bytes());
    put(f, &flags.to_le_bytes());
    put(f, &0u64.to_le_bytes()); // addr
    put(f, &(offset as u64).to_le_bytes());
    put(f, &(size as u64).to_le_bytes());
    put(f, &0u32.to_le_bytes()); // link
    put(f, &0u32.to_le_bytes()); // info
    put(f, &1u64.to_le_bytes()); // align
    put(f, &0u64.to_le_bytes()); // entsize
}

fn uvarint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A valid executable for `req` (every field honoured) ending with `payload`.
pub fn build_for(req: &BuildRequest, payload: &[u8]) -> Vec<u8> {
    GoExe::for_request(req).with_payload(payload).to_bytes()
}

/// A valid executable for the build a Velox `Build` call's body asks for (Connect JSON,
/// as `BuildRequest::to_velox_json` writes it), every field honoured.
pub fn for_velox_body(body: &serde_json::Value) -> GoExe {
    let plugins: Vec<serde_json::Value> = body["plugins"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| serde_json::json!({"module_name": p["moduleName"], "tag": p["tag"]}))
                .collect()
        })
        .unwrap_or_default();
    let json = serde_json::json!({
        "rr_version": body["rrVersion"],
        "target_platform": body["targetPlatform"],
        "plugins": plugins,
        "replaces": body.get("replaces"),
        "excludes": body.get("excludes"),
        "race": body.get("race"),
    });
    let req = BuildRequest::parse(json.to_string().as_bytes()).expect("a valid Velox body");
    GoExe::for_request(&req)
}
