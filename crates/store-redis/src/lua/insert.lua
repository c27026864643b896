-- Stores a new stream with its first event.
-- KEYS: 1 stream hash, 2 events.
-- ARGV: 1 doc, 2 version, 3 status, 4 event JSON, 5 event id, 6 maxlen, 7 channel.
-- Returns 'ok', or 'duplicate' when another stream has this id.
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'last') == ARGV[5] then return 'ok' end
  return 'duplicate'
end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'version', ARGV[2], 'status', ARGV[3],
  'seq', 1, 'active', 0, 'hosts', 0, 'viewers', 0, 'connected', 0, 'total', 0, 'last', ARGV[5], 'lastseq', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '1-0', 'e', ARGV[4])
redis.call('PUBLISH', ARGV[7], ARGV[4])
return 'ok'
