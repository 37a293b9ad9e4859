//! `cdetr serve`: a static file server for the web app, bound to loopback only (hyper 1 on tokio, files
//! through tower-http's `ServeDir`).
//!
//! Serves `www/` at `/` and the wasm-bindgen output `pkg/` at `/pkg/`, nothing else: paths are decoded,
//! `..` and hidden files are refused, and symbolic links are not followed out of those folders. Only GET and
//! HEAD; `Last-Modified` with 304 on `If-Modified-Since`; precompressed `.gz`/`.br` siblings are sent when
//! the client accepts them. Bounded: request heads over 32 KiB are refused (431), a connection that sends no
//! complete request head for 10 s is dropped, and past 512 open connections new ones get 1 s (up to 4096
//! more; beyond that they are closed).

use std::convert::Infallible;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tower_http::services::ServeDir;

/// Connections served at once with the normal header timeout.
const MAX_CONNECTIONS: usize = 512;
/// Further connections, accepted while those are all taken, on a short header timeout (so that a flood of
/// idle connections neither queues a real request behind it in the backlog nor holds it for long); past
/// these, new connections are closed at once.
const MAX_OVERFLOW_CONNECTIONS: usize = 4096;
/// Largest request head (request line + headers) kept in memory per connection.
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// A connection that has not sent a complete request head within this is closed.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const OVERFLOW_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Folder holding `www/` and `pkg/` (default: the current folder).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Send `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`
    /// (cross-origin isolation, needed for threaded wasm).
    #[arg(long)]
    isolate: bool,
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The two served folders (canonical) and their file services.
pub(crate) struct Site {
    www: PathBuf,
    pkg: PathBuf,
    www_files: ServeDir,
    pkg_files: ServeDir,
    isolate: bool,
}

impl Site {
    /// `root/www` and `root/pkg`, which must exist (and `pkg/cdetr.js` in it).
    pub(crate) fn open(root: &Path, isolate: bool) -> Result<Site> {
        let www = root.join("www").canonicalize().with_context(|| format!("{}: no www/ folder", root.display()))?;
        let pkg = root.join("pkg").canonicalize().with_context(|| format!("{}: no pkg/ folder", root.display()))?;
        if !pkg.join("cdetr.js").exists() {
            bail!("{}: the wasm bindings are missing; build them with scripts/build-web.sh", pkg.display());
        }
        let files = |dir: &Path| ServeDir::new(dir).precompressed_br().precompressed_gzip();
        Ok(Site { www_files: files(&www), pkg_files: files(&pkg), www, pkg, isolate })
    }
}

pub fn run(args: ServeArgs) -> Result<()> {
    let site = Arc::new(Site::open(&args.root, args.isolate)?);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        println!("serving the web app on http://{addr}/ (Ctrl-C to stop)");
        std::io::stdout().flush()?;
        accept_loop(listener, site).await
    })
}

async fn accept_loop(listener: tokio::net::TcpListener, site: Arc<Site>) -> Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let overflow = Arc::new(tokio::sync::Semaphore::new(MAX_OVERFLOW_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (permit, timeout) = match permits.clone().try_acquire_owned() {
            Ok(permit) => (permit, HEADER_READ_TIMEOUT),
            Err(_) => match overflow.clone().try_acquire_owned() {
                Ok(permit) => (permit, OVERFLOW_HEADER_READ_TIMEOUT),
                Err(_) => continue, // dropping the stream closes it
            },
        };
        let site = site.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_connection(stream, site, timeout).await;
        });
    }
}

/// Serves the requests of one connection (HTTP/1.1, heads bounded by [`MAX_HEAD_BYTES`], `timeout` to send
/// a complete head) until it closes; errors end the connection.
pub(crate) async fn serve_connection<I>(io: I, site: Arc<Site>, timeout: Duration)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let site = site.clone();
        async move { Ok::<_, Infallible>(handle(req, &site).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn handle(req: Request<Incoming>, site: &Site) -> Response<Body> {
    let mut response = respond(req, site).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // The body may be a precompressed sibling chosen by Accept-Encoding.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if site.isolate {
        headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
        headers.insert("cross-origin-embedder-policy", HeaderValue::from_static("require-corp"));
    }
    response
}

async fn respond(req: Request<Incoming>, site: &Site) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(file) = resolve(req.uri().path(), &site.www, &site.pkg) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    // Hand ServeDir the checked, canonical path relative to its folder.
    let (mut files, base) = match file.starts_with(&site.pkg) {
        true => (site.pkg_files.clone(), &site.pkg),
        false => (site.www_files.clone(), &site.www),
    };
    // ServeDir may send `file.gz`/`file.br` instead: where one leads out of the folder, send the file itself.
    let sibling_escapes = ["gz", "br"].iter().any(|ext| {
        let mut sibling = file.clone().into_os_string();
        sibling.push(format!(".{ext}"));
        std::fs::canonicalize(sibling).is_ok_and(|real| !real.starts_with(base))
    });
    let Some(uri) = file.strip_prefix(base).ok().and_then(|rel| rel.to_str()).map(percent_encode) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let (mut parts, body) = req.into_parts();
    if sibling_escapes {
        parts.headers.remove(header::ACCEPT_ENCODING);
    }
    let Ok(uri) = uri.parse() else { return text(StatusCode::NOT_FOUND, "not found") };
    parts.uri = uri;
    match files.try_call(Request::from_parts(parts, body)).await {
        Ok(response) => {
            let mut response = response.map(|body| body.boxed_unsync());
            if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
            }
            response
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response =
        Response::new(Full::new(Bytes::from_static(body.as_bytes())).map_err(|e| match e {}).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// `/`-joined path with everything but unreserved characters percent-encoded (ServeDir decodes it).
fn percent_encode(rel: &str) -> String {
    let mut out = String::from("/");
    for (i, part) in rel.split(std::path::MAIN_SEPARATOR).enumerate() {
        if i > 0 {
            out.push('/');
        }
        for b in part.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
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
