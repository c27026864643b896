//! The Lua scripts (in `src/lua/`). Each touches the keys of one stream only (one hash tag, one
//! slot), so they run unchanged on Redis Cluster.
//!
//! - `insert.lua`: a new stream and its first event.
//! - `apply.lua`: a change of the stream itself, fenced by the version the domain decided it
//!   on; it takes the stream's next seq, so participant changes racing it never make it fail.
//! - `participant.lua`: a participant change decided and stored in one step (the record, the
//!   counters, the event) — the Lua twin of `orchestrator_domain::membership`.
//! - `page.lua`: a page of participant records (read only).
//! - room claims and the epoch: small scripts below.
//!
//! Every write records the id of the last event it applied, so a write fred re-sends after a
//! reconnect finds itself already applied and is never applied twice.

use fred::types::scripts::Script;

/// KEYS: room. ARGV: claimant id, holder it may replace (or ''). Returns `ok` or the holder.
const CLAIM_ROOM: &str = r"
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] or holder == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1])
  return 'ok'
end
return holder
";

/// KEYS: room. ARGV: holder id, how long the room remembers it in ms ('' for ever, '0' not
/// at all). A stopped stream stays the room's last holder for its retention (LiveKit's late
/// reports of its egresses find it there), and the next creator replaces it: a claim whose
/// holder is stopped is replaceable.
const RELEASE_ROOM: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '0' then
    redis.call('DEL', KEYS[1])
  elseif ARGV[2] ~= '' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
end
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
    pub participant: Script,
    pub page: Script,
    pub claim_room: Script,
    pub release_room: Script,
    pub epoch: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            insert: Script::from_lua(include_str!("lua/insert.lua")),
            apply: Script::from_lua(include_str!("lua/apply.lua")),
            participant: Script::from_lua(include_str!("lua/participant.lua")),
            page: Script::from_lua(include_str!("lua/page.lua")),
            claim_room: Script::from_lua(CLAIM_ROOM),
            release_room: Script::from_lua(RELEASE_ROOM),
            epoch: Script::from_lua(EPOCH),
        }
    }
}
