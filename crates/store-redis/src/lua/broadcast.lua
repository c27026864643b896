-- One change of a stream's broadcast records (its ingest, one output, or the live mark) and its
-- event, stored in one atomic step: the twin of domain::broadcast::BroadcastState::apply. The
-- records themselves are sealed (they hold a stream key, RTMP targets), so the fence is each
-- record's revision, kept beside it in plain.
-- KEYS: 1 stream hash, 2 broadcast hash, 3 events.
-- ARGV: 1 '1' when the stream must be active, 2 kind ('ingest' | 'output' | 'live'),
--       3 field ('ingest', 'o:<name>'), 4 expected revision ('' = the record must not exist),
--       5 sealed record ('' = remove it), 6 its revision, 7 most outputs,
--       8 event JSON before its seq ('' = no event), 9 event JSON after its seq, 10 event id,
--       11 maxlen, 12 channel.
-- Returns {'ok', seq or ''}, {'missing'}, {'not_active', status}, {'conflict'} or {'too_many'}.
local stream, broadcast, events = KEYS[1], KEYS[2], KEYS[3]
local state = redis.call('HMGET', stream, 'status', 'last', 'lastseq')
local status = state[1]
if not status then return {'missing'} end
-- A change fred re-sent after a reconnect finds itself already applied.
if ARGV[8] ~= '' and state[2] == ARGV[10] then return {'ok', state[3]} end
if ARGV[1] == '1' and status ~= 'active' then return {'not_active', status} end

local kind, field = ARGV[2], ARGV[3]
if kind == 'live' then
  if redis.call('HSETNX', broadcast, 'live', '1') == 0 then return {'conflict'} end
  return {'ok', ''}
end

local current = redis.call('HGET', broadcast, field .. '.rev')
if (current or '') ~= ARGV[4] then return {'conflict'} end
if ARGV[5] == '' then
  if current then
    redis.call('HDEL', broadcast, field, field .. '.rev')
    if kind == 'output' then redis.call('HINCRBY', broadcast, 'n', -1) end
  end
else
  if kind == 'output' and not current then
    if tonumber(redis.call('HGET', broadcast, 'n') or '0') >= tonumber(ARGV[7]) then
      return {'too_many'}
    end
    redis.call('HINCRBY', broadcast, 'n', 1)
  end
  redis.call('HSET', broadcast, field, ARGV[5], field .. '.rev', ARGV[6])
end
-- A stopped stream's keys expire: so do its records, written after the stop or not.
local ttl = redis.call('PTTL', stream)
if ttl > 0 then redis.call('PEXPIRE', broadcast, ttl) end

if ARGV[8] == '' then return {'ok', ''} end
local seq = redis.call('HINCRBY', stream, 'seq', 1)
redis.call('HSET', stream, 'last', ARGV[10], 'lastseq', seq)
local event = ARGV[8] .. seq .. ARGV[9]
redis.call('XADD', events, 'MAXLEN', '~', ARGV[11], seq .. '-0', 'e', event)
redis.call('PUBLISH', ARGV[12], event)
return {'ok', tostring(seq)}
