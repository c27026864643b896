//! The Lua scripts. Each touches the keys of one stream only (one hash tag, one slot).
//!
//! Writes are fenced by the stream's version: the domain computes the change with
//! `Stream::apply` on the version it read, and the script stores it only if that version is
//! still current, together with the event (XADD with the seq as entry id), the last applied
//! event id and the notification (PUBLISH) — one atomic step. A write fred re-sends after a
//! reconnect finds its own event id as the last applied one and reports success instead of a
//! conflict, so it is never applied twice.

use fred::types::scripts::Script;

/// KEYS: stream, version, events, last. ARGV: blob, version, event, event id, seq, maxlen,
/// channel. Returns `ok` or `duplicate` (another stream has this id).
const INSERT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('GET', KEYS[4]) == ARGV[4] then return 'ok' end
  return 'duplicate'
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], ARGV[5] .. '-0', 'e', ARGV[3])
redis.call('SET', KEYS[4], ARGV[4])
redis.call('PUBLISH', ARGV[7], ARGV[3])
return 'ok'
";

/// KEYS: stream, version, events, last. ARGV: expected version, blob, event, event id, seq,
/// maxlen, channel. Returns `ok`, `missing` or `conflict`.
const APPLY: &str = r"
local current = redis.call('GET', KEYS[2])
if not current then return 'missing' end
if current ~= ARGV[1] then
  if redis.call('GET', KEYS[4]) == ARGV[4] then return 'ok' end
  return 'conflict'
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], ARGV[5] .. '-0', 'e', ARGV[3])
redis.call('SET', KEYS[4], ARGV[4])
redis.call('PUBLISH', ARGV[7], ARGV[3])
return 'ok'
";

/// KEYS: room. ARGV: claimant id, holder it may replace (or ''). Returns `ok` or the holder.
const CLAIM_ROOM: &str = r"
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] or holder == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1])
  return 'ok'
end
return holder
";

/// KEYS: room. ARGV: holder id. Deletes the claim only if this stream still holds it.
const RELEASE_ROOM: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 'ok'
";

/// KEYS: epoch. ARGV: a fresh epoch. Returns the current epoch, creating it if Redis has none
/// (a new or emptied Redis).
const EPOCH: &str = r"
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
";

/// The loaded scripts (their SHA1s are computed once).
#[derive(Debug, Clone)]
pub struct Scripts {
    pub insert: Script,
    pub apply: Script,
    pub claim_room: Script,
    pub release_room: Script,
    pub epoch: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            insert: Script::from_lua(INSERT),
            apply: Script::from_lua(APPLY),
            claim_room: Script::from_lua(CLAIM_ROOM),
            release_room: Script::from_lua(RELEASE_ROOM),
            epoch: Script::from_lua(EPOCH),
        }
    }
}
