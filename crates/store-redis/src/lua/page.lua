-- A page of a stream's participant records in roster order (read only).
-- KEYS: 1 roster or present (place -> identity), 2 people (identity -> record).
-- ARGV: 1 place to start after ('' from the start), 2 page size.
-- Returns {identity, record, place, …}, one item more than asked when there are more.
local from = ARGV[1] == '' and '-inf' or ('(' .. ARGV[1])
local found = redis.call('ZRANGE', KEYS[1], from, '+inf', 'BYSCORE', 'LIMIT', 0,
  tonumber(ARGV[2]) + 1, 'WITHSCORES')
if #found == 0 then return {} end
local identities = {}
for i = 1, #found, 2 do identities[#identities + 1] = found[i] end
local records = redis.call('HMGET', KEYS[2], unpack(identities))
local out = {}
for i, identity in ipairs(identities) do
  out[#out + 1] = identity
  out[#out + 1] = records[i] or ''
  out[#out + 1] = found[i * 2]
end
return out
