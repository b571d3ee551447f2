//! Pure, deterministic logic behind the browser hooks.
//!
//! Nothing here touches the browser, a clock or a random source: time arrives as `now_ms: f64`
//! (a `performance.now()` reading) and randomness as `unit: f64` in `[0, 1)`. That keeps every
//! decision the hooks make testable natively with `cargo test -p realtime-hooks --lib`; the hooks
//! themselves only wire events and timers to these types.
//!
//! | module | what it decides |
//! |---|---|
//! | [`backoff`] | how long to wait before the next reconnect attempt, and when to give up |
//! | [`close_policy`] | whether a close code means "reconnect" or "stop", and how to describe it |
//! | [`decode`] | turning a received frame into a typed message, or a typed error with the raw text |
//! | [`handlers`] | routing typed messages to per-`type` handlers, counting what nobody handled |
//! | [`decimal`] | showing seconds, milliseconds and percentages without the std float formatter |
//! | [`outbox`] | what happens to messages sent while the socket is not open |
//! | [`throttle`] | leading + trailing throttling of frequent sends (cursor moves) |
//! | [`url`] | turning a configured endpoint into an absolute `ws(s)://` or `http(s)://` URL |
//! | [`history`] | bounded message history |
//! | [`heartbeat`] | pings, pongs, RTT and dead-link detection |
//! | [`presence`] | merging presence events, expiring silent users, stable user colours |
//! | [`resume`] | which messages of which streams we have, duplicates, where to resume |
//! | [`acks`] | messages kept until the server acknowledges them, resends, give-up |

pub mod acks;
pub mod backoff;
pub mod close_policy;
pub mod decimal;
pub mod decode;
pub mod handlers;
pub mod heartbeat;
pub mod history;
pub mod outbox;
pub mod presence;
pub mod resume;
pub mod throttle;
pub mod url;

pub use acks::{AckFailure, AckPolicy, AckTracker, PendingSend};
pub use backoff::{Jitter, ReconnectPolicy};
pub use close_policy::{describe_close_code, CloseDecision, ClosePolicy};
pub use decimal::Fixed;
pub use decode::{decode_frame, decode_object, is_json_object, truncate, DecodeError, Frame};
pub use handlers::{Handlers, Subscription};
pub use heartbeat::{Beat, HeartbeatPolicy, Liveness};
pub use history::History;
pub use outbox::{Outbox, OutboxError, Queued, SendPolicy};
pub use presence::{color_for, Cursor, Presence, PresenceEvent, PresenceMap};
pub use resume::{Positions, Recovery, StreamFrame, MAIN_STREAM};
pub use throttle::{Offer, Throttle};
pub use url::{resolve_endpoint, with_query_param, Scheme, UrlError};
