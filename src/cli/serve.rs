//! `cdetr serve`: a small static file server for the web app, bound to loopback only.
//!
//! Serves `www/` at `/` and the wasm-bindgen output `pkg/` at `/pkg/`, nothing else: paths are decoded,
//! `..` and hidden files are refused, and symbolic links are not followed out of those folders.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Folder holding `www/` and `pkg/` (default: the current folder).
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let www =
        args.root.join("www").canonicalize().with_context(|| format!("{}: no www/ folder", args.root.display()))?;
    let pkg =
        args.root.join("pkg").canonicalize().with_context(|| format!("{}: no pkg/ folder", args.root.display()))?;
    if !pkg.join("cdetr.js").exists() {
        bail!("{}: the wasm bindings are missing; build them with scripts/build-web.sh", pkg.display());
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    println!("serving the web app on http://{addr}/ (Ctrl-C to stop)");
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (www, pkg) = (www.clone(), pkg.clone());
        std::thread::spawn(move || {
            let _ = handle(stream, &www, &pkg);
        });
    }
    Ok(())
}

fn handle(mut stream: TcpStream, www: &Path, pkg: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, 405, "text/plain", b"method not allowed", method == "HEAD");
    }
    let path = target.split(['?', '#']).next().unwrap_or("/");
    match resolve(path, www, pkg) {
        Some(file) => match std::fs::File::open(&file) {
            Ok(mut f) => {
                let mut body = Vec::new();
                f.read_to_end(&mut body)?;
                respond(&mut stream, 200, content_type(&file), &body, method == "HEAD")
            }
            Err(_) => respond(&mut stream, 404, "text/plain", b"not found", method == "HEAD"),
        },
        None => respond(&mut stream, 404, "text/plain", b"not found", method == "HEAD"),
    }
}

/// Maps a URL path to a file inside `www` or `pkg`, or nothing.
fn resolve(path: &str, www: &Path, pkg: &Path) -> Option<PathBuf> {
    let decoded = percent_decode(path)?;
    let (base, rest) = match decoded.strip_prefix("/pkg/") {
        Some(rest) => (pkg, rest.to_string()),
        None => (www, decoded.trim_start_matches('/').to_string()),
    };
    let rest = if rest.is_empty() { "index.html".to_string() } else { rest };
    let relative = Path::new(&rest);
    let clean =
        relative.components().all(|c| matches!(c, Component::Normal(s) if !s.to_string_lossy().starts_with('.')));
    if !clean {
        return None;
    }
    let file = base.join(relative).canonicalize().ok()?;
    (file.starts_with(base) && file.is_file()).then_some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.contains('\0'))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn respond(stream: &mut TcpStream, status: u16, kind: &str, body: &[u8], head: bool) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let header = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if !head {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_www_and_pkg_are_served() {
        let root = std::env::temp_dir().join(format!("cdetr-serve-{}", std::process::id()));
        std::fs::create_dir_all(root.join("www/sub")).unwrap();
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("www/index.html"), "hi").unwrap();
        std::fs::write(root.join("www/sub/a.js"), "x").unwrap();
        std::fs::write(root.join("www/.secret"), "x").unwrap();
        std::fs::write(root.join("pkg/cdetr.js"), "x").unwrap();
        std::fs::write(root.join("Cargo.toml"), "x").unwrap();
        let (www, pkg) = (root.join("www").canonicalize().unwrap(), root.join("pkg").canonicalize().unwrap());
        assert!(resolve("/", &www, &pkg).unwrap().ends_with("index.html"));
        assert!(resolve("/sub/a.js", &www, &pkg).is_some());
        assert!(resolve("/pkg/cdetr.js", &www, &pkg).is_some());
        for bad in [
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/pkg/../Cargo.toml",
            "/.secret",
            "/sub/../../Cargo.toml",
            "/%zz",
            "/missing",
        ] {
            assert!(resolve(bad, &www, &pkg).is_none(), "{bad}");
        }
    }
}
