//! Prints the Rust std::io errors a program meets writing into a full filesystem, for
//! ci/capture-fault-fixtures.sh: `diskfull DIR` (DIR on a small tmpfs). Each step is printed as
//! `step: Ok` or `step: Err Display=<{}> Debug=<{:?}> kind=<{:?}> raw_os_error=<..>`.
//! The steps are what the plugin's state writer does (src/sys/files.rs: create_dir_all,
//! a temporary file beside the target, write_all, sync_all, rename) plus a plain fs::write.
//! std only: compiled with `rustc -O diskfull.rs`.
use std::io::Write;

fn show<T>(step: &str, r: std::io::Result<T>) -> bool {
    match r {
        Ok(_) => {
            println!("{step}: Ok");
            true
        }
        Err(e) => {
            println!(
                "{step}: Err Display=<{e}> Debug=<{e:?}> kind=<{:?}> raw_os_error=<{:?}>",
                e.kind(),
                e.raw_os_error()
            );
            false
        }
    }
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: diskfull DIR"));
    let big = vec![b'x'; 256 * 1024];
    // 1. fs::write of more than the filesystem holds.
    show("fs::write 256 KiB into an empty 64 KiB fs", std::fs::write(dir.join("big.bin"), &big));
    // The filesystem is now full (the partial file stays).
    // 2. the state writer's steps, on the full filesystem.
    let state = dir.join(".azdeploy");
    show("create_dir_all .azdeploy (fs full)", std::fs::create_dir_all(&state));
    let tmp = state.join(".azdeploy-tmp-fixed");
    match std::fs::File::create(&tmp) {
        Err(e) => {
            show::<()>("File::create temp (fs full)", Err(e));
        }
        Ok(mut f) => {
            println!("File::create temp (fs full): Ok");
            let text = b"{\n  \"image\": \"web:1\"\n}";
            if show("write_all small json (fs full)", f.write_all(text)) {
                show("sync_all (fs full)", f.sync_all());
                show("rename into place (fs full)", std::fs::rename(&tmp, state.join("last-build.json")));
            }
        }
    }
    // 3. a plain small fs::write on the full filesystem.
    show("fs::write 20 B (fs full)", std::fs::write(dir.join("small.json"), b"{\"image\": \"web:1\"}\n"));
    let _ = std::fs::remove_file(&tmp);
}
