//! The handler table behind `use_message_handlers`: message `type` → typed handlers, and the
//! counts of what nobody handled. Pure: no browser, so it is tested natively.
//!
//! Routing reads only the `type` field, so no frame is parsed into a generic JSON tree first;
//! a frame that does not fit its handler's type is counted with the reason, never dropped silently.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::decode::{is_json_object, truncate, DecodeError, Frame};

/// A type-erased handler: decodes the frame's text into its own type and runs, or says why the
/// text did not decode.
type Handler = Rc<dyn Fn(&str) -> Result<(), String>>;

/// The only field routing reads.
#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "type")]
    kind: String,
}

/// Frame types the connection engine itself understands (the identity in `welcome`; `pong`s
/// never leave the engine; `ack` and `replayed` feed acknowledged sends and resuming): without a
/// handler they are not counted as unhandled.
pub const ENGINE_TYPES: [&str; 4] = ["welcome", "pong", "ack", "replayed"];

/// How many distinct unhandled types are counted one by one (see [`OTHER_TYPES`]).
pub const MAX_UNHANDLED_TYPES: usize = 64;

/// Unhandled types longer than this (in bytes) are counted under their first bytes and `…`.
pub const MAX_TYPE_LEN: usize = 100;

/// The key that counts unhandled messages of types seen after [`MAX_UNHANDLED_TYPES`] others.
pub const OTHER_TYPES: &str = "(other types)";

/// What became of one routed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routed {
    /// A handler took it.
    pub handled: bool,
    /// A problem counter moved (malformed, unhandled or unfit): the UI has something new to show.
    pub problem: bool,
}

impl Routed {
    const PROBLEM: Self = Self {
        handled: false,
        problem: true,
    };
}

/// The handler table: message `type` → handlers, plus the counts of what nobody handled.
#[derive(Default)]
pub struct Handlers {
    // One flat list in subscription order (type, id, handler), not a map: a page has a handful
    // of handlers, and a `BTreeMap<K, V>` per use costs KB of monomorphised code in the wasm.
    table: RefCell<Vec<(String, u64, Handler)>>,
    next_id: Cell<u64>,
    // (type, count), sorted by type: same reasoning as `table`.
    unhandled: RefCell<Vec<(String, u64)>>,
    malformed: Cell<u64>,
    invalid: Cell<u64>,
    last_invalid: RefCell<Option<DecodeError>>,
}

impl Handlers {
    /// Adds `handler` for messages whose `type` is `kind`, decoded as `T`.
    pub fn on<T: DeserializeOwned + 'static>(
        self: &Rc<Self>,
        kind: &str,
        handler: impl Fn(T) + 'static,
    ) -> Subscription {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let erased: Handler = Rc::new(move |text: &str| {
            serde_json::from_str::<T>(text)
                .map(&handler)
                .map_err(|e| e.to_string())
        });
        self.table.borrow_mut().push((kind.to_owned(), id, erased));
        Subscription {
            handlers: Rc::downgrade(self),
            id,
        }
    }

    /// Removes every handler for `kind` (their guards become no-ops).
    pub fn off(&self, kind: &str) {
        self.table.borrow_mut().retain(|(k, _, _)| k != kind);
    }

    /// Routes one frame; returns whether a handler took it.
    pub fn dispatch(&self, frame: &Frame) -> bool {
        self.route(frame).handled
    }

    /// Routes one frame and says what became of it.
    pub fn route(&self, frame: &Frame) -> Routed {
        // A typed JSON message: text, an object (a struct's derive would take an array too),
        // with a string `type`.
        let kind = match frame {
            Frame::Text(text) if is_json_object(text) => serde_json::from_str::<Tag>(text).ok(),
            _ => None,
        };
        let (Frame::Text(text), Some(Tag { kind })) = (frame, kind) else {
            self.malformed.set(self.malformed.get() + 1);
            return Routed::PROBLEM;
        };
        // Clone the handlers out so one may subscribe or unsubscribe while being called.
        let handlers: Vec<Handler> = self
            .table
            .borrow()
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, _, h)| h.clone())
            .collect();
        if handlers.is_empty() {
            if ENGINE_TYPES.contains(&kind.as_str()) {
                return Routed {
                    handled: false,
                    problem: false,
                };
            }
            self.count_unhandled(&kind);
            return Routed::PROBLEM;
        }
        // Counted once per message, however many of its handlers it did not fit.
        let mut unfit = false;
        for handler in handlers {
            if let Err(error) = handler(text) {
                unfit = true;
                *self.last_invalid.borrow_mut() = Some(DecodeError::new(
                    frame,
                    &format!("`{kind}` message: {error}"),
                ));
            }
        }
        if unfit {
            self.invalid.set(self.invalid.get() + 1);
        }
        Routed {
            handled: true,
            problem: unfit,
        }
    }

    /// Counts a message of `kind` that no handler wanted. A peer inventing types must not grow
    /// this without bound: keys are cut to `MAX_TYPE_LEN` bytes, and past the cap new types are
    /// counted under `OTHER_TYPES`.
    fn count_unhandled(&self, kind: &str) {
        let key = truncate(kind, MAX_TYPE_LEN);
        let mut unhandled = self.unhandled.borrow_mut();
        let find =
            |list: &[(String, u64)], key: &str| list.binary_search_by(|(k, _)| k.as_str().cmp(key));
        let at = match find(&unhandled, &key) {
            Err(_) if unhandled.len() >= MAX_UNHANDLED_TYPES => find(&unhandled, OTHER_TYPES),
            found => found,
        };
        match at {
            Ok(at) => unhandled[at].1 += 1,
            Err(at) if unhandled.len() >= MAX_UNHANDLED_TYPES => {
                unhandled.insert(at, (OTHER_TYPES.to_owned(), 1))
            }
            Err(at) => unhandled.insert(at, (key, 1)),
        }
    }

    /// How many messages did not decode as (one of) their handlers' types, and the last reason.
    pub fn invalid(&self) -> (u64, Option<DecodeError>) {
        (self.invalid.get(), self.last_invalid.borrow().clone())
    }

    /// How many messages arrived with no handler, as `(type, count)` sorted by type.
    pub fn unhandled(&self) -> Vec<(String, u64)> {
        self.unhandled.borrow().clone()
    }

    /// How many messages of type `kind` arrived with no handler.
    pub fn unhandled_of(&self, kind: &str) -> u64 {
        let unhandled = self.unhandled.borrow();
        unhandled
            .binary_search_by(|(k, _)| k.as_str().cmp(kind))
            .map_or(0, |at| unhandled[at].1)
    }

    /// How many messages arrived with no handler, all types together.
    pub fn unhandled_total(&self) -> u64 {
        self.unhandled.borrow().iter().map(|(_, n)| n).sum()
    }

    /// How many frames were not a JSON object with a string `type` (or were binary).
    pub fn malformed(&self) -> u64 {
        self.malformed.get()
    }
}

/// Unsubscribes its handler when dropped.
#[must_use = "dropping the subscription unsubscribes the handler at once"]
pub struct Subscription {
    handlers: Weak<Handlers>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(handlers) = self.handlers.upgrade() {
            if let Ok(mut table) = handlers.table.try_borrow_mut() {
                table.retain(|(_, id, _)| *id != self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_frames_without_a_handler_are_not_unhandled() {
        let handlers = Rc::new(Handlers::default());
        let welcome = Frame::Text(r#"{"type":"welcome","userId":"u1","name":"A"}"#.into());
        assert!(!handlers.dispatch(&welcome));
        assert_eq!(handlers.unhandled_total(), 0, "welcome is the engine's");
        assert!(!handlers.dispatch(&Frame::Text(r#"{"type":"mystery"}"#.into())));
        assert_eq!(handlers.unhandled_of("mystery"), 1);
    }

    fn text(s: &str) -> Frame {
        Frame::Text(s.to_owned())
    }

    #[derive(Deserialize)]
    struct Said {
        text: String,
    }

    type Any = serde::de::IgnoredAny;

    #[test]
    fn handlers_get_their_type_and_unhandled_types_are_counted() {
        let handlers = Rc::new(Handlers::default());
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        let _sub = handlers.on("message", move |m: Said| sink.borrow_mut().push(m.text));
        assert!(handlers.dispatch(&text(r#"{"type":"message","text":"a"}"#)));
        assert!(!handlers.dispatch(&text(r#"{"type":"typing"}"#)));
        assert!(!handlers.dispatch(&text(r#"{"type":"typing"}"#)));
        assert!(!handlers.dispatch(&text("not json")));
        assert!(!handlers.dispatch(&text(r#"{"type":7,"text":"b"}"#)));
        assert!(!handlers.dispatch(&text(r#"["message"]"#)));
        assert!(!handlers.dispatch(&Frame::Binary(vec![0])));
        assert_eq!(*seen.borrow(), vec!["a".to_owned()]);
        assert!(!handlers.dispatch(&text(r#"{"type":"error"}"#)));
        assert_eq!(handlers.unhandled_of("typing"), 2);
        assert_eq!(handlers.unhandled_of("message"), 0);
        assert_eq!(
            handlers.unhandled(),
            vec![("error".to_owned(), 1), ("typing".to_owned(), 2)]
        );
        assert_eq!(handlers.unhandled_total(), 3);
        assert_eq!(handlers.malformed(), 4);
        assert_eq!(handlers.invalid(), (0, None));
    }

    #[test]
    fn unhandled_types_are_capped_and_the_rest_counted_together() {
        let handlers = Rc::new(Handlers::default());
        for i in 0..MAX_UNHANDLED_TYPES + 10 {
            handlers.dispatch(&text(&format!(r#"{{"type":"t{i:03}"}}"#)));
        }
        handlers.dispatch(&text(r#"{"type":"t000"}"#));
        handlers.dispatch(&text(r#"{"type":"one more"}"#));
        let counts = handlers.unhandled();
        assert_eq!(counts.len(), MAX_UNHANDLED_TYPES + 1);
        assert_eq!(handlers.unhandled_of("t000"), 2);
        assert_eq!(handlers.unhandled_of(OTHER_TYPES), 11);
        assert_eq!(handlers.unhandled_total(), MAX_UNHANDLED_TYPES as u64 + 12);
    }

    #[test]
    fn a_huge_unhandled_type_is_counted_under_its_first_bytes() {
        let handlers = Rc::new(Handlers::default());
        let long = "x".repeat(1 << 20);
        for _ in 0..2 {
            handlers.dispatch(&text(&format!(r#"{{"type":"{long}"}}"#)));
        }
        let counts = handlers.unhandled();
        assert_eq!(counts.len(), 1);
        assert_eq!(counts[0].0, truncate(&long, MAX_TYPE_LEN));
        assert!(counts[0].0.len() <= MAX_TYPE_LEN + '…'.len_utf8());
        assert_eq!(counts[0].1, 2);
    }

    #[test]
    fn dropping_the_subscription_unsubscribes_and_off_removes_all() {
        let handlers = Rc::new(Handlers::default());
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        let sub = handlers.on("x", move |_: Any| c.set(c.get() + 1));
        let c = count.clone();
        let _other = handlers.on("y", move |_: Any| c.set(c.get() + 10));
        handlers.dispatch(&text(r#"{"type":"x"}"#));
        drop(sub);
        handlers.dispatch(&text(r#"{"type":"x"}"#));
        handlers.off("y");
        handlers.dispatch(&text(r#"{"type":"y"}"#));
        assert_eq!(count.get(), 1);
        assert_eq!(handlers.unhandled_of("x"), 1);
    }

    #[test]
    fn a_handler_may_subscribe_another_while_being_called() {
        let handlers = Rc::new(Handlers::default());
        let inner = Rc::new(RefCell::new(None));
        let (h, slot) = (handlers.clone(), inner.clone());
        let _sub = handlers.on("a", move |_: Any| {
            *slot.borrow_mut() = Some(h.on("b", |_: Any| {}))
        });
        assert!(handlers.dispatch(&text(r#"{"type":"a"}"#)));
        assert!(handlers.dispatch(&text(r#"{"type":"b"}"#)));
    }

    #[test]
    fn a_message_that_does_not_fit_its_handlers_type_is_counted_with_the_reason() {
        let handlers = Rc::new(Handlers::default());
        let seen = Rc::new(Cell::new(0));
        let (a, b) = (seen.clone(), seen.clone());
        let a2 = a.clone();
        let _typed = handlers.on("message", move |_: Said| a.set(a.get() + 1));
        let _typed_too = handlers.on("message", move |_: Said| a2.set(a2.get() + 1));
        let _raw = handlers.on("message", move |v: serde_json::Value| {
            assert_eq!(v["text"], 5);
            b.set(b.get() + 10);
        });
        let bad = r#"{"type":"message","text":5}"#;
        assert!(handlers.dispatch(&text(bad)));
        // The raw handler still ran; the typed one said why it could not.
        assert_eq!(seen.get(), 10);
        let (count, last) = handlers.invalid();
        // One message, though two handlers could not take it.
        assert_eq!(count, 1);
        let last = last.expect("the error");
        assert!(
            last.error
                .starts_with("`message` message: invalid type: integer `5`"),
            "{}",
            last.error
        );
        assert_eq!((last.raw.as_str(), last.len), (bad, bad.len()));
        assert_eq!(handlers.malformed(), 0);
    }
}
