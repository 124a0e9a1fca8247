//! The web pages of the contract ("Web pages" in `shared/API.md`): `/`, the
//! reference web client (`web/client/`), and `/docs`, Swagger UI over
//! `/openapi.json` (`web/docs/` plus the vendored `web/vendor/swagger-ui/`).
//!
//! Every file is embedded in the binary with `include_bytes!`, so the pages
//! work offline and nothing is fetched from another origin. Each answer
//! carries a strict `Content-Security-Policy` (no inline script anywhere),
//! `X-Content-Type-Options: nosniff` and a content-hash `ETag`; browsers
//! revalidate (`Cache-Control: no-cache`) and get 304 while nothing changed.
//! Swagger UI's two large files also ship gzip-compressed forms.
//! The pages need no token: the client sends its own to the API. Adding a
//! file to `web/client/` means adding it to [`ASSETS`] (a test checks).

use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// The client's policy: everything from this origin, no inline script or
/// style, no plugins, no framing, no `<base>` tricks.
const CLIENT_POLICY: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Swagger UI's policy: as strict, except that its CSS draws icons from
/// `data:` SVGs. It needs no inline style (React sets styles through the
/// CSSOM, which CSP allows); the browser tests fail on any violation.
const DOCS_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const TEXT: &str = "text/plain; charset=utf-8";

/// One embedded file and the paths it answers on. `gzip`: the same bytes
/// compressed (`gzip -9n`, committed beside the file), sent to clients that
/// accept it; only the large Swagger UI files have one.
struct Asset {
    paths: &'static [&'static str],
    content_type: &'static str,
    policy: &'static str,
    body: &'static [u8],
    gzip: Option<&'static [u8]>,
}

macro_rules! web_file {
    ($file:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $file))
    };
}

/// Every embedded file. The client's shell also answers on its other pages
/// (the account page, "forgot password") and on the paths that account
/// emails link to, so those links land on the client.
const ASSETS: &[Asset] = &[
    Asset {
        paths: &[
            "/",
            "/account",
            "/forgot-password",
            "/reset-password",
            "/verify-email",
        ],
        content_type: HTML,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/index.html"),
    },
    Asset {
        paths: &["/client/app.css"],
        content_type: CSS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/app.css"),
    },
    Asset {
        paths: &["/client/favicon.svg"],
        content_type: SVG,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/favicon.svg"),
    },
    Asset {
        paths: &["/client/js/main.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/main.js"),
    },
    Asset {
        paths: &["/client/js/api.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/api.js"),
    },
    Asset {
        paths: &["/client/js/session.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/session.js"),
    },
    Asset {
        paths: &["/client/js/dom.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/dom.js"),
    },
    Asset {
        paths: &["/client/js/announce.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/announce.js"),
    },
    Asset {
        paths: &["/client/js/auth-view.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/auth-view.js"),
    },
    Asset {
        paths: &["/client/js/tasks-view.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/tasks-view.js"),
    },
    Asset {
        paths: &["/client/js/nav.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/nav.js"),
    },
    Asset {
        paths: &["/client/js/account-view.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/account-view.js"),
    },
    Asset {
        paths: &["/client/js/recovery-view.js"],
        content_type: JS,
        policy: CLIENT_POLICY,
        gzip: None,
        body: web_file!("client/js/recovery-view.js"),
    },
    Asset {
        paths: &["/docs", "/docs/"],
        content_type: HTML,
        policy: DOCS_POLICY,
        gzip: None,
        body: web_file!("docs/index.html"),
    },
    Asset {
        paths: &["/docs/init.js"],
        content_type: JS,
        policy: DOCS_POLICY,
        gzip: None,
        body: web_file!("docs/init.js"),
    },
    Asset {
        paths: &["/docs/docs.css"],
        content_type: CSS,
        policy: DOCS_POLICY,
        gzip: None,
        body: web_file!("docs/docs.css"),
    },
    Asset {
        paths: &["/docs/swagger-ui/swagger-ui-bundle.js"],
        content_type: JS,
        policy: DOCS_POLICY,
        body: web_file!("vendor/swagger-ui/swagger-ui-bundle.js"),
        gzip: Some(web_file!("vendor/swagger-ui/swagger-ui-bundle.js.gz")),
    },
    Asset {
        paths: &["/docs/swagger-ui/swagger-ui.css"],
        content_type: CSS,
        policy: DOCS_POLICY,
        body: web_file!("vendor/swagger-ui/swagger-ui.css"),
        gzip: Some(web_file!("vendor/swagger-ui/swagger-ui.css.gz")),
    },
    Asset {
        paths: &["/docs/swagger-ui/LICENSE"],
        content_type: TEXT,
        policy: DOCS_POLICY,
        gzip: None,
        body: web_file!("vendor/swagger-ui/LICENSE"),
    },
    Asset {
        paths: &["/docs/swagger-ui/NOTICE"],
        content_type: TEXT,
        policy: DOCS_POLICY,
        gzip: None,
        body: web_file!("vendor/swagger-ui/NOTICE"),
    },
    Asset {
        paths: &["/docs/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"],
        content_type: TEXT,
        policy: DOCS_POLICY,
        gzip: None,
        body: web_file!("vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"),
    },
];

/// An asset with the `ETag`s of its two forms, hashed on first request
/// (not at start-up: Swagger UI is 1.7 MB and most starts never serve it).
struct Served {
    asset: &'static Asset,
    etag: OnceLock<HeaderValue>,
    gzip_etag: OnceLock<HeaderValue>,
}

fn content_etag(bytes: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
}

impl Served {
    fn answer(&self, request: &HeaderMap) -> Response {
        let gzip = self.asset.gzip.filter(|_| accepts_gzip(request));
        let (body, etag) = match gzip {
            Some(bytes) => (bytes, self.gzip_etag.get_or_init(|| content_etag(bytes))),
            None => (
                self.asset.body,
                self.etag.get_or_init(|| content_etag(self.asset.body)),
            ),
        };
        let fresh = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .any(|value| none_match_hits(value, etag));
        let mut response = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(self.asset.content_type),
                )],
                body,
            )
                .into_response()
        };
        let headers = response.headers_mut();
        if self.asset.gzip.is_some() {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        if gzip.is_some() {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        headers.insert(header::ETAG, etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(self.asset.policy),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }
}

/// Whether `Accept-Encoding` allows gzip (by name or `*`, with q > 0).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Whether one `If-None-Match` header value names `etag` (weak comparison,
/// RFC 9110 §13.1.2) or is `*`.
fn none_match_hits(value: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let ours = etag.as_bytes();
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
}

/// The routes of the web pages, for `Router::merge`. Generic over the
/// state so they merge into any router; they use none of it.
pub(crate) fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut router = Router::new();
    for asset in ASSETS {
        let served = Arc::new(Served {
            asset,
            etag: OnceLock::new(),
            gzip_etag: OnceLock::new(),
        });
        for path in asset.paths {
            let served = Arc::clone(&served);
            router = router.route(
                path,
                get(move |headers: HeaderMap| async move { served.answer(&headers) }),
            );
        }
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use std::path::{Path, PathBuf};
    use tower::ServiceExt;

    async fn get_page(path: &str, if_none_match: Option<&str>) -> Response {
        get_with(path, if_none_match, None).await
    }

    async fn get_with(
        path: &str,
        if_none_match: Option<&str>,
        accept_encoding: Option<&str>,
    ) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        if let Some(codings) = accept_encoding {
            request = request.header(header::ACCEPT_ENCODING, codings);
        }
        routes::<()>()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header_of(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn web_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
    }

    fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(&path, found);
            } else {
                found.push(path);
            }
        }
    }

    #[test]
    fn every_file_of_the_client_and_the_docs_page_is_served() {
        let mut files = Vec::new();
        files_under(&web_dir().join("client"), &mut files);
        files_under(&web_dir().join("docs"), &mut files);
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                ASSETS.iter().any(|asset| asset.body == bytes.as_slice()),
                "{} is not in web.rs' ASSETS",
                file.display()
            );
        }
    }

    #[tokio::test]
    async fn the_client_shell_answers_on_its_pages_with_a_strict_policy() {
        for path in [
            "/",
            "/account",
            "/forgot-password",
            "/reset-password",
            "/verify-email",
        ] {
            let response = get_page(path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header_of(&response, header::CONTENT_TYPE), HTML);
            assert_eq!(
                header_of(&response, header::X_CONTENT_TYPE_OPTIONS),
                "nosniff"
            );
            let policy = header_of(&response, header::CONTENT_SECURITY_POLICY);
            assert!(policy.starts_with("default-src 'self';"), "{policy}");
            assert!(!policy.contains("unsafe"), "{policy}");
        }
    }

    #[tokio::test]
    async fn the_docs_page_allows_nothing_inline() {
        let response = get_page("/docs", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let policy = header_of(&response, header::CONTENT_SECURITY_POLICY);
        assert!(policy.starts_with("default-src 'self';"), "{policy}");
        assert!(!policy.contains("script-src"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        let bundle = get_page("/docs/swagger-ui/swagger-ui-bundle.js", None).await;
        assert_eq!(header_of(&bundle, header::CONTENT_TYPE), JS);
    }

    #[test]
    fn no_page_has_an_inline_script_or_event_handler() {
        let inline_handler = |html: &str| {
            html.split(|c: char| c.is_whitespace())
                .any(|word| word.starts_with("on") && word.contains('='))
        };
        for asset in ASSETS.iter().filter(|a| a.content_type == HTML) {
            let html = std::str::from_utf8(asset.body).unwrap();
            for tag in html.split("<script").skip(1) {
                let open = &tag[..tag.find('>').unwrap()];
                assert!(open.contains(" src="), "inline script in {:?}", asset.paths);
                assert!(tag[open.len() + 1..].starts_with("</script>"));
            }
            assert!(
                !html.contains("<style"),
                "inline style in {:?}",
                asset.paths
            );
            assert!(!inline_handler(html), "event handler in {:?}", asset.paths);
        }
    }

    #[tokio::test]
    async fn an_unchanged_file_is_not_sent_again() {
        let first = get_page("/client/js/main.js", None).await;
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(header_of(&first, header::CACHE_CONTROL), "no-cache");
        let etag = header_of(&first, header::ETAG).to_owned();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");

        let again = get_page("/client/js/main.js", Some(&format!("W/{etag}, \"x\""))).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header_of(&again, header::ETAG), etag);
        let body = again.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty());

        let stale = get_page("/client/js/main.js", Some("\"0123\"")).await;
        assert_eq!(stale.status(), StatusCode::OK);
        let other = get_page("/client/js/api.js", Some(&etag)).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn swagger_ui_is_sent_compressed_to_clients_that_accept_gzip() {
        let path = "/docs/swagger-ui/swagger-ui-bundle.js";
        let plain = get_with(path, None, None).await;
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(header_of(&plain, header::VARY), "accept-encoding");
        let plain_etag = header_of(&plain, header::ETAG).to_owned();
        let plain_body = plain.into_body().collect().await.unwrap().to_bytes();
        assert!(plain_body.starts_with(b"/*!"), "plain JavaScript");

        let packed = get_with(path, None, Some("br, gzip;q=0.8")).await;
        assert_eq!(header_of(&packed, header::CONTENT_ENCODING), "gzip");
        assert_eq!(header_of(&packed, header::CONTENT_TYPE), JS);
        let packed_etag = header_of(&packed, header::ETAG).to_owned();
        assert_ne!(packed_etag, plain_etag, "each form has its own ETag");
        let packed_body = packed.into_body().collect().await.unwrap().to_bytes();
        assert!(packed_body.starts_with(&[0x1f, 0x8b]), "a gzip stream");
        assert!(packed_body.len() * 3 < plain_body.len());

        let refused = get_with(path, None, Some("gzip;q=0, identity")).await;
        assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
        let again = get_with(path, Some(&packed_etag), Some("gzip")).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let small = get_with("/client/js/api.js", None, Some("gzip")).await;
        assert!(small.headers().get(header::CONTENT_ENCODING).is_none());
    }

    /// The committed `.gz` files must be the current files compressed; an
    /// upgrade that forgets them would serve the old Swagger UI to browsers.
    #[test]
    fn every_compressed_form_holds_the_same_bytes() {
        for asset in ASSETS {
            let Some(packed) = asset.gzip else { continue };
            let mut gunzip = std::process::Command::new("gzip")
                .args(["-dc"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("gzip is installed");
            let mut stdin = gunzip.stdin.take().unwrap();
            let writer = std::thread::spawn(move || {
                std::io::Write::write_all(&mut stdin, packed).unwrap();
            });
            let output = gunzip.wait_with_output().unwrap();
            writer.join().unwrap();
            assert!(output.status.success());
            assert!(
                output.stdout == asset.body,
                "the .gz of {:?} is stale: run gzip -9nkf on it",
                asset.paths
            );
        }
    }
}
