-- Stores a change of the stream itself (decided by the domain on the version it read) if that
-- version is still current, numbers its event with the stream's next seq, appends and
-- publishes it. Participant changes (participant.lua) move seq and the counters meanwhile but
-- never the version, so a crowd of joins never makes this fence fail.
-- KEYS: 1 stream hash, 2 events, 3 present, 4 people, 5 roster, 6 broadcast (ingest, outputs).
-- ARGV: 1 expected version, 2 doc, 3 new version, 4 new status, 5 event JSON before its seq,
--       6 event JSON after its seq, 7 event id, 8 maxlen, 9 channel,
--       10 '1' when the room is gone (nobody present any more),
--       11 retention in ms once stopped ('' to keep for ever).
-- Returns {'ok', seq}, {'missing'} or {'conflict'}.
local stream = KEYS[1]
local current = redis.call('HMGET', stream, 'version', 'last', 'lastseq')
if not current[1] then return {'missing'} end
if current[1] ~= ARGV[1] then
  -- A write fred re-sent after a reconnect finds itself already applied.
  if current[2] == ARGV[7] then return {'ok', current[3]} end
  return {'conflict'}
end
local seq = redis.call('HINCRBY', stream, 'seq', 1)
redis.call('HSET', stream, 'doc', ARGV[2], 'version', ARGV[3], 'status', ARGV[4],
  'last', ARGV[7], 'lastseq', seq)
if ARGV[10] == '1' then
  redis.call('HSET', stream, 'active', 0, 'hosts', 0, 'viewers', 0, 'connected', 0)
  -- Freed in the background: the set can hold a whole audience.
  redis.call('UNLINK', KEYS[3])
end
local event = ARGV[5] .. seq .. ARGV[6]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], seq .. '-0', 'e', event)
redis.call('PUBLISH', ARGV[9], event)
if ARGV[11] ~= '' then
  for _, key in ipairs({KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6]}) do
    redis.call('PEXPIRE', key, ARGV[11])
  end
end
return {'ok', tostring(seq)}
