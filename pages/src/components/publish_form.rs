//! The notifications page's publish form: what a signed-in user with the `publish` right posts
//! to `POST /api/notifications` (with `gloo-net`), and what the server answered.

use gloo_net::http::Request;
use serde::Serialize;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Props of [`PublishForm`].
#[derive(Properties, PartialEq)]
pub struct PublishFormProps {
    /// The publish API (`POST`).
    pub url: AttrValue,
    /// The signed-in user's token, sent as `Authorization: Bearer`.
    pub token: AttrValue,
}

/// What the last publish did.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Idle,
    Sending,
    Sent,
    Failed(String),
}

/// Posts one notification: `Ok` on 202, else the status and the server's message.
async fn publish(url: &str, token: &str, body: &Body<'_>) -> Result<(), String> {
    let request = Request::post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .json(body)
        .map_err(|e| e.to_string())?;
    let response = request.send().await.map_err(|e| format!("network: {e}"))?;
    match response.status() {
        200..=299 => Ok(()),
        401 => Err("your sign-in has expired; sign in again".into()),
        403 => Err("you may not publish".into()),
        status => Err(format!(
            "HTTP {status}: {}",
            response.text().await.unwrap_or_default().trim()
        )),
    }
}

#[derive(Serialize)]
struct Body<'a> {
    title: &'a str,
    message: &'a str,
    level: &'a str,
}

/// A title, a message, a level and a Publish button.
#[component]
pub fn PublishForm(props: &PublishFormProps) -> Html {
    let outcome = use_state(|| Outcome::Idle);
    let (title, message, level) = (use_node_ref(), use_node_ref(), use_node_ref());
    let style = crate::scoped!(
        "stylist-publish",
        r#"
        display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0 0 1rem;
        input { flex: 1 1 10rem; min-width: 0; }
        .result { flex-basis: 100%; margin: 0; font-size: 0.9rem; color: var(--muted); }
        .result.bad { color: var(--bad); }
        "#
    );
    let onsubmit = {
        let (outcome, title, message, level) = (
            outcome.clone(),
            title.clone(),
            message.clone(),
            level.clone(),
        );
        let (url, token) = (props.url.clone(), props.token.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let text = |r: &NodeRef| {
                r.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let (title_text, message_text) = (text(&title), text(&message));
            let level_text = level
                .cast::<HtmlSelectElement>()
                .map(|s| s.value())
                .unwrap_or_else(|| "info".into());
            if message_text.trim().is_empty() {
                return;
            }
            outcome.set(Outcome::Sending);
            let (outcome, url, token, message) =
                (outcome.clone(), url.clone(), token.clone(), message.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let body = Body {
                    title: &title_text,
                    message: &message_text,
                    level: &level_text,
                };
                match publish(&url, &token, &body).await {
                    Ok(()) => {
                        if let Some(input) = message.cast::<HtmlInputElement>() {
                            input.set_value("");
                        }
                        outcome.set(Outcome::Sent);
                    }
                    Err(e) => outcome.set(Outcome::Failed(e)),
                }
            });
        })
    };
    html! {
        <form class={classes!("publish", style)} {onsubmit} aria-label="Publish a notification">
            <label for="publish-title" class="visually-hidden">{ "Title" }</label>
            <input id="publish-title" ref={title} type="text" placeholder="Title" maxlength="200" />
            <label for="publish-message" class="visually-hidden">{ "Message" }</label>
            <input id="publish-message" ref={message} type="text" placeholder="Message for everyone" maxlength="2000" required=true />
            <label for="publish-level" class="visually-hidden">{ "Level" }</label>
            <select id="publish-level" ref={level}>
                // Marked, because Yew inserts a list's children last first: unmarked, the
                // option inserted first (the last, "error") would become the default.
                <option value="info" selected=true>{ "info" }</option>
                <option value="success">{ "success" }</option>
                <option value="warning">{ "warning" }</option>
                <option value="error">{ "error" }</option>
            </select>
            <button type="submit" disabled={*outcome == Outcome::Sending}>{ "Publish" }</button>
            { match &*outcome {
                Outcome::Idle => html! {},
                Outcome::Sending => html! { <p class="result" role="status">{ "Publishing…" }</p> },
                Outcome::Sent => html! { <p class="result" role="status">{ "Published." }</p> },
                Outcome::Failed(e) => html! { <p class="result bad" role="alert">{ format!("Not published: {e}") }</p> },
            } }
        </form>
    }
}
