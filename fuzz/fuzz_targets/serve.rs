//! `cdetr serve`'s request handling: the input is the byte stream of one client connection, served by the
//! server's own code (src/cli/serve.rs compiled in: hyper's HTTP/1 parser with the same head limit, the
//! method check, path decoding and resolution, tower-http's ServeDir) over an in-memory pipe. Besides no
//! crash or hang, nothing outside `www/` and `pkg/` or hidden may ever be sent: every such file holds
//! `FUZZ-SECRET`, which must not appear in a response.
#![no_main]
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common.rs"]
mod common;

#[allow(dead_code)]
#[path = "../../src/cli/serve.rs"]
mod serve;

struct World {
    runtime: tokio::runtime::Runtime,
    site: Arc<serve::Site>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("cdetr-fuzz-serve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let write = |rel: &str, body: &[u8]| {
            let p: PathBuf = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        };
        write("www/index.html", b"<!doctype html>hi");
        write("www/app.js", b"export {}");
        write("www/sub/a b.css", b"body{}");
        write("www/.hidden", b"FUZZ-SECRET hidden");
        write("pkg/cdetr.js", b"export {}");
        write("pkg/cdetr_bg.wasm", b"\0asm\x01\0\0\0");
        write("pkg/cdetr_bg.wasm.gz", b"\x1f\x8b\x08\0\0\0\0\0");
        write("secret.txt", b"FUZZ-SECRET outside");
        write("Cargo.toml", b"FUZZ-SECRET manifest");
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink(root.join("secret.txt"), root.join("www/link.txt"));
            let _ = std::os::unix::fs::symlink(root.join("secret.txt"), root.join("pkg/cdetr.js.br"));
        }
        // Paused clock: timers (the 10 s header timeout of an idle keep-alive connection) fire as soon as
        // nothing else can run, so a connection that stays open costs no wall time.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        let site = Arc::new(serve::Site::open(&root, true).expect("the fuzz site"));
        World { runtime, site }
    })
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    let response = world.runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let conn = tokio::spawn(serve::serve_connection(server, world.site.clone(), serve::HEADER_READ_TIMEOUT));
        let mut response = Vec::new();
        // The client sends its bytes and keeps its side open (hyper drops a connection whose client
        // half-closes before the response), reading until the server closes: after its responses, at the
        // header timeout of the next request at the latest. Past a minute of (virtual) time it is stuck.
        let talk = async {
            let _ = client.write_all(data).await;
            let _ = client.read_to_end(&mut response).await;
        };
        if tokio::time::timeout(std::time::Duration::from_secs(60), talk).await.is_err() {
            panic!("the connection was still open after a minute:\n{}", String::from_utf8_lossy(&response));
        }
        conn.abort();
        response
    });
    common::show::<_, String>("serve", &Ok::<_, String>(()));
    if std::env::var_os("CDETR_FUZZ_DEBUG").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&response));
    }
    if response.windows(11).any(|w| w == b"FUZZ-SECRET") {
        panic!("served a file outside www/ and pkg/ or a hidden one:\n{}", String::from_utf8_lossy(&response));
    }
});
