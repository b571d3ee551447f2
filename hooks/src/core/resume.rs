//! Resuming streams after a reconnect: the client side of the server's history protocol
//! (docs/protocol.md, "History and recovery").
//!
//! Every chat message carries `seq`, one more than the previous message of its stream (the
//! global chat; each room), and every stream has an `epoch`. [`Positions`] remembers, per
//! stream, which `seq`s this client has: everything up to a contiguous position plus any that
//! arrived ahead of it (across server instances a message can overtake another). A frame whose
//! `seq` it already has is a duplicate (a message both live and in a replay) and is dropped;
//! the position asked for on a reconnect is the contiguous one, so a hole is always filled.
//! The `replayed` frame that ends a replay says whether the server could recover everything
//! ([`Recovery`]).

use std::collections::HashMap;

use serde::Deserialize;

/// The stream of frames that name no room (the global chat).
pub const MAIN_STREAM: &str = "";

/// Streams remembered at most; the least recently used is forgotten beyond this.
pub const MAX_STREAMS: usize = 64;

/// The fields of a server frame that resuming and acknowledging need.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamFrame {
    /// The frame's `type`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Position in its stream (`message`, `ack`).
    #[serde(default)]
    pub seq: Option<u64>,
    /// The room, for room streams.
    #[serde(default)]
    pub room: Option<String>,
    /// The stream's epoch (`welcome`, `joined`, `replayed`).
    #[serde(default)]
    pub epoch: Option<String>,
    /// `replayed`: whether everything missed was replayed.
    #[serde(default)]
    pub recovered: Option<bool>,
    /// `replayed`: why not.
    #[serde(default)]
    pub reason: Option<String>,
    /// `replayed`: the first `seq` covered.
    #[serde(default)]
    pub from: Option<u64>,
    /// `replayed`: the stream's newest `seq`.
    #[serde(default)]
    pub to: Option<u64>,
    /// `ack` (and a message's echo): the sender's id for the message.
    #[serde(default)]
    pub client_id: Option<String>,
}

impl StreamFrame {
    /// The frame types whose fields resuming and acknowledging read; others are skipped unread.
    pub const TYPES: [&'static str; 5] = ["welcome", "joined", "message", "replayed", "ack"];

    /// Reads the fields from a text frame; `None` for a frame that carries none of them (checked
    /// cheaply before any parsing) or is not a JSON object.
    pub fn read(text: &str) -> Option<Self> {
        if super::decode::surely_not(text, &Self::TYPES) {
            return None;
        }
        let relevant =
            text.contains("\"seq\"") || text.contains("\"epoch\"") || text.contains("\"clientId\"");
        if !relevant || !super::decode::is_json_object(text) {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// The stream the frame belongs to: its room, or [`MAIN_STREAM`].
    pub fn stream(&self) -> &str {
        self.room.as_deref().unwrap_or(MAIN_STREAM)
    }
}

/// What a `replayed` frame said, plus how many messages of the replay were new to this client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The stream ([`MAIN_STREAM`] or a room).
    pub stream: String,
    /// Whether every message after the client's position was replayed.
    pub recovered: bool,
    /// Why not: `new`, `epoch`, `too_old`, `invalid`, `unavailable` (or whatever the server said).
    pub reason: Option<String>,
    /// Messages in the replay this client did not have.
    pub missed: u32,
    /// The first `seq` the replay covered.
    pub from: u64,
    /// The stream's newest `seq` at the replay.
    pub to: u64,
}

impl Recovery {
    /// A one-line notice for people, or `None` when there is nothing to say (a newcomer's
    /// history, a reconnect that missed nothing).
    pub fn notice(&self) -> Option<String> {
        if self.recovered {
            return match self.missed {
                0 => None,
                1 => Some("1 missed message recovered".to_owned()),
                n => Some(format!("{n} missed messages recovered")),
            };
        }
        let why = match self.reason.as_deref() {
            Some("new") | None => return None,
            Some("epoch") => "the server restarted",
            Some("too_old") => "you were away longer than the server keeps history",
            Some("unavailable") => "the server's history is unavailable right now",
            Some(_) => "the server could not tell what you missed",
        };
        Some(format!("Some messages may be missing: {why}"))
    }

    /// Whether this is a warning (something may be missing), not good news.
    pub fn is_warning(&self) -> bool {
        !self.recovered && !matches!(self.reason.as_deref(), Some("new") | None)
    }
}

#[derive(Clone, Debug, Default)]
struct Stream {
    epoch: Option<String>,
    /// Every `seq` up to here is had.
    contiguous: u64,
    /// Had, above `contiguous`, sorted. A `Vec`, not a `BTreeSet`: it holds the few messages
    /// that overtook another, and each distinct B-tree adds KB of code to the wasm bundle.
    ahead: Vec<u64>,
    /// New messages counted since the replay began (`welcome`/`joined`), until `replayed`.
    replay_new: Option<u32>,
    touched: u64,
}

impl Stream {
    /// Moves `contiguous` over the `ahead` entries that now follow it.
    fn advance(&mut self) {
        let run = self
            .ahead
            .iter()
            .zip(1..)
            .take_while(|(&seq, i)| seq == self.contiguous + i)
            .count();
        if run > 0 {
            self.contiguous += run as u64;
            self.ahead.drain(..run);
        }
    }

    fn reset(&mut self, epoch: &str) {
        self.epoch = Some(epoch.to_owned());
        self.contiguous = 0;
        self.ahead.clear();
    }
}

/// Which messages of which streams this client has (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Positions {
    streams: HashMap<String, Stream>,
    clock: u64,
    duplicates: u64,
}

impl Positions {
    fn stream(&mut self, name: &str) -> &mut Stream {
        self.clock += 1;
        let known = self.streams.contains_key(name);
        if !known && self.streams.len() >= MAX_STREAMS {
            let oldest = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.touched)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.streams.remove(&oldest);
            }
        }
        // Every message passes here: allocate the name only for a stream not seen before.
        if !known {
            self.streams.insert(name.to_owned(), Stream::default());
        }
        let clock = self.clock;
        // A stream not seen before was inserted just above, so this always finds it.
        let stream = self.streams.get_mut(name).expect("inserted above"); // ok: invariant
        stream.touched = clock;
        stream
    }

    /// A `welcome` or `joined` named the stream's epoch: a replay follows. Another epoch than
    /// the one remembered means the old positions mean nothing any more.
    pub fn begin(&mut self, stream: &str, epoch: &str) {
        let s = self.stream(stream);
        match s.epoch.as_deref() {
            Some(known) if known != epoch => s.reset(epoch),
            Some(_) => {}
            // Messages that came before the first epoch belong to it.
            None => s.epoch = Some(epoch.to_owned()),
        }
        s.replay_new = Some(0);
    }

    /// A message with `seq` arrived: `true` if it is new, `false` for one already had (drop it).
    pub fn observe(&mut self, stream: &str, seq: u64) -> bool {
        let s = self.stream(stream);
        let at = match s.ahead.binary_search(&seq) {
            Err(at) if seq > s.contiguous => at,
            _ => {
                self.duplicates += 1;
                return false;
            }
        };
        s.ahead.insert(at, seq);
        s.advance();
        if let Some(n) = &mut s.replay_new {
            *n = n.saturating_add(1);
        }
        true
    }

    /// The `replayed` frame: the client now has (or has given up on) everything up to `to`.
    pub fn replayed(&mut self, frame: &StreamFrame) -> Recovery {
        let name = frame.stream().to_owned();
        let s = self.stream(&name);
        if let Some(epoch) = frame.epoch.as_deref().filter(|e| !e.is_empty()) {
            // The replay's epoch is the authority (it differs from the welcome's only if the
            // history was lost in between); the messages just replayed belong to it.
            s.epoch = Some(epoch.to_owned());
        }
        let to = frame.to.unwrap_or(0);
        if to > s.contiguous {
            s.contiguous = to;
            s.ahead.retain(|&seq| seq > to);
        }
        s.advance();
        Recovery {
            stream: name,
            recovered: frame.recovered.unwrap_or(false),
            reason: frame.reason.clone(),
            missed: s.replay_new.take().unwrap_or(0),
            from: frame.from.unwrap_or(0),
            to,
        }
    }

    /// Where to resume `stream`: `EPOCH:SEQ`, or `None` before its epoch is known.
    pub fn position(&self, stream: &str) -> Option<String> {
        let s = self.streams.get(stream)?;
        let epoch = s.epoch.as_deref()?;
        Some(format!("{epoch}:{}", s.contiguous))
    }

    /// Forgets `stream` (its next messages are all new).
    pub fn forget(&mut self, stream: &str) {
        self.streams.remove(stream);
    }

    /// Duplicates dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(
        stream: Option<&str>,
        epoch: &str,
        recovered: bool,
        from: u64,
        to: u64,
    ) -> StreamFrame {
        StreamFrame {
            kind: "replayed".into(),
            room: stream.map(str::to_owned),
            epoch: Some(epoch.into()),
            recovered: Some(recovered),
            reason: (!recovered).then(|| "epoch".to_owned()),
            from: Some(from),
            to: Some(to),
            ..Default::default()
        }
    }

    #[test]
    fn frames_are_read_only_when_they_carry_stream_fields() {
        assert_eq!(StreamFrame::read(r#"{"type":"typing","room":"a"}"#), None);
        assert_eq!(StreamFrame::read(r#"["seq"]"#), None);
        let f =
            StreamFrame::read(r#"{"type":"message","room":"a","seq":7,"text":"x"}"#).expect("read");
        assert_eq!(
            (f.kind.as_str(), f.seq, f.stream()),
            ("message", Some(7), "a")
        );
        let ack = StreamFrame::read(r#"{"type":"ack","clientId":"c1","seq":3}"#).expect("ack");
        assert_eq!(
            (ack.client_id.as_deref(), ack.stream()),
            (Some("c1"), MAIN_STREAM)
        );
        // Wrong types in a field: not a stream frame, not a panic.
        assert_eq!(StreamFrame::read(r#"{"type":"message","seq":"x"}"#), None);
    }

    #[test]
    fn duplicates_are_dropped_and_the_position_is_the_contiguous_one() {
        let mut p = Positions::default();
        p.begin(MAIN_STREAM, "e1");
        assert!(p.observe(MAIN_STREAM, 1));
        assert!(p.observe(MAIN_STREAM, 3), "ahead of a hole");
        assert!(!p.observe(MAIN_STREAM, 3));
        assert!(!p.observe(MAIN_STREAM, 1));
        assert_eq!(
            p.position(MAIN_STREAM).as_deref(),
            Some("e1:1"),
            "2 is missing"
        );
        assert!(p.observe(MAIN_STREAM, 2), "a late one fills the hole");
        assert_eq!(p.position(MAIN_STREAM).as_deref(), Some("e1:3"));
        assert_eq!(p.duplicates(), 2);
    }

    #[test]
    fn a_replay_counts_what_was_new_and_moves_the_position_to_its_end() {
        let mut p = Positions::default();
        p.begin("ops", "e1");
        for seq in 1..=3 {
            p.observe("ops", seq);
        }
        p.replayed(&replayed(Some("ops"), "e1", true, 1, 3));
        // Reconnect at e1:3; the server replays 4..=23 while 24 came live first.
        p.begin("ops", "e1");
        assert!(p.observe("ops", 24));
        let mut new = 0;
        for seq in 4..=24 {
            new += u32::from(p.observe("ops", seq));
        }
        assert_eq!(new, 20, "24 was already there");
        let r = p.replayed(&replayed(Some("ops"), "e1", true, 4, 24));
        assert_eq!((r.recovered, r.missed, r.to), (true, 21, 24));
        assert_eq!(r.notice().as_deref(), Some("21 missed messages recovered"));
        assert_eq!(p.position("ops").as_deref(), Some("e1:24"));
    }

    #[test]
    fn a_newcomers_history_sets_the_position_without_a_notice() {
        let mut p = Positions::default();
        p.begin(MAIN_STREAM, "e1");
        for seq in 951..=1000 {
            p.observe(MAIN_STREAM, seq);
        }
        let mut f = replayed(None, "e1", false, 951, 1000);
        f.reason = Some("new".into());
        let r = p.replayed(&f);
        assert_eq!((r.notice(), r.is_warning()), (None, false));
        assert_eq!(p.position(MAIN_STREAM).as_deref(), Some("e1:1000"));
    }

    #[test]
    fn another_epoch_starts_over_and_warns() {
        let mut p = Positions::default();
        p.begin(MAIN_STREAM, "e1");
        p.observe(MAIN_STREAM, 5);
        p.begin(MAIN_STREAM, "e2");
        assert!(p.observe(MAIN_STREAM, 1), "seq 1 of the new epoch is new");
        let r = p.replayed(&replayed(None, "e2", false, 1, 1));
        assert!(r.is_warning());
        assert_eq!(
            r.notice().as_deref(),
            Some("Some messages may be missing: the server restarted")
        );
        assert_eq!(p.position(MAIN_STREAM).as_deref(), Some("e2:1"));
    }

    #[test]
    fn positions_wait_for_an_epoch_and_streams_are_bounded() {
        let mut p = Positions::default();
        assert!(p.observe("r", 1), "a message before joined is kept");
        assert_eq!(p.position("r"), None, "no epoch yet");
        p.begin("r", "e");
        assert!(
            !p.observe("r", 1),
            "joined with a first epoch keeps what arrived"
        );
        for i in 0..MAX_STREAMS + 10 {
            p.begin(&format!("room{i}"), "e");
        }
        assert!(p.streams.len() <= MAX_STREAMS);
    }
}
