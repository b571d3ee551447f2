//! A chat message list that stays scrolled to the newest message unless the reader scrolled up.

use web_sys::Element;
use yew::prelude::*;

/// One line of a message list.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageLine {
    /// Stable key (server id, or position).
    pub key: String,
    /// Who wrote it.
    pub author: String,
    /// Colour of the author's name.
    pub color: String,
    /// The text, rendered as text.
    pub text: String,
    /// ms since the epoch (shown as local `HH:MM`).
    pub timestamp: f64,
    /// Written by this user.
    pub mine: bool,
}

/// Props of [`MessageList`].
#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    /// Lines, oldest first.
    pub lines: Vec<MessageLine>,
    /// Shown when there are no lines.
    #[prop_or_default]
    pub empty: AttrValue,
}

/// The scrolling list; new lines are announced to screen readers (`aria-live`).
#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    // Scoped to this list and parsed at compile time (see crate::styles); colours are the theme's
    // CSS variables, so light and dark both apply.
    let style = crate::scoped!(
        "stylist-messages",
        r#"
        list-style: none; margin: 0; padding: 0.5rem; height: min(60vh, 520px); overflow-y: auto;
        background: var(--surface); border: 1px solid var(--border); border-radius: 12px; box-shadow: var(--shadow);
        .message { display: grid; grid-template-columns: auto 1fr auto; gap: 0.6rem; padding: 0.45rem 0.6rem; border-radius: 8px; align-items: baseline; }
        .message.mine { background: var(--mine); }
        .author { font-weight: 700; white-space: nowrap; }
        .text { overflow-wrap: anywhere; white-space: pre-wrap; }
        time { color: var(--muted); font-size: 0.8rem; }
        .empty { color: var(--muted); padding: 1rem; text-align: center; }
        "#
    );
    let list = use_node_ref();
    let pinned = use_mut_ref(|| true);
    let onscroll = {
        let (list, pinned) = (list.clone(), pinned.clone());
        Callback::from(move |_: Event| {
            if let Some(el) = list.cast::<Element>() {
                *pinned.borrow_mut() =
                    el.scroll_height() - el.scroll_top() - el.client_height() < 40;
            }
        })
    };
    {
        let (list, pinned) = (list.clone(), pinned.clone());
        use_effect_with(props.lines.len(), move |_| {
            if *pinned.borrow() {
                if let Some(el) = list.cast::<Element>() {
                    el.set_scroll_top(el.scroll_height());
                }
            }
        });
    }
    html! {
        <ol class={classes!("messages", style)} ref={list} {onscroll} aria-live="polite" aria-relevant="additions">
            if props.lines.is_empty() {
                <li class="empty">{ props.empty.clone() }</li>
            }
            { for props.lines.iter().map(|line| html! {
                <li key={line.key.clone()} class={classes!("message", line.mine.then_some("mine"))}>
                    <span class="author" style={format!("color: {}", line.color)}>{ &line.author }</span>
                    <span class="text">{ &line.text }</span>
                    <time>{ crate::clock(line.timestamp) }</time>
                </li>
            }) }
        </ol>
    }
}
