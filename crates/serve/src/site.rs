//! The tracking site's embedded assets.
//!
//! The page is built from `web/src` by `web/build.sh` (vite) into `web/dist`, which is
//! committed: these bytes are compiled in, so building needs neither Node nor the network.
//! `/assets/<file>` serves a file of the bundle (404 for anything else under `/assets/`);
//! every other path gets the page, which routes itself from `location.hash`. Every answer
//! carries a Content-Security-Policy that allows only this origin: the bundle has no inline
//! script or style, loads no font and talks to nothing but the same-origin API.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256};

/// Only this origin; WebGL (sigma) needs nothing beyond it. `img-src data:` covers the
/// images a canvas may produce; nothing is framed, nothing posts elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// One file of the bundle.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// The page every non-asset path answers with.
pub const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../web/dist/index.html"),
};

/// The files under `/assets/` (names fixed by `web/vite.config.js`, no content hashes).
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/dist/assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/dist/assets/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../web/dist/assets/favicon.svg"),
    },
];

/// Serves the site's files; unknown paths get the page (it routes itself).
pub fn router() -> Router {
    Router::new().fallback(serve)
}

async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    respond(&method, uri.path(), if_none_match)
}

/// The answer to `method path`: what [`router`] sends, without the HTTP plumbing.
pub fn respond(method: &Method, path: &str, if_none_match: Option<&str>) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if path == "/api" || path.starts_with("/api/") {
        // The API router answers its own paths; one that reaches the site is unknown.
        let body = serde_json::json!({"error": {"status": 404, "code": "not_found",
            "message": format!("no API endpoint at {path}")}});
        let mut r = (StatusCode::NOT_FOUND, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return r;
    }
    let asset = match path.strip_prefix("/assets/") {
        Some(name) => match ASSETS.iter().find(|a| a.name == name) {
            Some(a) => a,
            None => return plain(StatusCode::NOT_FOUND, "no such asset\n"),
        },
        None => &INDEX,
    };
    let etag = etag_of(asset);
    let mut r = if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = if method == Method::HEAD {
            ().into_response()
        } else {
            asset.body.into_response()
        };
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    // Fixed names: always revalidate (cheap with the ETag) so a new build shows at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(h);
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure(r.headers_mut());
    r
}

fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A strong ETag per file: the first 16 bytes of its SHA-256, computed once.
fn etag_of(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS.iter())
            .map(|a| {
                let d = Sha256::digest(a.body);
                (a.name, format!("\"{}\"", hex::encode(&d[..16])))
            })
            .collect()
    });
    tags.iter()
        .find(|(n, _)| *n == asset.name)
        .map(|(_, t)| t.as_str())
        .unwrap_or("\"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: Response) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
            .unwrap()
            .to_vec()
    }

    fn get(path: &str) -> Response {
        respond(&Method::GET, path, None)
    }

    fn header_of(r: &Response, h: header::HeaderName) -> &str {
        r.headers().get(h).unwrap().to_str().unwrap()
    }

    #[test]
    fn the_page_answers_every_non_asset_path() {
        for path in ["/", "/incident/coincheck-2018", "/favicon.ico", "/x/y/z"] {
            let r = get(path);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(
                header_of(&r, header::CONTENT_TYPE),
                "text/html; charset=utf-8"
            );
            assert!(header_of(&r, header::CONTENT_SECURITY_POLICY).contains("default-src 'self'"));
            let html = String::from_utf8(body(r)).unwrap();
            assert!(html.contains("/assets/app.js"), "{html}");
            assert!(html.contains("/assets/app.css"), "{html}");
        }
    }

    #[test]
    fn assets_have_their_types_and_unknown_ones_are_404() {
        for (path, ty) in [
            ("/assets/app.js", "text/javascript; charset=utf-8"),
            ("/assets/app.css", "text/css; charset=utf-8"),
            ("/assets/favicon.svg", "image/svg+xml"),
        ] {
            let r = get(path);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(header_of(&r, header::CONTENT_TYPE), ty, "{path}");
            assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
            assert!(!body(r).is_empty(), "{path}");
        }
        for path in ["/assets/nope.js", "/assets/", "/assets/../index.html"] {
            let r = get(path);
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn the_bundle_loads_nothing_from_elsewhere() {
        let html = std::str::from_utf8(INDEX.body).unwrap();
        assert!(!html.contains("http://") && !html.contains("https://"));
        // No inline script: the CSP would refuse it.
        assert!(!html.contains("<script>") && !html.contains("<style"));
        for a in ASSETS.iter().filter(|a| a.name != "favicon.svg") {
            let text = std::str::from_utf8(a.body).unwrap();
            let outside = text
                .match_indices("http")
                .map(|(i, _)| &text[i..(i + 40).min(text.len())])
                .filter(|s| !s.starts_with("http://www.w3.org/"))
                .filter(|s| s.starts_with("http://") || s.starts_with("https://"))
                .collect::<Vec<_>>();
            assert!(outside.is_empty(), "{}: {outside:?}", a.name);
        }
    }

    /// `web/build.sh` records what it built from; an edit to `web/src` without a rebuild
    /// would ship a stale page.
    #[test]
    fn the_bundle_is_built_from_the_current_sources() {
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut files = vec![web.join("build.mjs"), web.join("package-lock.json")];
        walk(&web.join("src"), &mut files);
        let mut lines: Vec<String> = files
            .iter()
            .map(|f| {
                let rel = f.strip_prefix(&web).unwrap().to_str().unwrap();
                let sum = hex::encode(Sha256::digest(std::fs::read(f).unwrap()));
                format!("{sum}  {}\n", rel.replace('\\', "/"))
            })
            .collect();
        lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
        let recorded = std::fs::read_to_string(web.join("dist/SOURCES.sha256")).unwrap();
        assert_eq!(
            lines.concat(),
            recorded,
            "crates/serve/web/src changed since the bundle was built: run crates/serve/web/build.sh"
        );
    }

    #[test]
    fn etags_revalidate_and_other_methods_are_refused() {
        let r = get("/assets/app.js");
        let tag = header_of(&r, header::ETAG).to_owned();
        let again = respond(&Method::GET, "/assets/app.js", Some(&tag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(body(again).is_empty());
        let head = respond(&Method::HEAD, "/", None);
        assert_eq!(head.status(), StatusCode::OK);
        assert!(body(head).is_empty());
        let post = respond(&Method::POST, "/", None);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        let api = get("/api/v1/nope");
        assert_eq!(api.status(), StatusCode::NOT_FOUND);
        assert_eq!(header_of(&api, header::CONTENT_TYPE), "application/json");
    }
}
