//! Signing in: the session (a signed token and who it names), its HTTP calls, and the sign-in
//! screen.
//!
//! The app asks its login URL (`config::AUTH_LOGIN`, the dev server's `POST /api/dev/login` by
//! default) for a token: `POST {name}` → `{token, expiresAt, userId, name, publish?}`; with the
//! current token as `Authorization: Bearer` the same user is renewed (same `userId`). The
//! session lives in `sessionStorage` (one per tab, gone when the tab closes) and every
//! connection gets its token from [`Session`] through a `realtime_hooks::TokenSource`.
//!
//! To plug in a real identity provider, have its backend answer the same call (or change
//! [`login`]) and issue the same JWT claims (`docs/protocol.md`, "Tokens"); nothing else in the
//! app changes. The HTTP calls use `gloo-net`.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_net::http::Request;
use gloo_timers::callback::Timeout;
use realtime_hooks::TokenSource;
use serde::{Deserialize, Serialize};
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// `sessionStorage` key of the session.
const STORAGE_KEY: &str = "realtime.session";
/// `sessionStorage` key of the name last signed in with (also kept when the server runs open).
const NAME_KEY: &str = "realtime.name";

/// The name this tab last signed in with, if any: a later page load in the tab signs in (or,
/// on a server without sign-in, connects) under it again without asking.
pub fn remembered_name() -> Option<String> {
    storage()?
        .get_item(NAME_KEY)
        .ok()?
        .filter(|n| !n.trim().is_empty())
}

fn remember_name(name: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(NAME_KEY, name);
    }
}

fn forget_name() {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(NAME_KEY);
    }
}

/// A signed-in user: the token and what it says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The signed token (a JWT), sent as `?token=` or `Authorization: Bearer`.
    pub token: String,
    /// When the token expires, ms since the epoch.
    pub expires_at: f64,
    /// The user id the server knows this user by.
    pub user_id: String,
    /// The signed display name.
    pub name: String,
    /// Whether the token may publish notifications.
    #[serde(default)]
    pub publish: bool,
}

impl Session {
    /// Milliseconds left before the token expires (negative once it has).
    pub fn ms_left(&self) -> f64 {
        self.expires_at - js_sys::Date::now()
    }

    /// The session this tab signed in with, if any.
    pub fn load() -> Option<Self> {
        let text = storage()?.get_item(STORAGE_KEY).ok()??;
        serde_json::from_str(&text).ok()
    }

    /// Keeps the session for this tab (a reload stays signed in).
    pub fn save(&self) {
        if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(self)) {
            // A full or disabled storage only costs the reload; the session still works.
            let _ = storage.set_item(STORAGE_KEY, &text);
        }
    }

    /// Forgets the stored session (sign out).
    pub fn clear() {
        if let Some(storage) = storage() {
            let _ = storage.remove_item(STORAGE_KEY);
        }
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// Why signing in did not work.
#[derive(Clone, Debug, PartialEq)]
pub enum LoginError {
    /// The login URL answered 404 or 405, or an HTML page (a static server's fallback): the
    /// server has no login and runs open.
    NotOffered,
    /// The server refused the name (400) or the call (other status), in its words.
    Refused(String),
    /// The network failed (server down, CORS).
    Network(String),
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotOffered => f.write_str("this server offers no sign-in"),
            Self::Refused(why) => write!(f, "sign-in refused: {why}"),
            Self::Network(why) => write!(f, "could not reach the server: {why}"),
        }
    }
}

/// Signs in as `name` at `url`; with `current`, renews that session (same user id).
pub async fn login(
    url: &str,
    name: &str,
    current: Option<&Session>,
) -> Result<Session, LoginError> {
    #[derive(Serialize)]
    struct Body<'a> {
        name: &'a str,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    let mut request = Request::post(url);
    if let Some(current) = current {
        request = request.header("Authorization", &format!("Bearer {}", current.token));
    }
    let request = request
        .json(&Body { name })
        .map_err(|e| LoginError::Network(e.to_string()))?;
    let response = request
        .send()
        .await
        .map_err(|e| LoginError::Network(e.to_string()))?;
    // An HTML page instead of JSON is a static server's fallback: no login is mounted there.
    let html = response
        .headers()
        .get("content-type")
        .is_some_and(|t| t.starts_with("text/html"));
    match response.status() {
        200 if html => Err(LoginError::NotOffered),
        200 => response
            .json::<Session>()
            .await
            .map_err(|e| LoginError::Refused(format!("unexpected answer: {e}"))),
        404 | 405 => Err(LoginError::NotOffered),
        status => {
            let message = response
                .json::<ErrorBody>()
                .await
                .ok()
                .and_then(|b| b.message);
            Err(LoginError::Refused(
                message.unwrap_or_else(|| format!("HTTP {status}")),
            ))
        }
    }
}

/// Props of [`SignIn`].
#[derive(Properties, PartialEq)]
pub struct SignInProps {
    /// Called with the name to sign in as.
    pub on_submit: Callback<String>,
    /// What went wrong with the last try, if anything.
    #[prop_or_default]
    pub error: Option<AttrValue>,
    /// A request is under way (the button waits).
    #[prop_or_default]
    pub busy: bool,
}

/// The sign-in screen: a name field and a button.
#[component]
pub fn SignIn(props: &SignInProps) -> Html {
    let input = use_node_ref();
    let style = crate::scoped!(
        "stylist-signin",
        r#"
        max-width: 26rem; margin: 3rem auto; display: flex; flex-direction: column; gap: 0.9rem;
        form { display: flex; gap: 0.5rem; flex-wrap: wrap; }
        input { flex: 1 1 12rem; min-width: 0; }
        .error { color: var(--bad); margin: 0; }
        .hint { color: var(--muted); margin: 0; font-size: 0.9rem; }
        "#
    );
    let onsubmit = {
        let (input, on_submit) = (input.clone(), props.on_submit.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(field) = input.cast::<HtmlInputElement>() {
                let name = field.value().trim().to_owned();
                if !name.is_empty() {
                    on_submit.emit(name);
                }
            }
        })
    };
    html! {
        <section class={classes!("page", "sign-in", crate::styles::page(), style)} aria-labelledby="sign-in-title">
            <h1 id="sign-in-title">{ "Sign in" }</h1>
            <p class="hint">{ "Choose the name the others will see. This preview signs you in with the dev server's login; your app can use its own." }</p>
            <form {onsubmit}>
                <label for="sign-in-name" class="visually-hidden">{ "Your name" }</label>
                <input id="sign-in-name" ref={input} type="text" maxlength="32" autocomplete="nickname"
                    placeholder="Your name" required=true />
                <button type="submit" disabled={props.busy}>{ if props.busy { "Signing in…" } else { "Sign in" } }</button>
            </form>
            if let Some(error) = &props.error {
                <p class="error" role="alert">{ error.clone() }</p>
            }
        </section>
    }
}

/// Where the app stands with signing in.
#[derive(Clone, Debug, PartialEq)]
pub enum SignInState {
    /// Signing in from `?name=` (a link such as `/cursors?name=Ada`).
    Starting,
    /// The sign-in screen, with the last error and whether a request is under way.
    SignedOut {
        /// What went wrong with the last try.
        error: Option<String>,
        /// A sign-in request is under way.
        busy: bool,
    },
    /// Signed in: pages connect with this session's token.
    SignedIn(Session),
    /// No sign-in: the app has no login URL, or the server offers none (it runs open).
    Open,
}

/// What [`use_session`] gives the shell.
#[derive(Clone, PartialEq)]
pub struct UseSession {
    /// Where signing in stands.
    pub state: SignInState,
    /// Signs in as the given name.
    pub sign_in: Callback<String>,
    /// Signs out (forgets the stored session).
    pub sign_out: Callback<()>,
    /// The token source for the `RealtimeProvider` while signed in.
    pub token: Option<TokenSource>,
}

/// The app's session against `login_url` (empty: [`SignInState::Open`] at once).
///
/// Starts from the session this tab stored, else signs in from `requested_name` (the page's
/// `?name=`) or the name this tab last used, else shows the sign-in screen. While signed in, the token is renewed shortly before it expires (a minute
/// before, or at 80 % of a shorter life), and the token source renews it at once when a
/// connection was refused with it (4001, or a handshake refused: a server restarted with a new
/// secret). A server whose login answers 404 runs open: the app goes on without tokens.
#[hook]
pub fn use_session(login_url: &'static str, requested_name: Option<String>) -> UseSession {
    let requested_name = requested_name.or_else(remembered_name);
    let current: Rc<RefCell<Option<Session>>> = use_mut_ref(|| None);
    let state = {
        let current = current.clone();
        let requested = requested_name.clone();
        use_state(move || {
            if login_url.is_empty() {
                return SignInState::Open;
            }
            if let Some(session) = Session::load() {
                *current.borrow_mut() = Some(session.clone());
                return SignInState::SignedIn(session);
            }
            match requested {
                Some(_) => SignInState::Starting,
                None => SignInState::SignedOut {
                    error: None,
                    busy: false,
                },
            }
        })
    };
    let signed_in = {
        let (current, state) = (current.clone(), state.clone());
        Callback::from(move |session: Session| {
            session.save();
            *current.borrow_mut() = Some(session.clone());
            state.set(SignInState::SignedIn(session));
        })
    };
    let sign_in = {
        let (state, signed_in) = (state.clone(), signed_in.clone());
        Callback::from(move |name: String| {
            remember_name(&name);
            state.set(SignInState::SignedOut {
                error: None,
                busy: true,
            });
            let (state, signed_in) = (state.clone(), signed_in.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match login(login_url, &name, None).await {
                    Ok(session) => signed_in.emit(session),
                    Err(LoginError::NotOffered) => state.set(SignInState::Open),
                    Err(e) => state.set(SignInState::SignedOut {
                        error: Some(e.to_string()),
                        busy: false,
                    }),
                }
            });
        })
    };
    let sign_out = {
        let (current, state) = (current.clone(), state.clone());
        Callback::from(move |()| {
            Session::clear();
            forget_name();
            *current.borrow_mut() = None;
            state.set(SignInState::SignedOut {
                error: None,
                busy: false,
            });
        })
    };
    {
        // A link with `?name=`: sign in as that name once, at start.
        let sign_in = sign_in.clone();
        let starting = *state == SignInState::Starting;
        use_effect_with((), move |_| {
            if let (true, Some(name)) = (starting, requested_name) {
                sign_in.emit(name);
            }
        });
    }
    let token = {
        let (current, signed_in) = (current.clone(), signed_in.clone());
        use_memo((), move |_| {
            TokenSource::new(move |request| {
                let (current, signed_in) = (current.clone(), signed_in.clone());
                async move {
                    let session = current.borrow().clone().ok_or("signed out")?;
                    if !request.refresh && session.ms_left() > 30_000.0 {
                        return Ok(session.token);
                    }
                    let renewed = login(login_url, &session.name, Some(&session))
                        .await
                        .map_err(|e| e.to_string())?;
                    let token = renewed.token.clone();
                    signed_in.emit(renewed);
                    Ok(token)
                }
            })
        })
    };
    {
        // Renew ahead of expiry. Sockets still close with 4001 at the old token's `exp` (the
        // server's rule) and reconnect at once with the renewed one, without a fetch.
        let (current, signed_in) = (current.clone(), signed_in.clone());
        let session = match &*state {
            SignInState::SignedIn(session) => Some(session.clone()),
            _ => None,
        };
        use_effect_with(session, move |session| {
            let timer = session.as_ref().map(|session| {
                let left = session.ms_left().max(0.0);
                let ahead = (left / 5.0).min(60_000.0);
                let delay = (left - ahead).clamp(1_000.0, f64::from(u32::MAX));
                Timeout::new(delay as u32, move || {
                    let Some(session) = current.borrow().clone() else {
                        return;
                    };
                    wasm_bindgen_futures::spawn_local(async move {
                        // A failed renewal is retried by the token source at the next connect.
                        if let Ok(renewed) = login(login_url, &session.name, Some(&session)).await {
                            signed_in.emit(renewed);
                        }
                    });
                })
            });
            move || drop(timer)
        });
    }
    let token = matches!(*state, SignInState::SignedIn(_)).then(|| (*token).clone());
    UseSession {
        state: (*state).clone(),
        sign_in,
        sign_out,
        token,
    }
}

/// What the pages may know of the session (the notifications page's publish form uses it).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionContext {
    /// The signed-in session, if any.
    pub session: Option<Session>,
    /// Where notifications are published (`POST`).
    pub publish_url: AttrValue,
}
