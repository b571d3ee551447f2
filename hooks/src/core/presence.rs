//! Presence: who is connected, where their cursors are, and when to forget them.
//!
//! Entries expire on the **local** clock: each stores the `performance.now()` time it was last
//! refreshed. The server's `lastSeen` is epoch milliseconds on another machine's clock, so
//! comparing it with local time would expire everyone (or no one) on a skewed client. The server
//! sends a `presence:tick` every TTL/3 (everyone listed is still here: it announces every
//! departure), and a seed-style server a snapshot, so a live user is refreshed well within the
//! TTL.

use serde::{Deserialize, Serialize};

/// A cursor position (the demo uses 0..1 board coordinates).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// Horizontal position.
    pub x: f64,
    /// Vertical position.
    pub y: f64,
}

/// One connected user, as the server describes them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// Server-assigned id, unique per connection.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Last cursor position, absent until the user moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// Server time (ms since the Unix epoch) of the user's last activity; display only.
    #[serde(default)]
    pub last_seen: f64,
}

/// A presence message from the server (`docs/protocol.md`, `/ws/presence`).
///
/// Serialised `type`-tagged; decoded through [`PresenceWire`] (see there for why). Decode frames
/// with [`PresenceEvent::parse`] (or the hooks' `decode_object`): a plain `serde_json::from_str`
/// would, like any struct derive, also accept a JSON array of the wire fields in order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", try_from = "PresenceWire")]
pub enum PresenceEvent {
    /// Everyone currently present, the receiver included.
    #[serde(rename = "presence:snapshot")]
    Snapshot {
        /// The full list.
        users: Vec<Presence>,
    },
    /// A user connected.
    #[serde(rename = "presence:join")]
    Join(Presence),
    /// A user moved their cursor or otherwise refreshed.
    #[serde(rename = "presence:update")]
    Update(Presence),
    /// The periodic refresh: everyone listed is still here.
    #[serde(rename = "presence:tick")]
    Tick,
    /// A user disconnected or timed out.
    #[serde(rename = "presence:leave")]
    Leave {
        /// Who left.
        #[serde(rename = "userId")]
        user_id: String,
    },
}

/// Every frame of the presence endpoint in one flat shape: the decoding side of
/// [`PresenceEvent`] (and of `welcome`), as one struct.
///
/// Decision: serde's derive for an internally tagged enum buffers each frame into a generic
/// `Content` tree and decodes every variant from it again, which costs the wasm bundle several KB
/// per enum. A flat struct decodes in one pass; [`TryFrom`] then checks that the fields the `type`
/// needs are there, so a bad frame still gets a precise error.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PresenceWire {
    /// The message `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `userId` (join, update, leave, welcome).
    pub user_id: Option<String>,
    /// `name` (join, update, welcome).
    pub name: Option<String>,
    /// `cursor` (join, update).
    pub cursor: Option<Cursor>,
    /// `lastSeen` (join, update).
    pub last_seen: Option<f64>,
    /// `users` (snapshot).
    pub users: Option<Vec<Presence>>,
}

impl TryFrom<PresenceWire> for PresenceEvent {
    type Error = String;

    fn try_from(mut wire: PresenceWire) -> Result<Self, String> {
        let kind = std::mem::take(&mut wire.kind);
        let missing = |field: &str| format!("`{kind}` without `{field}`");
        let user = |wire: PresenceWire| -> Result<Presence, String> {
            let user_id = wire.user_id.ok_or_else(|| missing("userId"))?;
            let name = wire.name.ok_or_else(|| missing("name"))?;
            Ok(Presence {
                user_id,
                name,
                cursor: wire.cursor,
                last_seen: wire.last_seen.unwrap_or_default(),
            })
        };
        match kind.as_str() {
            "presence:snapshot" => Ok(Self::Snapshot {
                users: wire.users.ok_or_else(|| missing("users"))?,
            }),
            "presence:join" => user(wire).map(Self::Join),
            "presence:update" => user(wire).map(Self::Update),
            "presence:tick" => Ok(Self::Tick),
            "presence:leave" => Ok(Self::Leave {
                user_id: wire.user_id.ok_or_else(|| missing("userId"))?,
            }),
            other => Err(format!("unknown presence message type `{other}`")),
        }
    }
}

impl PresenceEvent {
    /// Parse a text frame; other message types (`welcome`, `pong`, `error`) are errors to ignore.
    pub fn parse(frame: &str) -> Result<Self, serde_json::Error> {
        // A struct's derive also takes an array of its fields: the protocol sends objects only.
        if !super::is_json_object(frame) {
            return Err(serde::de::Error::custom("expected a JSON object"));
        }
        serde_json::from_str(frame)
    }
}

/// The client's `presence:update` message.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct CursorUpdate<'a> {
    /// Always `presence:update`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The cursor; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<&'a Cursor>,
}

impl<'a> CursorUpdate<'a> {
    /// The update carrying `cursor`.
    pub fn new(cursor: Option<&'a Cursor>) -> Self {
        Self {
            kind: "presence:update",
            cursor,
        }
    }
}

/// The client's `presence:update` frame carrying `cursor` (omitted when `None`).
pub fn update_frame(cursor: Option<&Cursor>) -> String {
    // Cannot fail: two strings and two finite-or-null numbers.
    serde_json::to_string(&CursorUpdate::new(cursor)).unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    presence: Presence,
    refreshed_ms: f64,
}

/// Everyone present, keyed by user id, with local-clock expiry.
#[derive(Clone, Debug, PartialEq)]
pub struct PresenceMap {
    /// Forget users not refreshed for longer than this. Default 30000 ms, the server's TTL.
    pub ttl_ms: f64,
    // Sorted by user id (deterministic expiry order, binary search) in a `Vec`, not a
    // `BTreeMap`: tens of users, and each distinct `BTreeMap<K, V>` adds KB to the wasm bundle.
    entries: Vec<Entry>,
    self_id: Option<String>,
}

impl Default for PresenceMap {
    fn default() -> Self {
        Self::new(Self::DEFAULT_TTL_MS)
    }
}

impl PresenceMap {
    /// TTL used by [`PresenceMap::default`].
    pub const DEFAULT_TTL_MS: f64 = 30_000.0;

    /// An empty map forgetting users after `ttl_ms` without a refresh.
    pub fn new(ttl_ms: f64) -> Self {
        Self {
            ttl_ms,
            entries: Vec::new(),
            self_id: None,
        }
    }

    /// Apply a server event received at local time `now_ms`.
    pub fn apply(&mut self, event: PresenceEvent, now_ms: f64) {
        match event {
            PresenceEvent::Snapshot { users } => {
                self.entries.clear();
                users.into_iter().for_each(|p| self.upsert(p, now_ms));
            }
            PresenceEvent::Join(p) | PresenceEvent::Update(p) => self.upsert(p, now_ms),
            PresenceEvent::Tick => {
                for entry in &mut self.entries {
                    entry.refreshed_ms = now_ms;
                }
            }
            PresenceEvent::Leave { user_id } => {
                if let Ok(at) = self.find(&user_id) {
                    self.entries.remove(at);
                }
            }
        }
    }

    /// Remove users not refreshed within the TTL, returning their ids (sorted).
    pub fn expire(&mut self, now_ms: f64) -> Vec<String> {
        let ttl = self.ttl_ms;
        let mut expired = Vec::new();
        self.entries.retain(|entry| {
            let keep = now_ms - entry.refreshed_ms <= ttl;
            if !keep {
                expired.push(entry.presence.user_id.clone());
            }
            keep
        });
        expired
    }

    /// Everyone, sorted by name then id so rendering order is stable.
    pub fn users(&self) -> Vec<&Presence> {
        let mut users: Vec<&Presence> = self.entries.iter().map(|e| &e.presence).collect();
        users.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.user_id.cmp(&b.user_id)));
        users
    }

    /// Everyone except this client (see [`PresenceMap::set_self`]), in [`PresenceMap::users`] order.
    pub fn others(&self) -> Vec<&Presence> {
        let mut users = self.users();
        users.retain(|p| Some(p.user_id.as_str()) != self.self_id.as_deref());
        users
    }

    /// One user by id.
    pub fn get(&self, user_id: &str) -> Option<&Presence> {
        self.find(user_id).ok().map(|at| &self.entries[at].presence)
    }

    /// Number of users present.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nobody is present.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Remember this client's own id (from the `welcome` frame) so [`PresenceMap::others`] skips it.
    pub fn set_self(&mut self, user_id: impl Into<String>) {
        self.self_id = Some(user_id.into());
    }

    /// This client's own id, once known.
    pub fn self_id(&self) -> Option<&str> {
        self.self_id.as_deref()
    }

    /// Forget everyone (e.g. on disconnect: the next snapshot is the truth).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn upsert(&mut self, presence: Presence, now_ms: f64) {
        let entry = Entry {
            presence,
            refreshed_ms: now_ms,
        };
        match self.find(&entry.presence.user_id) {
            Ok(at) => self.entries[at] = entry,
            Err(at) => self.entries.insert(at, entry),
        }
    }

    fn find(&self, user_id: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|e| e.presence.user_id.as_str().cmp(user_id))
    }
}

/// A stable, readable `hsl(H 70% 45%)` colour for a user id (same id → same colour, every run).
pub fn color_for(user_id: &str) -> String {
    // FNV-1a: tiny, fixed, and unlike std's RandomState identical across runs and machines.
    let hash = user_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("hsl({} 70% 45%)", hash % 360)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn user(id: &str, name: &str) -> Presence {
        Presence {
            user_id: id.to_owned(),
            name: name.to_owned(),
            cursor: None,
            last_seen: 0.0,
        }
    }

    fn ids(users: &[&Presence]) -> Vec<String> {
        users.iter().map(|p| p.user_id.clone()).collect()
    }

    #[test]
    fn snapshot_replaces_everyone() {
        let mut m = PresenceMap::default();
        m.apply(PresenceEvent::Join(user("old", "Old")), 0.0);
        m.apply(
            PresenceEvent::Snapshot {
                users: vec![user("a", "Ann"), user("b", "Bo")],
            },
            1.0,
        );
        assert_eq!(ids(&m.users()), ["a", "b"]);
    }

    #[test]
    fn join_and_update_upsert_and_leave_removes() {
        let mut m = PresenceMap::default();
        m.apply(PresenceEvent::Update(user("a", "Ann")), 0.0);
        let moved = Presence {
            cursor: Some(Cursor { x: 0.5, y: 0.25 }),
            ..user("a", "Ann")
        };
        m.apply(PresenceEvent::Update(moved.clone()), 1.0);
        assert_eq!(m.get("a"), Some(&moved));
        m.apply(
            PresenceEvent::Leave {
                user_id: "a".to_owned(),
            },
            2.0,
        );
        assert!(m.is_empty());
    }

    #[test]
    fn a_tick_keeps_everyone_listed_and_parses_from_the_wire() {
        let mut m = PresenceMap::default();
        m.apply(PresenceEvent::Join(user("a", "Ann")), 0.0);
        m.apply(PresenceEvent::Join(user("b", "Bo")), 10_000.0);
        let tick = PresenceEvent::parse(r#"{"type":"presence:tick"}"#).expect("tick");
        assert_eq!(tick, PresenceEvent::Tick);
        m.apply(tick, 29_000.0);
        assert!(m.expire(58_000.0).is_empty(), "refreshed at 29 s");
        assert_eq!(m.expire(59_000.1), ["a", "b"]);
    }

    #[test]
    fn expiry_uses_the_local_clock_not_the_server_last_seen() {
        let mut m = PresenceMap::default();
        let skewed = Presence {
            last_seen: 1.0e12,
            ..user("a", "Ann")
        };
        m.apply(PresenceEvent::Join(skewed), 5_000.0);
        m.apply(PresenceEvent::Join(user("b", "Bo")), 20_000.0);
        assert!(m.expire(35_000.0).is_empty());
        assert_eq!(m.expire(35_000.1), ["a"]);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn users_sort_by_name_then_id_and_others_skip_self() {
        let mut m = PresenceMap::default();
        let users = vec![user("3", "Zed"), user("2", "Ann"), user("1", "Ann")];
        m.apply(PresenceEvent::Snapshot { users }, 0.0);
        m.set_self("2");
        assert_eq!(ids(&m.users()), ["1", "2", "3"]);
        assert_eq!(ids(&m.others()), ["1", "3"]);
        assert_eq!(m.self_id(), Some("2"));
    }

    #[test]
    fn protocol_frames_parse_and_other_types_are_errors() {
        let snapshot =
            r#"{"type":"presence:snapshot","users":[{"userId":"u1","name":"A","lastSeen":17}]}"#;
        let join = r#"{"type":"presence:join","userId":"u2","name":"B","cursor":{"x":0.1,"y":0.2},"lastSeen":1}"#;
        assert_eq!(
            PresenceEvent::parse(snapshot).ok(),
            Some(PresenceEvent::Snapshot {
                users: vec![Presence {
                    last_seen: 17.0,
                    ..user("u1", "A")
                }]
            })
        );
        let Ok(PresenceEvent::Join(p)) = PresenceEvent::parse(join) else {
            panic!("join did not parse")
        };
        assert_eq!(p.cursor, Some(Cursor { x: 0.1, y: 0.2 }));
        let leave = PresenceEvent::parse(r#"{"type":"presence:leave","userId":"u2"}"#).ok();
        assert_eq!(
            leave,
            Some(PresenceEvent::Leave {
                user_id: "u2".to_owned()
            })
        );
        assert!(PresenceEvent::parse(r#"{"type":"welcome","userId":"u1","name":"A"}"#).is_err());
        for (frame, want) in [
            (
                r#"{"type":"presence:join","name":"B"}"#,
                "`presence:join` without `userId`",
            ),
            (
                r#"{"type":"presence:update","userId":"u"}"#,
                "`presence:update` without `name`",
            ),
            (
                r#"{"type":"presence:leave"}"#,
                "`presence:leave` without `userId`",
            ),
            (
                r#"{"type":"presence:x"}"#,
                "unknown presence message type `presence:x`",
            ),
            (r#"{"userId":"u"}"#, "missing field `type`"),
            (r#"["presence:leave","u2"]"#, "expected a JSON object"),
        ] {
            let error = PresenceEvent::parse(frame).expect_err(frame).to_string();
            assert!(error.starts_with(want), "{frame}: {error}");
        }
        // The tagged shape it serialises to decodes back to the same event.
        let event = PresenceEvent::Update(Presence {
            cursor: Some(Cursor { x: 0.5, y: 1.0 }),
            ..user("u", "N")
        });
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(PresenceEvent::parse(&json).ok(), Some(event));
    }

    #[test]
    fn absent_cursor_is_omitted_on_the_wire() {
        let json = serde_json::to_value(user("u", "N")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "userId": "u", "name": "N", "lastSeen": 0.0 })
        );
        let frame: serde_json::Value = serde_json::from_str(&update_frame(None)).unwrap();
        assert_eq!(frame, serde_json::json!({ "type": "presence:update" }));
        let frame: serde_json::Value =
            serde_json::from_str(&update_frame(Some(&Cursor { x: 1.0, y: 0.5 }))).unwrap();
        assert_eq!(frame["cursor"], serde_json::json!({ "x": 1.0, "y": 0.5 }));
    }

    #[test]
    fn colours_are_stable_hsl_strings() {
        assert_eq!(color_for("user-1"), color_for("user-1"));
        assert_eq!(color_for(""), "hsl(61 70% 45%)");
        assert_ne!(color_for("user-1"), color_for("user-2"));
    }

    proptest! {
        #[test]
        fn map_matches_a_model_of_joins_and_leaves(ops in proptest::collection::vec((0u8..8, any::<bool>()), 0..100)) {
            let mut m = PresenceMap::default();
            let mut model = std::collections::BTreeSet::new();
            for (i, (id, join)) in ops.into_iter().enumerate() {
                let id = id.to_string();
                if join {
                    m.apply(PresenceEvent::Join(user(&id, &format!("n{}", 7 - i % 8))), i as f64);
                    model.insert(id);
                } else {
                    m.apply(PresenceEvent::Leave { user_id: id.clone() }, i as f64);
                    model.remove(&id);
                }
            }
            prop_assert_eq!(m.len(), model.len());
            let users = m.users();
            prop_assert!(users.windows(2).all(|w| (&w[0].name, &w[0].user_id) <= (&w[1].name, &w[1].user_id)));
        }

        #[test]
        fn every_id_gets_a_hue_in_range(id in "\\PC{0,20}") {
            let colour = color_for(&id);
            let hue: u32 = colour["hsl(".len()..colour.find(' ').unwrap_or(0)].parse().unwrap();
            prop_assert!(hue < 360 && colour.ends_with(" 70% 45%)"));
        }
    }
}
