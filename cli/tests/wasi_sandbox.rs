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
const PERM: u8 = 63;

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

    /// A symlink the host plants in the scratch directory before the run.
    fn plant(&self, target: &str, name: &str) {
        std::os::unix::fs::symlink(target, self.dir().join(name)).unwrap();
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

    fn assert_present(&self, rel: &str) {
        assert!(
            fs::symlink_metadata(self.dir().join(rel)).is_ok(),
            "{rel} is missing"
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

/// Problem 5, creating symlinks: absolute targets and relative ones that
/// climb above the preopen are refused with `PERM` — measured from where
/// the link really is (created from the preopen, from a subdirectory fd,
/// or through a path with `..`), and with a `..` after a name counted as
/// possibly climbing from the preopen itself. Links that stay inside work.
#[test]
fn symlinks_leading_out_are_refused() {
    let sb = Sandbox::new("symlink");
    sb.run(&[
        ("m sub", OK),
        ("m sub/deeper", OK),
        // From the preopen.
        ("s ../../../../etc up", PERM),
        ("s /etc abs", PERM),
        ("s ../sentinel.txt rel", PERM),
        ("s .. dotdot", PERM),
        ("s x plain", OK),
        ("s ./sub/. dotted", OK),
        // `self` is the preopen, so `self/..` is its parent.
        ("s . self", OK),
        ("s self/../sentinel.txt trick", PERM),
        ("s sub/../x lexical", PERM),
        // In a subdirectory, named from the preopen.
        ("s ../x sub/ok1", OK),
        ("s ../../x sub/bad1", PERM),
        ("s ../../x sub/deeper/ok2", OK),
        ("s ../../../x sub/deeper/bad2", PERM),
        // Through a path containing `..`: the link lands in `sub`.
        ("s ../x sub/deeper/../ok3", OK),
        ("s ../../x sub/deeper/../bad3", PERM),
        // Through a symlinked parent: `self/sub` is `sub`.
        ("s ../../x self/sub/bad4", PERM),
        // Relative to a directory fd for `sub`.
        ("d sub", OK),
        ("s ../x ok5", OK),
        ("s ../../x bad5", PERM),
        ("s ../../../x deeper/bad6", PERM),
        ("D", OK),
    ]);
    for bad in [
        "up",
        "abs",
        "rel",
        "dotdot",
        "trick",
        "lexical",
        "sub/bad1",
        "sub/deeper/bad2",
        "sub/bad3",
        "sub/bad4",
        "sub/bad5",
        "sub/deeper/bad6",
    ] {
        sb.assert_absent(bad);
    }
    for ok in [
        "plain",
        "self",
        "sub/ok1",
        "sub/deeper/ok2",
        "sub/ok3",
        "sub/ok5",
    ] {
        sb.assert_present(ok);
    }
    sb.assert_sealed(&[]);
}

/// Problem 5, hard links: a hard link to a symlink is a symlink at the new
/// place, so one that would lead out from there is refused, including
/// copies of host-planted links pointing outside.
#[test]
fn hard_links_of_symlinks_leading_out_are_refused() {
    let sb = Sandbox::new("link");
    sb.plant("../sentinel.txt", "hostout");
    sb.plant("/etc", "hostabs");
    sb.plant("x", "hostin");
    sb.run(&[
        ("m sub", OK),
        ("s ../x sub/ok1", OK),
        ("f file", OK),
        ("l hostout copy1", PERM),
        ("l hostabs copy2", PERM),
        // From `sub`, `../sentinel.txt` stays inside.
        ("l hostout sub/copy3", OK),
        // Allowed in `sub`, not one level up.
        ("l sub/ok1 copy4", PERM),
        ("l sub/ok1 sub/okcopy", OK),
        ("l hostin sub/incopy", OK),
        ("l file sub/filecopy", OK),
    ]);
    for bad in ["copy1", "copy2", "copy4"] {
        sb.assert_absent(bad);
    }
    for ok in ["sub/copy3", "sub/okcopy", "sub/incopy", "sub/filecopy"] {
        sb.assert_present(ok);
    }
    sb.assert_sealed(&["hostout", "hostabs"]);
}

/// Problem 5, renames: moving a symlink, or a directory holding symlinks,
/// to a place where a link would lead out is refused; moves that keep
/// every link inside work.
#[test]
fn renames_that_would_lead_out_are_refused() {
    let sb = Sandbox::new("rename");
    sb.run(&[
        ("m sub", OK),
        ("m sub/deeper", OK),
        ("m sub/a", OK),
        ("s ../x sub/ok1", OK),
        ("s ../../x sub/deeper/ok2", OK),
        ("s ../x sub/ok3", OK),
        // A symlink moved up a level.
        ("r sub/ok1 moved1", PERM),
        ("r sub/deeper/ok2 moved2", PERM),
        // ... or down, or sideways: fine.
        ("r sub/ok3 sub/a/ok3", OK),
        ("r sub/deeper/ok2 sub/deeper/ok2b", OK),
        // A directory holding one, moved up.
        ("r sub/deeper deeper", PERM),
        // Moved down: fine; then links nested further in.
        ("r sub/deeper sub/a/deeper", OK),
        ("m sub/a/deeper/inner", OK),
        ("s ../../../x sub/a/deeper/inner/l", OK),
        // Up one level: every link still lands inside.
        ("r sub/a a2", OK),
        // Up one more: both ok2b and inner/l would lead out.
        ("r a2/deeper top", PERM),
        // Measured from a directory fd too.
        ("d a2", OK),
        ("r deeper/ok2b ok2c", PERM),
        ("r deeper/inner/l deeper/l", PERM),
        ("r deeper/ok2b deeper/inner/ok2b", OK),
        ("D", OK),
    ]);
    for bad in [
        "moved1",
        "moved2",
        "deeper",
        "top",
        "a2/ok2c",
        "a2/deeper/l",
    ] {
        sb.assert_absent(bad);
    }
    for ok in [
        "sub/ok1",
        "a2/ok3",
        "a2/deeper/inner/ok2b",
        "a2/deeper/inner/l",
    ] {
        sb.assert_present(ok);
    }
    sb.assert_sealed(&[]);
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
