//! WASI path operations seen from outside, through the `wasabi` binary.
//!
//! Each test runs the guest `tests/wasi/path_ops.wat` (which performs the
//! path operations given as its arguments and writes one errno byte per
//! operation to stdout) with a fresh scratch directory preopened as
//! `/sandbox`. The scratch directory's parent holds only it and a sentinel
//! file. A test checks every errno, then looks at the disk from the host:
//! what must (not) exist, that no symlink under the scratch directory leads
//! outside it (other than those the test itself planted), and that the
//! parent and the sentinel are untouched.
//!
//! What must stay true: every expectation here is about observable
//! behaviour (errnos and files on disk), never about how wasabi does it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

const OK: u8 = 0;
const INVAL: u8 = 28;
const NOTDIR: u8 = 54;

const SENTINEL: &str = "sentinel, outside the sandbox\n";

fn guest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/wasi/path_ops.wat")
}

/// A private directory holding `scratch/` (preopened as `/sandbox`) and
/// `sentinel.txt`; removed on drop.
struct Sandbox {
    base: PathBuf,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("wasi_sandbox")
            .join(format!("{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("scratch")).unwrap();
        fs::write(base.join("sentinel.txt"), SENTINEL).unwrap();
        Sandbox { base }
    }

    fn dir(&self) -> PathBuf {
        self.base.join("scratch")
    }

    /// Runs the guest on `steps` (operation, expected errno) and checks
    /// every errno, reporting all mismatches at once.
    fn run(&self, steps: &[(&str, u8)]) {
        let out = Command::new(env!("CARGO_BIN_EXE_wasabi"))
            .arg("run")
            .arg("--dir")
            .arg(format!("{}::/sandbox", self.dir().display()))
            .arg(guest())
            .arg("--")
            .args(steps.iter().map(|(op, _)| op))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "guest failed: {:?}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len(), steps.len(), "one errno per operation");
        let wrong: Vec<String> = steps
            .iter()
            .zip(&out.stdout)
            .filter(|((_, want), got)| want != *got)
            .map(|((op, want), got)| format!("{op:?}: want errno {want}, got {got}"))
            .collect();
        assert!(wrong.is_empty(), "wrong errnos:\n{}", wrong.join("\n"));
    }

    /// Asserts that `rel` (under the scratch directory) does not exist, not
    /// even as a dangling symlink.
    fn assert_absent(&self, rel: &str) {
        let p = self.dir().join(rel);
        assert!(
            fs::symlink_metadata(&p).is_err(),
            "{rel} exists (-> {:?})",
            fs::read_link(&p).ok()
        );
    }

    /// Asserts that the only symlinks under the scratch directory whose
    /// target lies outside it are those named in `planted` (relative
    /// paths), and that nothing next to it changed.
    fn assert_sealed(&self, planted: &[&str]) {
        let root = fs::canonicalize(self.dir()).unwrap();
        let mut out = BTreeSet::new();
        let mut todo = vec![root.clone()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let ft = e.file_type().unwrap();
                if ft.is_dir() {
                    todo.push(e.path());
                } else if ft.is_symlink() {
                    let target = fs::read_link(e.path()).unwrap();
                    if !normalize(&d.join(&target)).starts_with(&root) {
                        let rel = e.path().strip_prefix(&root).unwrap().to_owned();
                        out.insert(rel.to_string_lossy().into_owned());
                    }
                }
            }
        }
        let planted: BTreeSet<String> = planted.iter().map(|s| s.to_string()).collect();
        assert_eq!(out, planted, "symlinks leading out of the sandbox");

        let names: BTreeSet<String> = fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            BTreeSet::from(["scratch".to_string(), "sentinel.txt".to_string()]),
            "the sandbox's parent changed"
        );
        assert_eq!(
            fs::read_to_string(self.base.join("sentinel.txt")).unwrap(),
            SENTINEL
        );
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// `p` with `.` and `..` resolved lexically. `p` is absolute and, in these
/// tests, its directories are real ones (no symlink before a `..`): the
/// links wasabi accepts have all their `..` first.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Problem 7: `path_remove_directory` accepts a trailing slash (a file
/// with one is still `NOTDIR`), and `path_link` with the symlink-follow
/// lookup flag is `INVAL` whatever the path names (as in wasmtime), while
/// a plain hard link still works.
#[test]
fn remove_directory_trailing_slash_and_link_follow() {
    let sb = Sandbox::new("testsuite");
    sb.run(&[
        ("m dir", OK),
        ("R dir/", OK),
        ("m dir2", OK),
        ("R dir2//", OK),
        ("f file", OK),
        ("R file/", NOTDIR),
        ("R file", NOTDIR),
        ("s file lnk", OK),
        ("L lnk follow1", INVAL),
        ("L file follow2", INVAL),
        ("L missing follow3", INVAL),
        ("l file plain", OK),
    ]);
    for gone in ["dir", "dir2", "follow1", "follow2", "follow3"] {
        sb.assert_absent(gone);
    }
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(sb.dir().join("plain")).unwrap().nlink(),
        2,
        "plain is a hard link to file"
    );
    sb.assert_sealed(&[]);
}
