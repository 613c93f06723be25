//! Unit tests of the Emscripten ABI on small hand-written modules: path
//! normalisation, invoke/longjmp/trap propagation, JavaScript import
//! errors, bad guest pointers in syscalls.

use super::syscalls::normalise;

#[test]
fn paths_normalise_lexically() {
    assert_eq!(normalise("/", "a/b"), "/a/b");
    assert_eq!(normalise("/x/y", "../z/./w//"), "/x/z/w");
    assert_eq!(normalise("/x", "/../../etc"), "/etc");
    assert_eq!(normalise("/", "."), "/");
    assert_eq!(normalise("/sandbox", ".."), "/");
}
