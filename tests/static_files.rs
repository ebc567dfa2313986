//! Static files served from memory: fingerprints and caching, ETags, encodings, types, 404s.

mod common;

use std::io::Read;
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::{TestApp, TestDb, write_files};
use http_body_util::BodyExt;
use pathway::AppState;
use pathway::config::Settings;
use pathway::content::Catalog;
use tower::ServiceExt;

/// The router's answer with the body as bytes (compressed bodies are not text).
async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = pathway::router(state.clone()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

async fn get(
    state: &AppState,
    path: &str,
    headers: &[(header::HeaderName, &str)],
) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    send(state, request.body(Body::empty()).unwrap()).await
}

fn stylesheet() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("static/style.css")).unwrap()
}

/// An app over an empty content directory and the given static directory.
async fn app_with_static(static_dir: &Path) -> (TestDb, AppState) {
    let content = tempfile::tempdir().unwrap();
    let db = TestDb::new().await;
    let catalog = Catalog::load(&db.pool).await.unwrap();
    let settings = Settings {
        content_dir: content.path().to_path_buf(),
        ..Settings::default()
    };
    let state = AppState::new(db.pool.clone(), catalog, static_dir, settings);
    (db, state)
}

#[tokio::test]
async fn only_urls_with_the_current_fingerprint_are_immutable() {
    let app = TestApp::with_default_content().await;
    let version = app.state.assets.version.clone();
    let immutable = "public, max-age=31536000, immutable";
    for (path, expected) in [
        (format!("/static/style.css?v={version}"), immutable),
        (format!("/static/progress.js?x=1&v={version}"), immutable),
        ("/static/style.css".to_string(), "public, no-cache"),
        // Another instance's fingerprint (a rolling deploy): these bytes may not be its.
        ("/static/style.css?v=0123456789ab".to_string(), "public, no-cache"),
    ] {
        let (status, headers, _) = get(&app.state, &path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CACHE_CONTROL], expected, "{path}");
    }
    // A 404 under /static/ is not cached for a year.
    let (status, headers, _) = get(&app.state, &format!("/static/missing.css?v={version}"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        headers
            .get(header::CACHE_CONTROL)
            .is_none_or(|v| !v.to_str().unwrap().contains("immutable"))
    );
}

#[tokio::test]
async fn a_matching_etag_gets_304_without_a_body() {
    let app = TestApp::with_default_content().await;
    let href = format!("/static/style.css?v={}", app.state.assets.version);
    let (status, headers, body) = get(&app.state, &href, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, stylesheet());
    let etag = headers[header::ETAG].to_str().unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong ETag: {etag}"
    );

    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let (status, headers, body) = get(&app.state, &href, &[(header::IF_NONE_MATCH, &tag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "If-None-Match: {tag}");
        assert!(body.is_empty());
        assert_eq!(headers[header::ETAG], etag.as_str());
        assert!(
            headers[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(
            headers[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "security headers on 304s too"
        );
    }

    let (status, _, body) = get(&app.state, &href, &[(header::IF_NONE_MATCH, "\"stale\"")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, stylesheet());

    // The gzip form is other bytes, so the plain form's tag does not stand for it.
    let (status, headers, _) = get(
        &app.state,
        &href,
        &[(header::IF_NONE_MATCH, &etag), (header::ACCEPT_ENCODING, "gzip")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let gzip_etag = headers[header::ETAG].to_str().unwrap().to_string();
    assert_ne!(gzip_etag, etag);
    let (status, _, _) = get(
        &app.state,
        &href,
        &[
            (header::IF_NONE_MATCH, &gzip_etag),
            (header::ACCEPT_ENCODING, "gzip"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    // Without If-None-Match, If-Modified-Since at the Last-Modified date is a 304 too.
    let last_modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_string();
    let (status, _, _) = get(&app.state, &href, &[(header::IF_MODIFIED_SINCE, &last_modified)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, _) = get(
        &app.state,
        &href,
        &[(header::IF_MODIFIED_SINCE, "Thu, 01 Jan 1970 00:00:00 GMT")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn gzip_and_brotli_when_accepted_always_with_vary() {
    let app = TestApp::with_default_content().await;
    let href = format!("/static/style.css?v={}", app.state.assets.version);
    let plain = stylesheet();

    let (status, headers, body) = get(&app.state, &href, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key(header::CONTENT_ENCODING));
    assert_eq!(headers[header::CONTENT_LENGTH], plain.len().to_string().as_str());
    assert_eq!(body, plain);
    assert_eq!(headers.get_all(header::VARY).iter().count(), 1);
    assert_eq!(headers[header::VARY], "accept-encoding");

    let (status, headers, body) = get(&app.state, &href, &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(
        headers.get_all(header::VARY).iter().count(),
        1,
        "one Vary, not one per layer"
    );
    assert_eq!(headers[header::VARY], "accept-encoding");
    assert_eq!(headers[header::CONTENT_TYPE], "text/css");
    assert_eq!(headers[header::CONTENT_LENGTH], body.len().to_string().as_str());
    assert!(body.len() < plain.len() / 2, "compressed: {} bytes", body.len());
    // Compressed once: decoding once gives the file.
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);

    let (_, headers, body) = get(
        &app.state,
        &href,
        &[(header::ACCEPT_ENCODING, "gzip, deflate, br")],
    )
    .await;
    assert_eq!(headers[header::CONTENT_ENCODING], "br");
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);

    let (_, headers, _) = get(&app.state, &href, &[(header::ACCEPT_ENCODING, "br;q=0.1, gzip")]).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let (_, headers, body) = get(
        &app.state,
        &href,
        &[(header::ACCEPT_ENCODING, "gzip;q=0, br;q=0")],
    )
    .await;
    assert!(!headers.contains_key(header::CONTENT_ENCODING));
    assert_eq!(body, plain);
}

#[tokio::test]
async fn content_types_follow_the_file_names() {
    let app = TestApp::with_default_content().await;
    let v = &app.state.assets.version;
    for (file, expected) in [
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
        ("progress.js", "javascript"),
    ] {
        let (status, headers, _) = get(&app.state, &format!("/static/{file}?v={v}"), &[]).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        let content_type = headers[header::CONTENT_TYPE].to_str().unwrap();
        assert!(content_type.contains(expected), "{file}: {content_type}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}

#[tokio::test]
async fn unknown_files_are_the_designed_404_page() {
    let app = TestApp::with_default_content().await;
    for path in [
        "/static/missing.css",
        "/static/",
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/STYLE.CSS",
    ] {
        let (status, headers, body) = get(&app.state, path, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{path}"
        );
        assert!(String::from_utf8_lossy(&body).contains("Error 404"), "{path}");
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY), "{path}");
    }
    let request = Request::post("/static/style.css").body(Body::empty()).unwrap();
    let (status, headers, _) = send(&app.state, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
}

#[tokio::test]
async fn head_answers_the_headers_of_get_without_the_body() {
    let app = TestApp::with_default_content().await;
    let href = format!("/static/style.css?v={}", app.state.assets.version);
    for encoding in ["", "gzip"] {
        let (_, get_headers, get_body) = get(&app.state, &href, &[(header::ACCEPT_ENCODING, encoding)]).await;
        let request = Request::builder()
            .method(Method::HEAD)
            .uri(&href)
            .header(header::ACCEPT_ENCODING, encoding)
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = send(&app.state, request).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_empty());
        assert_eq!(
            headers[header::CONTENT_LENGTH],
            get_body.len().to_string().as_str()
        );
        for name in [
            header::CONTENT_TYPE,
            header::ETAG,
            header::CACHE_CONTROL,
            header::VARY,
        ] {
            assert_eq!(headers.get(&name), get_headers.get(&name), "{name}");
        }
        assert_eq!(
            headers.get(header::CONTENT_ENCODING),
            get_headers.get(header::CONTENT_ENCODING)
        );
    }
}

#[tokio::test]
async fn the_directory_is_read_once_at_start_up_with_sub_directories() {
    let dir = tempfile::tempdir().unwrap();
    let css = "main { margin: 0 auto; }\n".repeat(100);
    write_files(
        dir.path(),
        &[
            ("site.css", css.as_str()),
            ("fonts/readme.txt", "plain text, compressible too\n"),
        ],
    );
    std::fs::write(
        dir.path().join("logo.png"),
        [0x89, b'P', b'N', b'G', 0, 0, 0, 0].repeat(64),
    )
    .unwrap();
    let (_db, state) = app_with_static(dir.path()).await;
    let version = state.assets.version.clone();
    // Served from memory: the files can go (or change) without affecting what is served.
    drop(dir);

    let (status, headers, body) = get(&state, &format!("/static/site.css?v={version}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/css");
    assert_eq!(body, css.as_bytes());

    let (status, headers, body) = get(&state, "/static/fonts/readme.txt", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(body, "plain text, compressible too\n".as_bytes());

    // Images are compressed already: sent as they are, whatever the client accepts.
    let (status, headers, body) = get(
        &state,
        "/static/logo.png",
        &[(header::ACCEPT_ENCODING, "gzip, br")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert!(!headers.contains_key(header::CONTENT_ENCODING));
    assert_eq!(body.len(), 8 * 64);

    // Another directory's files give another fingerprint.
    let other = tempfile::tempdir().unwrap();
    write_files(other.path(), &[("site.css", "main { margin: 1px; }\n")]);
    let (_db2, other_state) = app_with_static(other.path()).await;
    assert_ne!(other_state.assets.version, version);
}
