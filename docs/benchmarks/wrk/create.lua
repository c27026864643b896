-- wrk: POST /streams with an empty object (room room-<id>).
request = function()
  return wrk.format("POST", "/streams", { ["Content-Type"] = "application/json" }, "{}")
end
