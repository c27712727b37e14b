//! The pages' own files, embedded in the binary and served by idlog: nothing comes from a CDN.
//! Each is served with its content type and cached for a day (revalidated by `ETag`).

use crate::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// An embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Every embedded file, by the name it is served under (`/assets/{name}`).
const ASSETS: &[Asset] = &[
    Asset {
        name: "idlog.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/idlog.css"),
    },
    Asset {
        name: "idlog.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/idlog.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/icon.svg"),
    },
    Asset {
        name: "person.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/person.svg"),
    },
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/vendor/swagger-ui/swagger-ui.css"),
    },
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/vendor/swagger-ui/swagger-ui-bundle.js"),
    },
    Asset {
        name: "docs.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/docs.js"),
    },
];

/// `GET /assets/{name}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(serve))
}

/// An embedded file's `ETag`: a hash of its bytes, so a new build's file is fetched anew.
fn etag(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..12]))
}

async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return super::error::not_found(headers).await;
    };
    let tag = etag(asset.bytes);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == tag.as_bytes());
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    response
}
