//! [`MessageHistory`] in Redis: one Redis Stream per history stream, so every instance hands
//! out the same `seq`s and a restarted instance recovers its clients.
//!
//! Keys, for stream `S` under prefix `P`: `P:hist:S` (the Redis Stream; entry id `<seq>-0`,
//! fields `u n t ts c k`: user id, name, text, timestamp, clientId, dedupe key), `P:hist:S:meta`
//! (hash: `epoch`, `seq`) and `P:hist:S:keys` (hash: dedupe key → `seq`). Appending, handing out
//! the `seq`, the idempotency check and trimming are one script, so two instances can never
//! hand out the same `seq` or append one `clientId` twice. A `meta` hash that is gone (Redis
//! lost its data, or the stream sat quiet for [`META_TTL`]) starts a new epoch and drops the
//! rest, so positions from the old one are never taken for positions in the new one.
//!
//! The stream and dedupe keys expire a minute after the history's age limit when nobody
//! writes; `meta` lives [`META_TTL`] (at least twice the age limit), so a quiet room keeps its
//! epoch and a client that was away missed nothing when nothing was said.

use std::sync::Arc;
use std::time::Duration;

use redis::{RedisError, Script, ScriptInvocation, Value};

use super::{stream_entries, text, Shared};
use crate::broker::{new_run_id, BackendError, BoxFuture};
use crate::history::{Appended, Entry, HistoryLimits, MessageHistory, NewEntry, Read, Snapshot};
use crate::protocol::now_ms;

/// How long a stream's epoch and `seq` outlive its last message (unless the age limit is
/// longer: then twice that).
pub const META_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Shared Lua: the epoch (created with a clean slate when missing) and trimming by age and
/// length, forgetting the dedupe keys of what goes.
const LIB: &str = r"
local function head(stream, meta, keys, new_epoch)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    epoch = new_epoch
    redis.call('DEL', stream, keys)
    redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
  end
  return epoch
end
local function trim(stream, keys, max_len, min_ts)
  while true do
    local len = redis.call('XLEN', stream)
    local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', 32)
    if #batch == 0 then return end
    local removed = 0
    for _, e in ipairs(batch) do
      local f = e[2]
      local ts, k = 0, ''
      for i = 1, #f, 2 do
        if f[i] == 'ts' then ts = tonumber(f[i + 1]) or 0 elseif f[i] == 'k' then k = f[i + 1] end
      end
      if len - removed > max_len or ts < min_ts then
        redis.call('XDEL', stream, e[1])
        if k ~= '' then redis.call('HDEL', keys, k) end
        removed = removed + 1
      else
        return
      end
    end
  end
end
";

/// KEYS: stream, meta, keys. ARGV: new epoch, max len, min ts, data ttl ms, meta ttl ms,
/// dedupe key, user, name, text, ts, clientId. Returns `{epoch, seq, duplicate, fields}`.
const APPEND: &str = r"
local epoch = head(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
trim(KEYS[1], KEYS[3], tonumber(ARGV[2]), tonumber(ARGV[3]))
if ARGV[6] ~= '' then
  local prior = redis.call('HGET', KEYS[3], ARGV[6])
  if prior then
    local e = redis.call('XRANGE', KEYS[1], prior .. '-0', prior .. '-0')
    if #e > 0 then return {epoch, tonumber(prior), 1, e[1][2]} end
    redis.call('HDEL', KEYS[3], ARGV[6])
  end
end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('XADD', KEYS[1], seq .. '-0', 'u', ARGV[7], 'n', ARGV[8], 't', ARGV[9],
  'ts', ARGV[10], 'c', ARGV[11], 'k', ARGV[6])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], ARGV[6], seq) end
trim(KEYS[1], KEYS[3], tonumber(ARGV[2]), tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {epoch, seq, 0, {}}
";

/// KEYS: stream, meta, keys. ARGV: new epoch, max len, min ts, meta ttl ms, mode (`after`,
/// `newest`), n (first seq wanted, or how many). Returns `{epoch, latest, first kept or 0,
/// entries}` (newest mode: newest first).
const READ: &str = r"
local epoch = head(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
trim(KEYS[1], KEYS[3], tonumber(ARGV[2]), tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local latest = tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local first_seq = 0
if #first > 0 then first_seq = tonumber(string.match(first[1][1], '^(%d+)')) end
local entries = {}
if ARGV[5] == 'after' then
  entries = redis.call('XRANGE', KEYS[1], ARGV[6] .. '-0', '+')
elseif tonumber(ARGV[6]) > 0 then
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[6])
end
return {epoch, latest, first_seq, entries}
";

/// The chat history in Redis (see the module docs).
pub struct RedisHistory {
    pub(super) shared: Arc<Shared>,
    pub(super) prefix: String,
    pub(super) limits: HistoryLimits,
    append: Script,
    read: Script,
}

impl RedisHistory {
    pub(super) fn new(shared: Arc<Shared>, prefix: String, limits: HistoryLimits) -> Self {
        Self {
            shared,
            prefix,
            limits,
            append: Script::new(&format!("{LIB}{APPEND}")),
            read: Script::new(&format!("{LIB}{READ}")),
        }
    }

    /// `script` on `stream`'s three keys with the arguments both scripts start with: a
    /// candidate epoch, the length bound and the oldest timestamp kept.
    fn invoke<'s>(&self, script: &'s Script, stream: &str) -> ScriptInvocation<'s> {
        let base = format!("{}:hist:{stream}", self.prefix);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&base)
            .key(format!("{base}:meta"))
            .key(format!("{base}:keys"))
            .arg(Self::candidate_epoch())
            .arg(self.limits.max_messages)
            .arg(self.limits.min_timestamp(now_ms()));
        invocation
    }

    fn ttls_ms(&self) -> (u128, u128) {
        let age = self.limits.max_age.as_millis();
        let data = age + 60_000;
        let meta = META_TTL.as_millis().max(age * 2);
        (data, meta)
    }

    /// A fresh epoch, used only if the stream has none: this instance's id plus the time, so
    /// two instances (or runs) creating one at once still differ.
    fn candidate_epoch() -> String {
        format!("r{}.{}", new_run_id(), now_ms())
    }
}

/// The seq of a stream entry id `<seq>-0`.
fn seq_of(id: &str) -> Option<u64> {
    id.split_once('-').and_then(|(seq, _)| seq.parse().ok())
}

fn int(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.parse().ok(),
    }
}

/// Reads an entry's fields (`[k, v, k, v, ...]`) with its `seq`.
fn entry(seq: u64, fields: &[Value]) -> Option<Entry> {
    let mut entry = Entry {
        seq,
        user_id: String::new(),
        name: String::new(),
        text: String::new(),
        timestamp: 0,
        client_id: None,
    };
    for pair in fields.chunks(2) {
        let [k, v] = pair else { continue };
        let v = text(v)?;
        match text(k)?.as_str() {
            "u" => entry.user_id = v,
            "n" => entry.name = v,
            "t" => entry.text = v,
            "ts" => entry.timestamp = v.parse().ok()?,
            "c" => entry.client_id = Some(v).filter(|c| !c.is_empty()),
            _ => {}
        }
    }
    Some(entry)
}

/// Entries of an `XRANGE` reply.
fn entries(value: &Value) -> Vec<Entry> {
    stream_entries(value, |id, fields| entry(seq_of(&id)?, fields))
}

fn malformed(what: &str) -> BackendError {
    format!("unexpected reply to the history {what} script").into()
}

impl MessageHistory for RedisHistory {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        new: NewEntry,
    ) -> BoxFuture<'a, Result<(Appended, Entry), BackendError>> {
        Box::pin(async move {
            let mut conn = self.shared.connection()?;
            let (data_ttl, meta_ttl) = self.ttls_ms();
            let reply: Result<Value, RedisError> = self
                .invoke(&self.append, stream)
                .arg(data_ttl.to_string())
                .arg(meta_ttl.to_string())
                .arg(new.dedupe.as_deref().unwrap_or(""))
                .arg(&new.user_id)
                .arg(&new.name)
                .arg(&new.text)
                .arg(new.timestamp)
                .arg(new.client_id.as_deref().unwrap_or(""))
                .invoke_async(&mut conn)
                .await;
            let reply = reply.inspect_err(|e| self.shared.failed("history append", e))?;
            let Value::Array(parts) = reply else {
                return Err(malformed("append"));
            };
            let [epoch, seq, duplicate, fields] = parts.as_slice() else {
                return Err(malformed("append"));
            };
            let epoch: Arc<str> = text(epoch).ok_or_else(|| malformed("append"))?.into();
            let seq = int(seq).ok_or_else(|| malformed("append"))?;
            let duplicate = int(duplicate) == Some(1);
            let stored = match (duplicate, fields) {
                (true, Value::Array(fields)) => entry(seq, fields),
                _ => None,
            };
            let stored = stored.unwrap_or(Entry {
                seq,
                user_id: new.user_id,
                name: new.name,
                text: new.text,
                timestamp: new.timestamp,
                client_id: new.client_id,
            });
            let appended = Appended {
                epoch,
                seq,
                duplicate,
            };
            Ok((appended, stored))
        })
    }

    fn read<'a>(
        &'a self,
        stream: &'a str,
        what: Read,
    ) -> BoxFuture<'a, Result<Snapshot, BackendError>> {
        Box::pin(async move {
            let mut conn = self.shared.connection()?;
            let (_, meta_ttl) = self.ttls_ms();
            let (mode, n) = match what {
                // Past the largest possible seq nothing can follow: ask for none.
                Read::After(seq) => match seq.checked_add(1) {
                    Some(first) => ("after", first.to_string()),
                    None => ("newest", "0".to_string()),
                },
                Read::Newest(n) => ("newest", n.to_string()),
            };
            let reply: Result<Value, RedisError> = self
                .invoke(&self.read, stream)
                .arg(meta_ttl.to_string())
                .arg(mode)
                .arg(n)
                .invoke_async(&mut conn)
                .await;
            let reply = reply.inspect_err(|e| self.shared.failed("history read", e))?;
            let Value::Array(parts) = reply else {
                return Err(malformed("read"));
            };
            let [epoch, latest, first, list] = parts.as_slice() else {
                return Err(malformed("read"));
            };
            let mut entries = entries(list);
            if mode == "newest" {
                entries.reverse();
            }
            Ok(Snapshot {
                epoch: text(epoch).ok_or_else(|| malformed("read"))?.into(),
                latest: int(latest).ok_or_else(|| malformed("read"))?,
                first_kept: int(first).filter(|&seq| seq > 0),
                entries,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_and_fields_read_back() {
        assert_eq!(seq_of("42-0"), Some(42));
        assert_eq!(seq_of("x-0"), None);
        let fields = |c: &str| {
            [
                "u",
                "u1",
                "n",
                "Ada",
                "t",
                "hi",
                "ts",
                "7",
                "c",
                c,
                "k",
                "u1\u{1f}c1",
            ]
            .iter()
            .map(|s| Value::BulkString(s.as_bytes().to_vec()))
            .collect::<Vec<_>>()
        };
        let e = entry(3, &fields("c1")).expect("an entry");
        assert_eq!(
            (
                e.seq,
                e.user_id.as_str(),
                e.text.as_str(),
                e.timestamp,
                e.client_id.as_deref()
            ),
            (3, "u1", "hi", 7, Some("c1"))
        );
        assert_eq!(entry(3, &fields("")).and_then(|e| e.client_id), None);
    }
}
