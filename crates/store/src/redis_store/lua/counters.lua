-- Store::counters: KEYS are the counters, in request order.
-- Returns per counter: value (nil when absent or expired), expiry (-1 none).

local now = now_ms()
local found = {}
for i, key in ipairs(KEYS) do
  local expires_at = expiry_of(key)
  if live(expires_at, now) then
    found[2 * i - 1] = redis.call('GET', key)
    found[2 * i] = expires_at
  else
    found[2 * i - 1] = false
    found[2 * i] = -2
  end
end
return found
