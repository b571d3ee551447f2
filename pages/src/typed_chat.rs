//! Typed chat: rooms over the seed's typed protocol, routed with per-type handlers
//! (`use_message_handlers` + `use_on`) into one reducer shared by the room's components.

use std::rc::Rc;

use gloo_timers::callback::Timeout;
use realtime_hooks::core::presence::color_for;
use realtime_hooks::use_message_handlers;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::message_list::{MessageLine, MessageList};
use crate::components::status_badge::StatusBadge;
use crate::PageProps;

/// What this page sends (the seed's `ClientMessage`).
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    /// Join a room.
    Join {
        /// Room name.
        room: String,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    user_id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Joined {
    room: String,
    users: Vec<String>,
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserEvent {
    room: String,
    user_id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoomMessage {
    room: String,
    user_id: String,
    #[serde(default)]
    name: String,
    text: String,
    timestamp: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Typing {
    room: String,
    user_id: String,
    is_typing: bool,
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
    /// Server errors and unreadable messages, newest last (bounded to 5).
    pub errors: Vec<String>,
}

/// What changes the room state.
pub enum RoomAction {
    /// A message of `type` with its JSON.
    Server(String, Value),
    /// We asked to leave.
    LeftLocally,
}

fn parse<T: for<'de> Deserialize<'de>>(
    state: &mut RoomState,
    kind: &str,
    value: Value,
) -> Option<T> {
    match serde_json::from_value(value) {
        Ok(v) => Some(v),
        Err(e) => {
            push_error(state, format!("unreadable `{kind}` message: {e}"));
            None
        }
    }
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
            RoomAction::Server(kind, value) => match kind.as_str() {
                "welcome" => {
                    s.me = value
                        .get("userId")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }
                "joined" => {
                    if let Some(j) = parse::<Joined>(&mut s, &kind, value) {
                        s.room = Some(j.room);
                        // Named members first: the stable sort keeps them ahead of the same
                        // id from the bare `users` list, and `dedup` keeps the first.
                        s.users = j.members.into_iter().map(|m| (m.user_id, m.name)).collect();
                        s.users
                            .extend(j.users.into_iter().map(|id| (id.clone(), id)));
                        s.users.sort_by(|a, b| a.0.cmp(&b.0));
                        s.users.dedup_by(|later, first| later.0 == first.0);
                        s.lines.clear();
                        s.typing.clear();
                    }
                }
                "user:joined" => {
                    if let Some(u) = parse::<UserEvent>(&mut s, &kind, value) {
                        if s.room.as_deref() == Some(u.room.as_str()) {
                            let name = if u.name.is_empty() {
                                u.user_id.clone()
                            } else {
                                u.name
                            };
                            upsert_user(&mut s.users, u.user_id, name);
                        }
                    }
                }
                "user:left" | "left" => {
                    if let Some(u) = parse::<UserEvent>(&mut s, &kind, value) {
                        if s.me.as_deref() == Some(u.user_id.as_str()) {
                            s.room = None;
                            s.users.clear();
                        } else {
                            s.users.retain(|(id, _)| *id != u.user_id);
                        }
                        s.typing.retain(|id| *id != u.user_id);
                    }
                }
                "message" => {
                    if let Some(m) = parse::<RoomMessage>(&mut s, &kind, value) {
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
                            });
                            if s.lines.len() > 300 {
                                s.lines.remove(0);
                            }
                        }
                    }
                }
                "typing" => {
                    if let Some(t) = parse::<Typing>(&mut s, &kind, value) {
                        if s.room.as_deref() == Some(t.room.as_str()) {
                            s.typing.retain(|id| *id != t.user_id);
                            if t.is_typing {
                                s.typing.push(t.user_id);
                            }
                        }
                    }
                }
                "error" => {
                    let message = value
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error");
                    push_error(&mut s, format!("server: {message}"));
                }
                _ => {}
            },
        }
        Rc::new(s)
    }
}

const ROOMS: [&str; 3] = ["general", "random", "help"];
const TYPES: [&str; 8] = [
    "welcome",
    "joined",
    "user:joined",
    "user:left",
    "left",
    "message",
    "typing",
    "error",
];

/// The typed chat page: room picker, members, messages, typing indicator, inline server errors.
#[component]
pub fn TypedChatPage(props: &PageProps) -> Html {
    let ws = use_message_handlers(&props.url);
    let state = use_reducer(RoomState::default);
    {
        // One handler per message type, each feeding the reducer (a dispatcher never goes stale).
        let (ws, state) = (ws.clone(), state.clone());
        use_effect_with((), move |_| {
            let subscriptions: Vec<_> = TYPES
                .iter()
                .map(|kind| {
                    let state = state.clone();
                    ws.on(kind, move |value: &Value| {
                        state.dispatch(RoomAction::Server(kind.to_string(), value.clone()))
                    })
                })
                .collect();
            move || drop(subscriptions)
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
        let (send, state, choice) = (send.clone(), state.clone(), room_choice.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(room) = state.room.clone() {
                send(ClientMessage::Leave { room });
            }
            send(ClientMessage::Join {
                room: (*choice).clone(),
            });
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
        let (send, state, timer, input) = (
            send.clone(),
            state.clone(),
            typing_timer.clone(),
            input.clone(),
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
            send(ClientMessage::Message { room, text });
            field.set_value("");
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
    let unhandled = ws.unhandled_total();
    html! {
        <section class="page typed-chat">
            <header class="page-head">
                <h1>{ "Typed chat" }</h1>
                <StatusBadge status={ws.status()} {on_retry} />
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
                    <MessageList lines={state.lines.clone()} empty="Join a room to chat." />
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
            if unhandled > 0 {
                <p class="hint">{ format!("{unhandled} message(s) of unknown types ignored") }</p>
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(state: Rc<RoomState>, json: &str) -> Rc<RoomState> {
        let value: Value = serde_json::from_str(json).expect("test JSON");
        let kind = value["type"].as_str().expect("typed").to_owned();
        state.reduce(RoomAction::Server(kind, value))
    }

    fn joined_general() -> Rc<RoomState> {
        let s = server(
            Rc::default(),
            r#"{"type":"welcome","userId":"u2","name":"Bo"}"#,
        );
        server(
            s,
            r#"{"type":"joined","room":"general","users":["u3","u1","u2"],
                "members":[{"userId":"u2","name":"Bo"},{"userId":"u1","name":"Ann"}]}"#,
        )
    }

    #[test]
    fn joined_lists_members_by_id_with_their_names_and_events_keep_it_sorted() {
        let s = joined_general();
        let ids = |s: &RoomState| s.users.clone();
        assert_eq!(s.room.as_deref(), Some("general"));
        assert_eq!(
            ids(&s),
            vec![
                ("u1".to_owned(), "Ann".to_owned()),
                ("u2".to_owned(), "Bo".to_owned()),
                ("u3".to_owned(), "u3".to_owned()),
            ]
        );
        let s = server(
            s,
            r#"{"type":"user:joined","room":"general","userId":"u0","name":"Cy"}"#,
        );
        let s = server(
            s,
            r#"{"type":"user:joined","room":"general","userId":"u3","name":"Di"}"#,
        );
        let s = server(s, r#"{"type":"user:left","room":"general","userId":"u1"}"#);
        // Repeated leave (a sweep after a normal leave) changes nothing.
        let s = server(s, r#"{"type":"user:left","room":"general","userId":"u1"}"#);
        assert_eq!(
            ids(&s),
            vec![
                ("u0".to_owned(), "Cy".to_owned()),
                ("u2".to_owned(), "Bo".to_owned()),
                ("u3".to_owned(), "Di".to_owned()),
            ]
        );
        assert_eq!(user_name(&s.users, "u3"), Some("Di"));
        assert_eq!(user_name(&s.users, "u1"), None);
        // Our own leave empties the room.
        let s = server(s, r#"{"type":"left","room":"general","userId":"u2"}"#);
        assert_eq!(s.room, None);
        assert!(s.users.is_empty());
    }

    #[test]
    fn line_keys_stay_unique_after_the_300_line_bound_evicts() {
        let mut s = joined_general();
        for i in 0..305 {
            s = server(
                s,
                &format!(
                    r#"{{"type":"message","room":"general","userId":"u1","text":"m{i}","timestamp":1000}}"#
                ),
            );
        }
        assert_eq!(s.lines.len(), 300);
        assert_eq!(s.lines[0].text, "m5");
        let mut keys: Vec<&str> = s.lines.iter().map(|l| l.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 300);
    }

    #[test]
    fn a_malformed_typed_message_is_reported_and_changes_nothing_else() {
        let s = joined_general();
        let before = s.users.clone();
        let s = server(s, r#"{"type":"user:joined","room":"general"}"#);
        assert_eq!(s.users, before);
        assert_eq!(s.errors.len(), 1);
        assert!(
            s.errors[0].starts_with("unreadable `user:joined` message"),
            "{}",
            s.errors[0]
        );
    }
}
