-- wrk: POST /streams/$STREAM_ID/join, every request a new participantName.
local threads = {}

setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local counter = 0
local path = "/streams/" .. (os.getenv("STREAM_ID") or "") .. "/join"
local headers = { ["Content-Type"] = "application/json" }

request = function()
  counter = counter + 1
  local body = '{"participantName":"wrk' .. tid .. '-' .. counter .. '"}'
  return wrk.format("POST", path, headers, body)
end
