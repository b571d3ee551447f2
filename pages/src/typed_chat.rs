//! Typed chat: rooms over the seed's typed protocol, routed with per-type handlers
//! (`use_message_handlers` + `use_on`) into one reducer shared by the room's components.

use std::rc::Rc;

use gloo_timers::callback::Timeout;
use realtime_hooks::core::outbox::SendPolicy;
use realtime_hooks::core::presence::color_for;
use realtime_hooks::{
    use_message_handlers_with_options, DecodeError, UseWebSocketOptions, WebSocketOptions,
};
use serde::{Deserialize, Serialize};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::message_list::{
    delivery_callbacks, recovery_notice, with_deliveries, LineDelivery, MessageLine, MessageList,
};
use crate::components::status_badge::StatusBadge;
use crate::PageProps;

/// What this page sends (the seed's `ClientMessage`).
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    /// Join a room; with `since` (`EPOCH:SEQ`), get what was missed since then, else the
    /// room's newest messages.
    Join {
        /// Room name.
        room: String,
        /// Where this client is in the room's history, when it is rejoining.
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<String>,
    },
    /// Leave a room.
    Leave {
        /// Room name.
        room: String,
    },
    /// Say something in a room.
    Message {
        /// Room name.
        room: String,
        /// The text.
        text: String,
    },
    /// Typing started or stopped.
    #[serde(rename_all = "camelCase")]
    Typing {
        /// Room name.
        room: String,
        /// Whether the user is typing.
        is_typing: bool,
    },
}

/// A room member as `joined` lists them.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Server-assigned id.
    pub user_id: String,
    /// Display name.
    pub name: String,
}

/// `welcome`: this connection's identity.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    /// Server-assigned id.
    pub user_id: String,
}

/// `joined`: we are in `room`, with these members.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    /// The room.
    pub room: String,
    /// Member ids, in arrival order.
    pub users: Vec<String>,
    /// Members with names (newer servers; ids without a name show as the id).
    #[serde(default)]
    pub members: Vec<Member>,
}

/// `user:joined`, `user:left` and `left`: someone entered or left `room`.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserEvent {
    /// The room.
    pub room: String,
    /// Who.
    pub user_id: String,
    /// Their name, when the server sends it.
    #[serde(default)]
    pub name: String,
}

/// `message`: someone said something in `room`.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoomMessage {
    /// The room.
    pub room: String,
    /// Author's id.
    pub user_id: String,
    /// Author's name, when the server sends it.
    #[serde(default)]
    pub name: String,
    /// The text.
    pub text: String,
    /// ms since the epoch.
    pub timestamp: f64,
    /// The sender's id for it, when it gave one.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// `typing`: someone started or stopped typing in `room`.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    /// The room.
    pub room: String,
    /// Who.
    pub user_id: String,
    /// Started (true) or stopped.
    pub is_typing: bool,
}

/// `error`: the server refused something.
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct ServerError {
    /// Why.
    #[serde(default)]
    pub message: String,
}

/// The room state every component of the page reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoomState {
    /// This user's id.
    pub me: Option<String>,
    /// The joined room.
    pub room: Option<String>,
    /// Members as (id, name), sorted by id. A sorted `Vec`, not a `BTreeMap`: a room has tens of
    /// members, and each distinct `BTreeMap<K, V>` adds KB of tree code to the wasm bundle.
    pub users: Vec<(String, String)>,
    /// Messages of the room, oldest first (bounded to 300).
    pub lines: Vec<MessageLine>,
    /// Messages received so far: the next line's list key (unique even after eviction).
    pub received: u64,
    /// Who is typing (ids).
    pub typing: Vec<String>,
    /// Server errors, newest last (bounded to 5).
    pub errors: Vec<String>,
}

/// What changes the room state: one variant per message type, decoded by its handler.
#[derive(Clone, Debug, PartialEq)]
pub enum RoomAction {
    /// `welcome`.
    Welcome(Welcome),
    /// `joined`.
    Joined(Joined),
    /// `user:joined`.
    UserJoined(UserEvent),
    /// `user:left`, or `left` (ours about us; a seed-style server's about anyone).
    UserLeft(UserEvent),
    /// `message`.
    Message(RoomMessage),
    /// `typing`.
    Typing(Typing),
    /// `error`.
    ServerError(ServerError),
    /// We asked to leave.
    LeftLocally,
}

/// Adds or renames member `id`, keeping `users` sorted by id.
fn upsert_user(users: &mut Vec<(String, String)>, id: String, name: String) {
    match users.binary_search_by(|(k, _)| k.cmp(&id)) {
        Ok(at) => users[at].1 = name,
        Err(at) => users.insert(at, (id, name)),
    }
}

/// The display name of member `id`, if present.
fn user_name<'a>(users: &'a [(String, String)], id: &str) -> Option<&'a str> {
    users
        .binary_search_by(|(k, _)| k.as_str().cmp(id))
        .ok()
        .map(|at| users[at].1.as_str())
}

fn push_error(state: &mut RoomState, error: String) {
    state.errors.push(error);
    if state.errors.len() > 5 {
        state.errors.remove(0);
    }
}

impl Reducible for RoomState {
    type Action = RoomAction;

    fn reduce(self: Rc<Self>, action: RoomAction) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            RoomAction::LeftLocally => {
                s.room = None;
                s.users.clear();
                s.typing.clear();
            }
            RoomAction::Welcome(w) => s.me = Some(w.user_id),
            RoomAction::Joined(j) => {
                // A rejoin of the same room (after a reconnect) keeps what is shown: the replay
                // that follows adds only what was missed.
                if s.room.as_deref() != Some(j.room.as_str()) {
                    s.lines.clear();
                }
                s.room = Some(j.room);
                // Named members first: the stable sort keeps them ahead of the same id from the
                // bare `users` list, and `dedup` keeps the first.
                s.users = j.members.into_iter().map(|m| (m.user_id, m.name)).collect();
                s.users
                    .extend(j.users.into_iter().map(|id| (id.clone(), id)));
                s.users.sort_by(|a, b| a.0.cmp(&b.0));
                s.users.dedup_by(|later, first| later.0 == first.0);
                s.typing.clear();
            }
            RoomAction::UserJoined(u) => {
                if s.room.as_deref() == Some(u.room.as_str()) {
                    let name = if u.name.is_empty() {
                        u.user_id.clone()
                    } else {
                        u.name
                    };
                    upsert_user(&mut s.users, u.user_id, name);
                }
            }
            // `user:left` (ours), or the seed's `left`, which a seed-style server may send to the
            // whole room: about another user it only drops them, like `user:left`. Either way only
            // for our room: a late leave from a room we switched away from changes nothing here.
            RoomAction::UserLeft(u) if s.room.as_deref() != Some(u.room.as_str()) => {}
            RoomAction::UserLeft(u) => {
                if s.me.as_deref() == Some(u.user_id.as_str()) {
                    s.room = None;
                    s.users.clear();
                } else {
                    s.users.retain(|(id, _)| *id != u.user_id);
                }
                s.typing.retain(|id| *id != u.user_id);
            }
            RoomAction::Message(m) => {
                if s.room.as_deref() == Some(m.room.as_str()) {
                    s.received += 1;
                    s.typing.retain(|id| *id != m.user_id);
                    s.lines.push(MessageLine {
                        key: format!("m{}", s.received),
                        author: if m.name.is_empty() {
                            m.user_id.clone()
                        } else {
                            m.name
                        },
                        color: color_for(&m.user_id),
                        mine: s.me.as_deref() == Some(m.user_id.as_str()),
                        text: m.text,
                        timestamp: m.timestamp,
                        client_id: m.client_id,
                        delivery: LineDelivery::Done,
                    });
                    if s.lines.len() > 300 {
                        s.lines.remove(0);
                    }
                }
            }
            RoomAction::Typing(t) => {
                if s.room.as_deref() == Some(t.room.as_str()) {
                    s.typing.retain(|id| *id != t.user_id);
                    if t.is_typing {
                        s.typing.push(t.user_id);
                    }
                }
            }
            RoomAction::ServerError(e) => {
                let message = if e.message.is_empty() {
                    "unknown error"
                } else {
                    &e.message
                };
                push_error(&mut s, format!("server: {message}"));
            }
        }
        Rc::new(s)
    }
}

/// The inline error for frames that did not decode: the latest reason, and the count when more.
fn unreadable_line(count: u64, error: &str) -> String {
    if count > 1 {
        format!("unreadable {error} ({count} so far)")
    } else {
        format!("unreadable {error}")
    }
}

const ROOMS: [&str; 3] = ["general", "random", "help"];

/// The typed chat page: room picker, members, messages, typing indicator, inline server errors.
#[component]
pub fn TypedChatPage(props: &PageProps) -> Html {
    // Resuming: after a reconnect the rejoin asks for what the room said meanwhile.
    let ws = use_message_handlers_with_options(
        &props.url,
        UseWebSocketOptions {
            connection: WebSocketOptions {
                resume: true,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let state = use_reducer(RoomState::default);
    {
        // One handler per message type, each decoding its own type and feeding the reducer (a
        // dispatcher never goes stale). Frames that do not fit are counted by the hook.
        let state = state.dispatcher();
        use_effect_with(ws.clone(), move |ws| {
            let subscriptions = [
                ws.dispatch_to("welcome", &state, RoomAction::Welcome),
                ws.dispatch_to("joined", &state, RoomAction::Joined),
                ws.dispatch_to("user:joined", &state, RoomAction::UserJoined),
                ws.dispatch_to("user:left", &state, RoomAction::UserLeft),
                ws.dispatch_to("left", &state, RoomAction::UserLeft),
                ws.dispatch_to("message", &state, RoomAction::Message),
                ws.dispatch_to("typing", &state, RoomAction::Typing),
                ws.dispatch_to("error", &state, RoomAction::ServerError),
            ];
            move || drop(subscriptions)
        });
    }
    {
        // The server forgets room membership with the connection (a restart, a lost link): on
        // every reconnect, rejoin the room shown before anything queued is flushed, so queued
        // and later messages reach the room instead of coming back `not_in_room`.
        let room_now = use_mut_ref(|| None::<String>);
        room_now.borrow_mut().clone_from(&state.room);
        use_effect_with(ws.clone(), move |ws| {
            let rejoin = ws.connection().on_open(move |conn| {
                let Some(room) = room_now.borrow().clone() else {
                    return;
                };
                let since = conn.resume_position(&room);
                if let Ok(join) = serde_json::to_string(&ClientMessage::Join { room, since }) {
                    // A refusal (full queue) shows in the status badge.
                    let _ = conn.send_text_with(join, &SendPolicy::Keep);
                }
            });
            move || drop(rejoin)
        });
    }
    let typing_timer = use_mut_ref(|| None::<Timeout>);
    let input = use_node_ref();
    let room_choice = use_state(|| ROOMS[0].to_owned());

    let send = {
        let ws = ws.clone();
        move |message: ClientMessage| {
            // Refusals (a full queue) show in the status badge.
            let _ = ws.send(&message);
        }
    };
    let join = {
        let (send, state, choice, ws) =
            (send.clone(), state.clone(), room_choice.clone(), ws.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(room) = state.room.clone() {
                send(ClientMessage::Leave { room });
            }
            let room = (*choice).clone();
            // A fresh join shows the room's newest messages from scratch: forget what we had
            // of it, or those would be dropped as already seen.
            ws.connection().forget_stream(&room);
            send(ClientMessage::Join { room, since: None });
        })
    };
    let leave = {
        let (send, state) = (send.clone(), state.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(room) = state.room.clone() {
                send(ClientMessage::Leave { room });
                state.dispatch(RoomAction::LeftLocally);
            }
        })
    };
    let on_pick = {
        let choice = room_choice.clone();
        Callback::from(move |e: Event| {
            if let Some(select) = e.target_dyn_into::<web_sys::HtmlSelectElement>() {
                choice.set(select.value());
            }
        })
    };
    let oninput = {
        let (send, state, timer) = (send.clone(), state.clone(), typing_timer.clone());
        Callback::from(move |_: InputEvent| {
            let Some(room) = state.room.clone() else {
                return;
            };
            if timer.borrow().is_none() {
                send(ClientMessage::Typing {
                    room: room.clone(),
                    is_typing: true,
                });
            }
            // Stop typing after 2 s without input.
            let (send, slot) = (send.clone(), timer.clone());
            *timer.borrow_mut() = Some(Timeout::new(2_000, move || {
                slot.borrow_mut().take();
                send(ClientMessage::Typing {
                    room,
                    is_typing: false,
                });
            }));
        })
    };
    let onsubmit = {
        let (send, state, timer, input, ws_send) = (
            send.clone(),
            state.clone(),
            typing_timer.clone(),
            input.clone(),
            ws.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (Some(room), Some(field)) = (state.room.clone(), input.cast::<HtmlInputElement>())
            else {
                return;
            };
            let text = field.value();
            if text.trim().is_empty() {
                return;
            }
            if timer.borrow_mut().take().is_some() {
                send(ClientMessage::Typing {
                    room: room.clone(),
                    is_typing: false,
                });
            }
            // Kept until acknowledged (shown "sending…"), resent after a reconnect.
            if ws_send
                .send_acked(&ClientMessage::Message { room, text })
                .is_ok()
            {
                field.set_value("");
            }
        })
    };
    let on_retry = {
        let ws = ws.clone();
        Callback::from(move |_| ws.connection().retry_now())
    };
    let typing_names: Vec<String> = state
        .typing
        .iter()
        .filter(|id| state.me.as_ref() != Some(*id))
        .map(|id| user_name(&state.users, id).unwrap_or(id).to_owned())
        .collect();
    let status = ws.status();
    let mut lines = state.lines.clone();
    if let Some(room) = state.room.as_deref() {
        let me = status.welcome.as_ref().map_or("You", |w| w.name.as_str());
        with_deliveries(&mut lines, &ws.connection().pending_sends(), Some(room), me);
    }
    let notice = state
        .room
        .as_deref()
        .map(|room| recovery_notice(&status, room))
        .unwrap_or_default();
    let (on_resend, on_dismiss) = delivery_callbacks(ws.connection());
    let unhandled = ws.unhandled_total();
    let (unreadable, last_unreadable) = ws.invalid();
    let style = crate::scoped!(
        "stylist-typed-chat",
        r#"
        .room-bar { display: flex; align-items: center; gap: 0.6rem; flex-wrap: wrap; }
        .room-name { color: var(--muted); font-weight: 600; }
        .room { display: grid; grid-template-columns: 1fr 220px; gap: 1rem; }
        .room-main { display: flex; flex-direction: column; gap: 0.5rem; min-width: 0; }
        .typing { min-height: 1.5em; margin: 0; color: var(--muted); font-style: italic; }
        @media (max-width: 760px) {
            .room { grid-template-columns: 1fr; }
        }
        "#
    );
    html! {
        <section class={classes!("page", "typed-chat", crate::styles::page(), style)}>
            <header class="page-head">
                <h1>{ "Typed chat" }</h1>
                <StatusBadge status={status} {on_retry} />
            </header>
            <div class="room-bar">
                <label for="room-select">{ "Room" }</label>
                <select id="room-select" onchange={on_pick}>
                    { for ROOMS.iter().map(|r| html! { <option value={*r} selected={*room_choice == *r}>{ format!("#{r}") }</option> }) }
                </select>
                <button onclick={join}>{ if state.room.is_some() { "Switch" } else { "Join" } }</button>
                if state.room.is_some() {
                    <button class="secondary" onclick={leave}>{ "Leave" }</button>
                }
                <span class="room-name" data-testid="room">
                    { state.room.as_ref().map_or("Not in a room".to_owned(), |r| format!("In #{r}")) }
                </span>
            </div>
            <div class="room">
                <div class="room-main">
                    { notice }
                    <MessageList lines={lines} on_retry={on_resend} on_dismiss={on_dismiss}
                        empty={if state.room.is_some() { "No messages yet: say hello." } else { "Join a room to chat." }} />
                    <p class="typing" aria-live="polite" data-testid="typing">
                        { match typing_names.len() {
                            0 => String::new(),
                            1 => format!("{} is typing…", typing_names[0]),
                            n => format!("{n} people are typing…"),
                        } }
                    </p>
                    <form class="composer" {onsubmit}>
                        <label for="typed-input" class="visually-hidden">{ "Message" }</label>
                        <input id="typed-input" ref={input} type="text" autocomplete="off" maxlength="2000"
                            placeholder={if state.room.is_some() { "Message the room" } else { "Join a room first" }}
                            disabled={state.room.is_none()} {oninput} />
                        <button type="submit" disabled={state.room.is_none()}>{ "Send" }</button>
                    </form>
                </div>
                <aside class="members" aria-label="Members">
                    <h2>{ format!("Members ({})", state.users.len()) }</h2>
                    <ul data-testid="members">
                        { for state.users.iter().map(|(id, name)| html! {
                            <li key={id.clone()}><span class="dot" style={format!("background: {}", color_for(id))}></span>
                                { name }{ if state.me.as_ref() == Some(id) { " (you)" } else { "" } }</li>
                        }) }
                    </ul>
                </aside>
            </div>
            { for state.errors.iter().map(|e| html! { <p class="inline-error" role="alert">{ e }</p> }) }
            if let Some(DecodeError { error, .. }) = last_unreadable {
                <p class="inline-error" role="alert">{ unreadable_line(unreadable, &error) }</p>
            }
            if unhandled > 0 {
                <p class="hint">{ format!("{unhandled} message(s) of unknown types ignored") }</p>
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server<T: serde::de::DeserializeOwned>(
        state: Rc<RoomState>,
        action: fn(T) -> RoomAction,
        json: &str,
    ) -> Rc<RoomState> {
        state.reduce(action(serde_json::from_str(json).expect("test JSON")))
    }

    fn joined_general() -> Rc<RoomState> {
        let s = server(
            Rc::default(),
            RoomAction::Welcome,
            r#"{"type":"welcome","userId":"u2","name":"Bo"}"#,
        );
        server(
            s,
            RoomAction::Joined,
            r#"{"type":"joined","room":"general","users":["u3","u1","u2"],
                "members":[{"userId":"u2","name":"Bo"},{"userId":"u1","name":"Ann"}]}"#,
        )
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(id, name)| (id.to_string(), name.to_string()))
            .collect()
    }

    #[test]
    fn a_rejoin_of_the_same_room_keeps_its_lines_and_another_room_starts_empty() {
        let say = |s, text: &str| {
            server(
                s,
                RoomAction::Message,
                &format!(
                    r#"{{"room":"general","userId":"u1","text":"{text}","timestamp":1,"clientId":"c-{text}"}}"#
                ),
            )
        };
        let s = say(joined_general(), "one");
        let s = say(s, "two");
        assert_eq!(s.lines[1].client_id.as_deref(), Some("c-two"));
        // After a reconnect the page rejoins; the replay adds only what was missed.
        let joined = r#"{"room":"general","users":["u2"],"members":[],"epoch":"e","seq":2}"#;
        let s = server(s, RoomAction::Joined, joined);
        let s = say(s, "three");
        let texts: Vec<&str> = s.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        let random = r#"{"room":"random","users":["u2"],"members":[]}"#;
        assert!(server(s, RoomAction::Joined, random).lines.is_empty());
    }

    #[test]
    fn joined_lists_members_by_id_with_their_names_and_events_keep_it_sorted() {
        let s = joined_general();
        assert_eq!(s.room.as_deref(), Some("general"));
        assert_eq!(s.users, pairs(&[("u1", "Ann"), ("u2", "Bo"), ("u3", "u3")]));
        let joined = RoomAction::UserJoined;
        let s = server(s, joined, r#"{"room":"general","userId":"u0","name":"Cy"}"#);
        let s = server(s, joined, r#"{"room":"general","userId":"u3","name":"Di"}"#);
        // Someone joining another room is not listed here.
        let s = server(s, joined, r#"{"room":"random","userId":"u9","name":"Ed"}"#);
        let left = RoomAction::UserLeft;
        let s = server(s, left, r#"{"room":"general","userId":"u1"}"#);
        // Repeated leave (a sweep after a normal leave) changes nothing.
        let s = server(s, left, r#"{"room":"general","userId":"u1"}"#);
        assert_eq!(s.users, pairs(&[("u0", "Cy"), ("u2", "Bo"), ("u3", "Di")]));
        assert_eq!(user_name(&s.users, "u3"), Some("Di"));
        assert_eq!(user_name(&s.users, "u1"), None);
        // Our own leave empties the room.
        let s = server(s, left, r#"{"type":"left","room":"general","userId":"u2"}"#);
        assert_eq!(s.room, None);
        assert!(s.users.is_empty());
    }

    #[test]
    fn the_seeds_left_about_another_user_drops_only_that_member() {
        // A seed-style server: no `welcome` (we do not know our id), `joined` with ids only,
        // `left {room, userId}` to everyone in the room.
        let s = server(
            Rc::default(),
            RoomAction::Joined,
            r#"{"type":"joined","room":"general","users":["u1","u2"]}"#,
        );
        let s = server(
            s,
            RoomAction::UserJoined,
            r#"{"room":"general","userId":"u3"}"#,
        );
        assert_eq!(s.users, pairs(&[("u1", "u1"), ("u2", "u2"), ("u3", "u3")]));
        let left = RoomAction::UserLeft;
        let s = server(s, left, r#"{"type":"left","room":"general","userId":"u3"}"#);
        assert_eq!(
            s.room.as_deref(),
            Some("general"),
            "someone else left, not us"
        );
        assert_eq!(s.users, pairs(&[("u1", "u1"), ("u2", "u2")]));
        // With a `welcome`, another user's `left` still drops only them.
        let s = server(
            joined_general(),
            left,
            r#"{"type":"left","room":"general","userId":"u1"}"#,
        );
        assert_eq!(s.room.as_deref(), Some("general"));
        assert_eq!(s.users, pairs(&[("u2", "Bo"), ("u3", "u3")]));
        // A leave from another room (one we switched away from) changes nothing here, even ours.
        let s = server(s, left, r#"{"type":"left","room":"random","userId":"u3"}"#);
        let s = server(s, left, r#"{"type":"left","room":"random","userId":"u2"}"#);
        assert_eq!(s.room.as_deref(), Some("general"));
        assert_eq!(s.users, pairs(&[("u2", "Bo"), ("u3", "u3")]));
    }

    #[test]
    fn line_keys_stay_unique_after_the_300_line_bound_evicts() {
        let mut s = joined_general();
        for i in 0..305 {
            let json =
                format!(r#"{{"room":"general","userId":"u1","text":"m{i}","timestamp":1000}}"#);
            s = server(s, RoomAction::Message, &json);
        }
        assert_eq!(s.lines.len(), 300);
        assert_eq!(s.lines[0].text, "m5");
        let mut keys: Vec<&str> = s.lines.iter().map(|l| l.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 300);
    }

    #[test]
    fn typing_and_server_errors() {
        let s = joined_general();
        let typing = RoomAction::Typing;
        let s = server(
            s,
            typing,
            r#"{"room":"general","userId":"u1","isTyping":true}"#,
        );
        let s = server(
            s,
            typing,
            r#"{"room":"general","userId":"u3","isTyping":true}"#,
        );
        assert_eq!(s.typing, ["u1", "u3"]);
        // A message from a typist ends their typing.
        let said = r#"{"room":"general","userId":"u1","text":"hi","timestamp":1}"#;
        let s = server(s, RoomAction::Message, said);
        assert_eq!(s.typing, ["u3"]);
        let mut s = s;
        for i in 0..7 {
            let json = format!(r#"{{"type":"error","message":"no {i}"}}"#);
            s = server(s, RoomAction::ServerError, &json);
        }
        assert_eq!(s.errors.len(), 5);
        assert_eq!(s.errors[4], "server: no 6");
        assert_eq!(
            unreadable_line(1, "`joined` message: x"),
            "unreadable `joined` message: x"
        );
        assert_eq!(unreadable_line(3, "e"), "unreadable e (3 so far)");
    }
}
