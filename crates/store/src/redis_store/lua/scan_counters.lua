-- One step of Store::scan_counters: live counters of the index, in name
-- order, from a lower bound while their name has the prefix.
--
-- KEYS[1] counter index; ARGV[1] counter key prefix, ARGV[2] name prefix,
-- ARGV[3] lower bound ("[" or "(" .. name), ARGV[4] how many live counters
-- are wanted, ARGV[5] how many index entries this step may read at most
-- (expired entries wait for a sweep, and must not make a step unbounded).
--
-- Counter keys are built here (ARGV[1] .. name), not passed in KEYS: fine
-- on a standalone Redis, and they share the root's hash slot should cluster
-- support come (which would want them declared).
--
-- Returns {more, last name read or nil, name1, value1, expiry1, ...}, more
-- being 1 when the range may go on past the last name read.

local now = now_ms()
local prefix = ARGV[2]
local wanted = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local names = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[3], '+', 'LIMIT', 0, budget)
local more = #names == budget
local last = false
local page = {}
local live_count = 0
for _, name in ipairs(names) do
  if string.sub(name, 1, #prefix) ~= prefix then
    more = false
    break
  end
  last = name
  local key = ARGV[1] .. name
  local expires_at = expiry_of(key)
  if live(expires_at, now) then
    page[#page + 1] = name
    page[#page + 1] = redis.call('GET', key)
    page[#page + 1] = expires_at
    live_count = live_count + 1
    if live_count == wanted then
      more = true
      break
    end
  end
end
local reply = {more and 1 or 0, last}
for _, item in ipairs(page) do
  reply[#reply + 1] = item
end
return reply
