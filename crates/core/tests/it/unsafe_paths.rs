//! Build output paths as an adversarial build server (or whoever shares its volume) can
//! shape them: every unsafe shape is refused with `UnsafePath`, and a name swapped
//! between the checks and the open never lets bytes from outside through.
//! `VXM_SWAP_ITERATIONS` changes the number of raced `take` calls (default 3000).

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use velox_core::resolve::ingest::{take, AllowedDir};
use velox_core::Error;

const SECRET: &[u8] = b"outside bytes, never to be served";
const GOOD: &[u8] = b"a real build inside the allowed dir";

struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    allowed: Vec<AllowedDir>,
}

impl Tree {
    fn new() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for d in ["builds/h", "outside", "builds-evil"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("outside/secret"), SECRET).unwrap();
        fs::write(root.join("builds/h/rr"), GOOD).unwrap();
        let allowed = vec![AllowedDir::new(&root.join("builds"))];
        Tree {
            _tmp: tmp,
            root,
            allowed,
        }
    }

    fn p(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root.display())
    }
}

fn refused(t: &Tree, raw: &str) -> String {
    match take(raw, &t.allowed) {
        Err(Error::UnsafePath { reason, .. }) => reason,
        Err(other) => panic!("{raw}: not UnsafePath: {other:?}"),
        Ok(taken) => panic!("{raw}: taken ({} bytes)", taken.size),
    }
}

#[test]
fn every_unsafe_path_shape_is_refused() {
    let t = Tree::new();
    let r = &t.root;
    // Shapes made on disk first.
    symlink(r.join("outside/secret"), r.join("builds/h/link")).unwrap();
    symlink(r.join("outside"), r.join("builds/dirlink")).unwrap();
    symlink("../../outside/secret", r.join("builds/h/rel-link")).unwrap();
    symlink(r.join("builds/h/rr"), r.join("builds/h/inside-link")).unwrap();
    fs::hard_link(r.join("outside/secret"), r.join("builds/h/hard")).unwrap();
    fs::write(r.join("builds/h/two-names"), GOOD).unwrap();
    fs::hard_link(r.join("builds/h/two-names"), r.join("builds/h/two-names-2")).unwrap();
    fs::write(r.join("builds/h/empty"), b"").unwrap();
    fs::write(r.join("builds-evil/rr"), SECRET).unwrap();
    fs::create_dir(r.join("builds/h/subdir")).unwrap();
    let fifo = std::ffi::CString::new(t.p("builds/h/fifo")).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let sock = std::os::unix::net::UnixListener::bind(r.join("builds/h/sock")).unwrap();
    symlink(r.join("builds/h/missing"), r.join("builds/h/dangling")).unwrap();
    symlink(r.join("builds/h/loop"), r.join("builds/h/loop")).unwrap();

    let shapes: Vec<String> = vec![
        "builds/h/rr".into(),                                           // relative
        "".into(),                                                      // empty
        t.p("builds/h/../../outside/secret"),                           // `..` out
        t.p("builds/h/../h/rr"),             // `..` even when it stays inside
        t.p("outside/secret"),               // plainly outside
        "/etc/passwd".into(),                // system file
        "/proc/self/root/etc/passwd".into(), // through /proc
        t.p("builds-evil/rr"),               // string prefix of the allowed dir
        t.p("builds"),                       // the allowed dir itself
        t.p("builds/"),                      // the same, with a slash
        t.p("builds/h"),                     // a directory
        t.p("builds/h/subdir"),              // another directory
        t.p("builds/h/link"),                // symlink to a file outside
        t.p("builds/h/rel-link"),            // relative symlink outside
        t.p("builds/h/inside-link"),         // symlink even to an allowed file
        t.p("builds/dirlink/secret"),        // symlinked directory below
        t.p("builds/h/hard"),                // hard link to a file outside
        t.p("builds/h/two-names"),           // any second name
        t.p("builds/h/empty"),               // empty file
        t.p("builds/h/fifo"),                // FIFO (must not block)
        t.p("builds/h/sock"),                // socket
        t.p("builds/h/missing"),             // does not exist
        t.p("builds/h/dangling"),            // dangling symlink
        t.p("builds/h/loop"),                // symlink loop
        t.p("builds/h/rr/x"),                // a file used as a directory
        format!("{}\u{0}", t.p("builds/h/rr")), // NUL byte
        t.p("builds/./h/../../outside/secret"), // `.` and `..` mixed
        format!("//{}", t.p("outside/secret").trim_start_matches('/')), // doubled slash, outside
    ];
    for raw in &shapes {
        let reason = refused(&t, raw);
        assert!(!reason.is_empty(), "{raw}");
    }
    assert_eq!(shapes.len(), 28);
    // And the real build is taken, through the allowed name only.
    let taken = take(&t.p("builds/h/rr"), &t.allowed).unwrap();
    assert_eq!(taken.size, GOOD.len() as u64);
    drop(sock);
}

fn read_all(mut f: &fs::File) -> Vec<u8> {
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    out
}

/// Another thread keeps swapping, atomically (`renameat2(RENAME_EXCHANGE)`), what the
/// answered path's directory is: a directory holding the good file, one holding a
/// symlink to the secret, one holding a hard link to the secret, or a symlink to the
/// outside directory. Whatever `take` accepts must be the good bytes.
#[test]
fn names_swapped_during_the_checks_never_let_outside_bytes_through() {
    let iterations: usize = std::env::var("VXM_SWAP_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let t = Tree::new();
    let r = t.root.clone();
    let variants: Vec<PathBuf> = (0..4).map(|i| r.join(format!("builds/v{i}"))).collect();
    for v in &variants[..3] {
        fs::create_dir(v).unwrap();
    }
    fs::write(variants[0].join("rr"), GOOD).unwrap();
    symlink(r.join("outside/secret"), variants[1].join("rr")).unwrap();
    fs::hard_link(r.join("outside/secret"), variants[2].join("rr")).unwrap();
    fs::hard_link(r.join("outside/secret"), r.join("outside/rr")).unwrap();
    symlink(r.join("outside"), &variants[3]).unwrap();

    let raw = t.p("builds/h/rr");
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let h = r.join("builds/h");
        std::thread::spawn(move || {
            let mut x = 0x2545_f491_4f6c_dd1du64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if exchange(&h, &variants[(x % 4) as usize]) {
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Bounded wait for the swapper to be running before racing it.
    let started = std::time::Instant::now();
    while swaps.load(Ordering::Relaxed) == 0 {
        assert!(
            started.elapsed().as_secs() < 30,
            "the swapper never swapped"
        );
        std::thread::yield_now();
    }
    let (mut taken, mut refused) = (0u64, 0u64);
    for _ in 0..iterations {
        // Let the swapper move on between calls (bounded), so successive calls meet
        // different states even when the scheduler runs one thread for long stretches.
        let seen = swaps.load(Ordering::Relaxed);
        let wait = std::time::Instant::now();
        while swaps.load(Ordering::Relaxed) == seen && wait.elapsed().as_millis() < 2 {
            std::thread::yield_now();
        }
        match take(&raw, &t.allowed) {
            Ok(file) => {
                taken += 1;
                assert_eq!(read_all(&file.file), GOOD, "outside bytes were taken");
            }
            Err(Error::UnsafePath { .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let swaps = swaps.load(Ordering::Relaxed);
    println!(
        "{iterations} rounds, {swaps} swaps: {taken} taken (all good bytes), {refused} refused"
    );
}

/// Atomically exchanges two names (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes()).unwrap();
    let b = std::ffi::CString::new(b.as_os_str().as_bytes()).unwrap();
    // SAFETY: two NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    rc == 0
}
