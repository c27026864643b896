-- wrk: GET /streams/:id round robin over the ids in $STREAM_IDS (space separated).
local ids = {}
for id in string.gmatch(os.getenv("STREAM_IDS") or "", "%S+") do
  ids[#ids + 1] = id
end
local suffix = os.getenv("SUFFIX") or ""
local i = 0

request = function()
  i = i + 1
  return wrk.format("GET", "/streams/" .. ids[(i % #ids) + 1] .. suffix)
end
