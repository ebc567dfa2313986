//! The static directory, read into memory at start-up and served from there.
//!
//! The directory is small and fixed while the server runs (its fingerprint, the `?v=` of
//! every asset URL, is computed once at start-up), so each file is read, hashed and
//! compressed once. A request is then a map lookup and a few header copies: no file system
//! access, no blocking thread, no compression work.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// The static directory: every file with its compressed forms, and a fingerprint of them
/// all for cache-busting URLs.
#[derive(Debug)]
pub struct Assets {
    pub dir: PathBuf,
    /// Changes whenever any file's name or contents change; asset URLs carry it as `?v=`.
    pub version: String,
    files: HashMap<String, Asset>,
}

#[derive(Debug)]
struct Asset {
    content_type: HeaderValue,
    last_modified: Option<(SystemTime, HeaderValue)>,
    identity: Variant,
    gzip: Option<Variant>,
    brotli: Option<Variant>,
}

/// One encoding of a file: its bytes and the headers that describe exactly those bytes.
#[derive(Debug)]
struct Variant {
    body: Bytes,
    /// Differs per encoding: a strong ETag names one sequence of bytes.
    etag: HeaderValue,
    length: HeaderValue,
    encoding: Option<HeaderValue>,
}

/// For URLs carrying the current fingerprint: the bytes under them never change.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// For any other URL (no `?v=`, or another instance's fingerprint during a rolling
/// deploy): the browser may keep the file but must ask again, which costs a 304.
const REVALIDATE: HeaderValue = HeaderValue::from_static("public, no-cache");

impl Assets {
    /// Reads every file under `dir` (sub-directories too). A missing directory gives an
    /// empty set, so every asset is a 404 rather than the server failing to start.
    pub fn new(dir: &Path) -> Self {
        let mut paths = Vec::new();
        collect_files(dir, dir, &mut paths);
        paths.sort();
        let mut hasher = Sha256::new();
        let mut files = HashMap::with_capacity(paths.len());
        for (name, path) in paths {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot read a static file; it will be a 404");
                    continue;
                }
            };
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(&bytes);
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            files.insert(name, Asset::new(&path, bytes, modified));
        }
        let version = hex::encode(hasher.finalize())[..12].to_string();
        Self {
            dir: dir.to_path_buf(),
            version,
            files,
        }
    }
}

/// `(name relative to root with '/' separators, path)` of every regular file under `dir`.
/// Symbolic links to files are followed, links to directories are not (no loops).
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_files(root, &path, out);
        } else if path.is_file()
            && let Ok(relative) = path.strip_prefix(root)
        {
            let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
            if let Some(parts) = parts {
                out.push((parts.join("/"), path));
            }
        }
    }
}

impl Asset {
    fn new(path: &Path, bytes: Vec<u8>, modified: Option<SystemTime>) -> Self {
        let mime = mime_guess::from_path(path)
            .first_raw()
            .unwrap_or("application/octet-stream");
        let tag = hex::encode(Sha256::digest(&bytes))[..16].to_string();
        let (gzip, brotli) = if compressible(mime) {
            (
                compressed(gzip(&bytes), bytes.len(), &tag, "gzip"),
                compressed(brotli(&bytes), bytes.len(), &tag, "br"),
            )
        } else {
            (None, None)
        };
        Self {
            content_type: HeaderValue::from_static(mime),
            last_modified: modified.map(|at| {
                let value = HeaderValue::from_str(&httpdate::fmt_http_date(at))
                    .expect("an HTTP date is a valid header value");
                (at, value)
            }),
            identity: Variant::new(Bytes::from(bytes), &tag, None),
            gzip,
            brotli,
        }
    }

    /// The encoding to send: the client's preference by q-value, brotli before gzip before
    /// identity when it has none, and identity whenever nothing else is both wanted and kept.
    fn negotiate(&self, accept_encoding: Option<&HeaderValue>) -> &Variant {
        let Some(accepted) = accept_encoding.and_then(|v| v.to_str().ok()) else {
            return &self.identity;
        };
        let (mut br, mut gz, mut identity, mut any) = (None, None, None, None);
        for item in accepted.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .or_else(|| p.trim().strip_prefix("Q="))
                })
                .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
            let slot = if name.eq_ignore_ascii_case("br") {
                &mut br
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut gz
            } else if name.eq_ignore_ascii_case("identity") {
                &mut identity
            } else if name == "*" {
                &mut any
            } else {
                continue;
            };
            *slot = Some(q);
        }
        let br = br.or(any).unwrap_or(0.0);
        let gz = gz.or(any).unwrap_or(0.0);
        let identity = identity.or(any).unwrap_or(1.0);
        let mut best = (&self.identity, identity);
        if let Some(variant) = &self.gzip
            && gz > 0.0
            && gz >= best.1
        {
            best = (variant, gz);
        }
        if let Some(variant) = &self.brotli
            && br > 0.0
            && br >= best.1
        {
            best = (variant, br);
        }
        best.0
    }

    /// Whether the client's cached copy is still this file (If-None-Match first, as RFC 9110
    /// orders them; If-Modified-Since only without it).
    fn not_modified(&self, variant: &Variant, headers: &HeaderMap) -> bool {
        if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
            let Ok(tags) = tags.to_str() else {
                return false;
            };
            let ours = variant.etag.as_bytes();
            // Weak comparison: a `W/` tag matches the same opaque tag.
            return tags
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours);
        }
        match (&self.last_modified, headers.get(header::IF_MODIFIED_SINCE)) {
            (Some((modified, _)), Some(since)) => {
                let since = since
                    .to_str()
                    .ok()
                    .and_then(|s| httpdate::parse_http_date(s).ok());
                // HTTP dates have whole seconds; compare the file's time at that precision.
                let seconds = |t: SystemTime| {
                    t.duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                };
                since.is_some_and(|since| seconds(*modified) <= seconds(since))
            }
            _ => false,
        }
    }
}

impl Variant {
    fn new(body: Bytes, tag: &str, encoding: Option<&'static str>) -> Self {
        let etag = match encoding {
            Some(encoding) => format!("\"{tag}-{encoding}\""),
            None => format!("\"{tag}\""),
        };
        Self {
            length: HeaderValue::from(body.len()),
            etag: HeaderValue::from_str(&etag).expect("hex digits make a valid ETag"),
            encoding: encoding.map(HeaderValue::from_static),
            body,
        }
    }
}

/// Text compresses well; images other than SVG, fonts and archives are compressed already.
fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime == "image/svg+xml"
        || mime.ends_with("/javascript")
        || mime.ends_with("/json")
        || mime.ends_with("+json")
        || mime.ends_with("/xml")
        || mime.ends_with("+xml")
}

/// Keeps a compressed form only when it is actually smaller.
fn compressed(bytes: Vec<u8>, original: usize, tag: &str, encoding: &'static str) -> Option<Variant> {
    (bytes.len() < original).then(|| Variant::new(Bytes::from(bytes), tag, Some(encoding)))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    // Quality 11 (the best) is affordable once per file at start-up; 22 is the usual window.
    let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, 11, 22);
    encoder.write_all(bytes).expect("writing to memory");
    encoder.into_inner()
}

/// Serves a file of the static directory (GET and HEAD; the router answers 405 to others).
/// Names are matched as written in the URL: static files have plain names.
pub async fn serve(State(assets): State<std::sync::Arc<Assets>>, request: Request) -> Response {
    let name = request.uri().path().trim_start_matches('/');
    let Some(asset) = assets.files.get(name) else {
        return AppError::NotFound.into_response();
    };
    let headers = request.headers();
    let variant = asset.negotiate(headers.get(header::ACCEPT_ENCODING));
    let fingerprinted = request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.strip_prefix("v=") == Some(assets.version.as_str()))
    });

    let mut response = Response::new(Body::empty());
    let out = response.headers_mut();
    out.insert(header::ETAG, variant.etag.clone());
    out.insert(
        header::CACHE_CONTROL,
        if fingerprinted { IMMUTABLE } else { REVALIDATE },
    );
    // Every file's answer depends on Accept-Encoding, compressed form or not, so shared
    // caches keep them apart; the compression layer sees this and adds no second one.
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some((_, modified)) = &asset.last_modified {
        out.insert(header::LAST_MODIFIED, modified.clone());
    }
    if asset.not_modified(variant, headers) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    out.insert(header::CONTENT_TYPE, asset.content_type.clone());
    out.insert(header::CONTENT_LENGTH, variant.length.clone());
    if let Some(encoding) = &variant.encoding {
        out.insert(header::CONTENT_ENCODING, encoding.clone());
    }
    if request.method() != Method::HEAD {
        // Bytes are shared, not copied: this is a reference count.
        *response.body_mut() = Body::from(variant.body.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset() -> Asset {
        let css = "body { color: black; }\n".repeat(200);
        Asset::new(Path::new("style.css"), css.into_bytes(), None)
    }

    fn encoding_for(accept: &str) -> Option<String> {
        let asset = asset();
        let header = HeaderValue::from_str(accept).unwrap();
        asset
            .negotiate(Some(&header))
            .encoding
            .as_ref()
            .map(|e| e.to_str().unwrap().to_string())
    }

    #[test]
    fn negotiation_follows_q_values_and_prefers_brotli() {
        assert_eq!(encoding_for("gzip, deflate, br"), Some("br".into()));
        assert_eq!(encoding_for("gzip"), Some("gzip".into()));
        assert_eq!(encoding_for("br;q=0.5, gzip"), Some("gzip".into()));
        assert_eq!(encoding_for("br;q=0, gzip;q=0"), None);
        assert_eq!(encoding_for("deflate"), None);
        assert_eq!(encoding_for("*"), Some("br".into()));
        assert_eq!(encoding_for("*;q=0.1, identity"), None);
        assert_eq!(encoding_for("identity;q=0, gzip;q=0.2"), Some("gzip".into()));
        assert_eq!(asset().negotiate(None).encoding, None);
    }

    #[test]
    fn compressed_forms_decode_to_the_file_and_have_their_own_etags() {
        let asset = asset();
        let gzip = asset.gzip.as_ref().unwrap();
        let brotli = asset.brotli.as_ref().unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip.body[..]), &mut plain).unwrap();
        assert_eq!(plain, asset.identity.body);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut brotli::Decompressor::new(&brotli.body[..], 4096), &mut plain)
            .unwrap();
        assert_eq!(plain, asset.identity.body);
        assert!(gzip.body.len() < asset.identity.body.len());
        assert_ne!(gzip.etag, asset.identity.etag);
        assert_ne!(brotli.etag, gzip.etag);
    }

    #[test]
    fn images_are_not_compressed_again() {
        let png = Asset::new(Path::new("logo.png"), vec![0; 4096], None);
        assert!(png.gzip.is_none() && png.brotli.is_none());
        assert_eq!(png.content_type, "image/png");
    }
}
