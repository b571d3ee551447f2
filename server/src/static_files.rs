//! Serving a built single-page app (`--static-dir`), so one process can host page and endpoints.
//!
//! Deliberately small: GET and HEAD only, files under the folder only (no `..`, no hidden files), a
//! content type from the extension, and `index.html` for any path without a file extension so
//! client-side routes such as `/typed-chat` load on reload. Paths under `/api/`, `/ws/` and
//! `/sse/` are never the app: an endpoint that is not mounted (the dev login without
//! `--dev-login`) answers 404, not the page.

use std::path::{Component, Path, PathBuf};

use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The response for `method uri` from the app folder `dir`.
pub async fn serve(dir: PathBuf, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::NOT_FOUND.into_response();
    }
    if ["/api/", "/ws/", "/sse/"]
        .iter()
        .any(|prefix| uri.path().starts_with(prefix))
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(relative) = safe_relative(uri.path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let wants_file = relative.extension().is_some();
    let path = if relative.as_os_str().is_empty() || !wants_file {
        dir.join("index.html")
    } else {
        dir.join(&relative)
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The request path as a relative path inside the folder, or `None` if it tries to leave it.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_folder_or_reach_hidden_files_are_refused() {
        assert_eq!(safe_relative("/app.js"), Some(PathBuf::from("app.js")));
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        assert_eq!(
            safe_relative("/typed-chat"),
            Some(PathBuf::from("typed-chat"))
        );
        assert_eq!(safe_relative("/../etc/passwd"), None);
        assert_eq!(safe_relative("/a/../../b"), None);
        assert_eq!(safe_relative("/.git/config"), None);
    }

    #[tokio::test]
    async fn files_get_their_type_and_routes_fall_back_to_index() {
        let dir = std::env::temp_dir().join(format!("realtime-static-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("index.html"), "<html>app</html>").expect("index");
        std::fs::write(dir.join("app.wasm"), [0, 97, 115, 109]).expect("wasm");
        let get = |uri: &'static str| serve(dir.clone(), Method::GET, Uri::from_static(uri));
        let index = get("/cursors").await;
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let wasm = get("/app.wasm").await;
        assert_eq!(wasm.headers()[header::CONTENT_TYPE], "application/wasm");
        let missing = get("/missing.js").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        // An endpoint that is not mounted is not the app, whatever the method.
        assert_eq!(get("/api/dev/login").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get("/ws/unknown").await.status(), StatusCode::NOT_FOUND);
        let post = serve(dir.clone(), Method::POST, Uri::from_static("/cursors")).await;
        assert_eq!(post.status(), StatusCode::NOT_FOUND);
        std::fs::remove_dir_all(&dir).ok();
    }
}
