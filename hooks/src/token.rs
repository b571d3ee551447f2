//! `TokenSource`: where every connection under a [`crate::RealtimeProvider`] gets its auth token.
//!
//! Browsers cannot set headers on a WebSocket or an `EventSource`, so the token travels in the
//! URL (`?token=…`, what the dev server and `docs/protocol.md` expect). A token source is an
//! async function, asked before **every** connection attempt of every WebSocket and SSE hook
//! below the provider, so a token that expired or was revoked is never reused:
//!
//! - a close with 4001 ("token expired") asks it again with `refresh: true` and reconnects at
//!   once, without counting a failure; what was queued meanwhile is sent after the new socket
//!   opens (and after the `on_open` listeners, so a page rejoins its rooms first);
//! - an attempt refused before it opened (a page cannot see a handshake's HTTP status, so a 401
//!   looks like this) asks with `refresh: true` and tries again at once, not counted as a
//!   failure, up to `ClosePolicy::max_refreshes` (3) times in a row; then the usual backoff, as
//!   a server that is down fails this way every time;
//! - an SSE stream that ends after it was open (the server ends it at the token's `exp`) is
//!   reopened at once with a fresh URL instead of the browser's retry with the stale one, and
//!   resumes after the last event id.
//!
//! A hook given its own [`crate::connection::UrlSource`] (in its options) uses that instead.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::connection::{UrlRequest, UrlSource};
use crate::core::url::with_query_param;

type TokenFuture = Pin<Box<dyn Future<Output = Result<String, String>>>>;

/// An async function returning the current token; see the module docs.
///
/// Sources compare equal (like [`UrlSource`]): keep the changing state (the session) in a
/// shared cell that the function reads, so a new closure on every render restarts nothing.
///
/// # Example
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use realtime_hooks::{RealtimeProvider, TokenSource};
/// use yew::prelude::*;
///
/// #[component]
/// fn App() -> Html {
///     let token = use_mut_ref(|| "signed-token".to_owned());
///     let source = {
///         let token = token.clone();
///         TokenSource::new(move |request| {
///             let token = token.clone();
///             async move {
///                 if request.refresh {
///                     // Ask your backend for a new one here (gloo-net), then store it.
///                     *token.borrow_mut() = "renewed-token".to_owned();
///                 }
///                 Ok::<_, String>(token.borrow().clone())
///             }
///         })
///     };
///     html! { <RealtimeProvider token={source}>{ "pages" }</RealtimeProvider> }
/// }
/// ```
#[derive(Clone)]
pub struct TokenSource(Rc<dyn Fn(UrlRequest) -> TokenFuture>);

impl TokenSource {
    /// A source from an async function; `Err` counts as a failed attempt (with backoff).
    pub fn new<F, Fut>(source: F) -> Self
    where
        F: Fn(UrlRequest) -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + 'static,
    {
        Self(Rc::new(move |request| Box::pin(source(request))))
    }

    /// Asks for a token.
    pub fn token(&self, request: UrlRequest) -> impl Future<Output = Result<String, String>> {
        (self.0)(request)
    }

    /// The URL source of `endpoint`: the endpoint with `?token=` set to a fresh token.
    pub fn url_source(&self, endpoint: &str) -> UrlSource {
        let source = self.clone();
        let endpoint = endpoint.to_owned();
        UrlSource::with_request(move |request| {
            let token = source.token(request);
            let endpoint = endpoint.clone();
            async move { Ok(with_query_param(&endpoint, "token", &token.await?)) }
        })
    }
}

impl PartialEq for TokenSource {
    /// Always equal: see the type's docs.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSource(..)")
    }
}
