//! std::fs inside a scratch directory given as argv[1]. Never prints the path.
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let k = if ft.is_dir() { "d" } else if ft.is_file() { "f" } else if ft.is_symlink() { "l" } else { "?" };
            format!("{}({})", e.file_name().to_string_lossy(), k)
        })
        .collect();
    v.sort();
    v
}

fn kind<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("err {:?}", e.kind()),
    }
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: rs_files DIR");
    let dir = Path::new(&dir);
    let a = dir.join("alpha.txt");

    fs::write(&a, b"first line\nsecond line\n").unwrap();
    println!("write alpha.txt: ok");
    println!("read_to_string: {:?}", fs::read_to_string(&a).unwrap());
    {
        let mut f = OpenOptions::new().append(true).open(&a).unwrap();
        f.write_all(b"third line\n").unwrap();
    }
    let md = fs::metadata(&a).unwrap();
    println!("metadata: len={} is_file={} is_dir={}", md.len(), md.is_file(), md.is_dir());
    {
        let mut f = OpenOptions::new().read(true).write(true).open(&a).unwrap();
        f.seek(SeekFrom::Start(6)).unwrap();
        let mut buf = [0u8; 4];
        f.read_exact(&mut buf).unwrap();
        println!("seek 6 + read 4: {:?}", std::str::from_utf8(&buf).unwrap());
        let pos = f.seek(SeekFrom::End(-5)).unwrap();
        println!("seek end-5 -> {pos}");
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(b"FIRST").unwrap();
        f.set_len(16).unwrap();
    }
    println!("after overwrite+set_len(16): {:?}", fs::read_to_string(&a).unwrap());

    fs::create_dir_all(dir.join("nested/deeper/deepest")).unwrap();
    println!("create_dir_all nested/deeper/deepest: ok");
    for i in 0..5 {
        let mut f = File::create(dir.join(format!("nested/file{i}.bin"))).unwrap();
        f.write_all(&vec![i as u8; 1000 * (i + 1)]).unwrap();
    }
    let mut total = 0;
    for e in fs::read_dir(dir.join("nested")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            total += e.metadata().unwrap().len();
        }
    }
    println!("nested files total size: {total}");
    println!("listing: {:?}", listing(dir));
    println!("listing nested: {:?}", listing(&dir.join("nested")));

    println!("rename alpha -> beta: {}", kind(fs::rename(&a, dir.join("beta.txt"))));
    println!("open alpha (gone): {}", kind(File::open(&a)));
    println!("copy beta -> gamma: {}", kind(fs::copy(dir.join("beta.txt"), dir.join("gamma.txt"))));
    println!("gamma contents: {:?}", fs::read_to_string(dir.join("gamma.txt")).unwrap());
    println!("create_dir existing: {}", kind(fs::create_dir(dir.join("nested"))));
    // std maps ENOTEMPTY to DirectoryNotEmpty on Linux but Uncategorized on
    // WASI, so only report that it failed.
    println!("remove_dir non-empty fails: {}", fs::remove_dir(dir.join("nested")).is_err());
    println!("create_new existing: {}", kind(OpenOptions::new().write(true).create_new(true).open(dir.join("gamma.txt"))));
    println!("read missing: {}", kind(fs::read(dir.join("missing"))));
    println!("exists gamma: {} exists missing: {}", dir.join("gamma.txt").exists(), dir.join("missing").exists());
    println!("remove_dir_all nested: {}", kind(fs::remove_dir_all(dir.join("nested"))));
    println!("remove_file beta: {}", kind(fs::remove_file(dir.join("beta.txt"))));
    println!("remove_file gamma: {}", kind(fs::remove_file(dir.join("gamma.txt"))));
    println!("remove_file gamma again: {}", kind(fs::remove_file(dir.join("gamma.txt"))));
    println!("final listing: {:?}", listing(dir));
}
