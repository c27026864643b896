-- One participant change, decided and stored in one atomic step: the record of one identity,
-- the stream's counters, its next seq, the event (appended and published). It touches the same
-- five keys whatever the audience size and never fails because of other writers.
--
-- The decision mirrors domain::membership::ParticipantChange::decide line by line (the store
-- contract suite holds both to the same behaviour). Timestamps are the domain's fixed-width
-- RFC 3339 strings, so comparing them as strings compares instants.
--
-- KEYS: 1 stream hash, 2 people (identity -> record), 3 roster (place -> identity, everyone),
--       4 present (place -> identity, present now), 5 events.
-- ARGV: 1 kind ('join' | 'leave' | 'media_joined' | 'media_left' | 'media_track'),
--       2 identity, 3 identity as a JSON string, 4 event id, 5 at, 6 instance id as a JSON
--       string, 7 stream id, 8 maxlen, 9 channel, 10 new participant id, 11 role,
--       12 metadata JSON ('' when not given), 13 media session id, 14 reported at ('' when
--       unknown), 15 track id, 16 '1' published / '0' unpublished.
-- Returns {outcome, record, active, hosts, viewers, connected, total, seq, event kind}; outcome is
-- 'changed', 'unchanged', 'missing', 'not_found' or 'not_active:<status>'.
local stream, people, roster, present, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local kind, who, at = ARGV[1], ARGV[2], ARGV[5]

local state = redis.call('HMGET', stream, 'status', 'last')
local status = state[1]
if not status then return {'missing'} end

local COUNTERS = {'active', 'hosts', 'viewers', 'connected', 'total'}

local function reply(outcome, record, event_kind)
  local c = redis.call('HMGET', stream, 'active', 'hosts', 'viewers', 'connected', 'total', 'seq')
  return {outcome, record or '', c[1], c[2], c[3], c[4], c[5], c[6], event_kind or ''}
end

local raw = redis.call('HGET', people, who)
-- A change fred re-sent after a reconnect finds itself already applied.
if state[2] == ARGV[4] then return reply('unchanged', raw) end
local p = raw and cjson.decode(raw) or nil
local present_now = p ~= nil and p.leftAt == nil and status ~= 'stopped'

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  if t.tracks then
    c.tracks = {}
    for i, track in ipairs(t.tracks) do c.tracks[i] = track end
  end
  return c
end

local function stale(reported)
  return reported ~= '' and p.mediaAt ~= nil and reported < p.mediaAt
end

local function newcomer(role, meta)
  return {id = ARGV[10], role = role, joinedAt = at, meta = meta}
end

local decide = {}

function decide.join()
  if status ~= 'active' then return nil, nil, 'not_active:' .. status end
  local role, meta = ARGV[11], ARGV[12]
  if present_now then
    if p.role == role and (meta == '' or meta == p.meta) then return nil end
    local n = copy(p)
    n.role = role
    if meta ~= '' then n.meta = meta end
    return n, 'participant_updated'
  end
  if p then
    local n = copy(p)
    n.role, n.sid, n.joinedAt, n.leftAt = role, nil, at, nil
    if meta ~= '' then n.meta = meta end
    return n, 'participant_joined'
  end
  return newcomer(role, meta ~= '' and meta or '{}'), 'participant_joined'
end

local function leave(sid, reported)
  if not present_now then return nil end
  if sid and p.sid and p.sid ~= sid then return nil end
  if stale(reported) then return nil end
  local n = copy(p)
  n.leftAt, n.tracks = at, nil
  if reported ~= '' then n.mediaAt = reported end
  return n, 'participant_left'
end

function decide.leave()
  if not p then return nil, nil, 'not_found' end
  return leave(nil, '')
end

function decide.media_left()
  return leave(ARGV[13], ARGV[14])
end

function decide.media_joined()
  if status ~= 'active' then return nil end
  local sid, reported = ARGV[13], ARGV[14]
  if not p then
    local n = newcomer(ARGV[11], '{}')
    n.sid = sid
    if reported ~= '' then n.mediaAt = reported end
    return n, 'participant_joined'
  end
  if p.sid == sid or stale(reported) then return nil end
  local n = copy(p)
  n.sid, n.tracks = sid, nil
  if reported ~= '' then n.mediaAt = reported end
  if p.leftAt == nil then return n, 'participant_updated' end
  n.joinedAt, n.leftAt = at, nil
  return n, 'participant_joined'
end

function decide.media_track()
  if not present_now then return nil end
  if p.sid ~= ARGV[13] or stale(ARGV[14]) then return nil end
  local n = copy(p)
  n.tracks = n.tracks or {}
  local known
  for i, track in ipairs(n.tracks) do
    if track == ARGV[15] then known = i end
  end
  if ARGV[16] == '1' and not known then
    table.insert(n.tracks, ARGV[15])
  elseif ARGV[16] == '0' and known then
    table.remove(n.tracks, known)
  else
    return nil
  end
  return n, 'participant_updated'
end

local n, event_kind, refused = decide[kind]()
if refused then return {refused} end
if not n then return reply('unchanged', raw) end

-- JSON is assembled by hand: user metadata travels as an opaque string, never re-encoded
-- (Redis's cjson turns [] into {}), and empty track lists are written as [].
local function str(s) return cjson.encode(s) end
local function tracks_json(tracks)
  local parts = {}
  for i, track in ipairs(tracks) do parts[i] = str(track) end
  return '[' .. table.concat(parts, ',') .. ']'
end
local function optional(out, r)
  if r.sid then out = out .. ',"sid":' .. str(r.sid) end
  if r.mediaAt then out = out .. ',"mediaAt":"' .. r.mediaAt .. '"' end
  if r.tracks and #r.tracks > 0 then out = out .. ',"tracks":' .. tracks_json(r.tracks) end
  return out
end
local function record_json(r)
  local out = '{"id":' .. str(r.id) .. ',"role":"' .. r.role .. '","joinedAt":"' .. r.joinedAt
    .. '","meta":' .. str(r.meta) .. ',"n":' .. string.format('%d', r.n)
  if r.leftAt then out = out .. ',"leftAt":"' .. r.leftAt .. '"' end
  return optional(out, r) .. '}'
end
local function wire_json(r)
  local out = '{"id":' .. str(r.id) .. ',"identity":' .. ARGV[3] .. ',"role":"' .. r.role
    .. '","joinedAt":"' .. r.joinedAt .. '","leftAt":'
    .. (r.leftAt and ('"' .. r.leftAt .. '"') or 'null') .. ',"metadata":' .. r.meta
  return optional(out, r) .. '}'
end

-- Mirrors domain::audience::AudienceDelta: a present participant counts once in `active`,
-- once in their role's counter, and in `connected` while a media session is known.
local function is_present(r)
  return r ~= nil and r.leftAt == nil
end
local function count(r, by)
  if not is_present(r) then return end
  redis.call('HINCRBY', stream, 'active', by)
  redis.call('HINCRBY', stream, r.role == 'host' and 'hosts' or 'viewers', by)
  if r.sid then redis.call('HINCRBY', stream, 'connected', by) end
end

if not p then
  n.n = redis.call('HINCRBY', stream, 'total', 1)
  redis.call('ZADD', roster, n.n, who)
end
count(p, -1)
count(n, 1)
local record = record_json(n)
redis.call('HSET', people, who, record)
if is_present(n) then
  redis.call('ZADD', present, n.n, who)
else
  redis.call('ZREM', present, who)
end

local seq = redis.call('HINCRBY', stream, 'seq', 1)
redis.call('HSET', stream, 'last', ARGV[4], 'lastseq', seq)
local c = redis.call('HMGET', stream, unpack(COUNTERS))
local event = '{"id":"' .. ARGV[4] .. '","seq":' .. seq .. ',"type":"' .. event_kind
  .. '","streamId":"' .. ARGV[7] .. '","timestamp":"' .. at .. '","data":{"participant":'
  .. wire_json(n) .. ',"audience":{"active":' .. c[1] .. ',"hosts":' .. c[2] .. ',"viewers":'
  .. c[3] .. ',"connected":' .. c[4] .. ',"totalJoined":' .. c[5] .. '}},"instanceId":'
  .. ARGV[6] .. '}'
redis.call('XADD', events, 'MAXLEN', '~', ARGV[8], seq .. '-0', 'e', event)
redis.call('PUBLISH', ARGV[9], event)
return {'changed', record, c[1], c[2], c[3], c[4], c[5], tostring(seq), event_kind}
