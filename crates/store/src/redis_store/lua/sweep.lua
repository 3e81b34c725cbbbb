-- One step of Store::sweep_expired_counters. Redis drops expired counters
-- by itself; what is left is their index entries, which this removes.
--
-- KEYS[1] counter index; ARGV[1] counter key prefix, ARGV[2] lower bound
-- ("-" or "(" .. name), ARGV[3] entries to look at in this step.
--
-- Counter keys are built here (ARGV[1] .. name), not passed in KEYS: fine
-- on a standalone Redis, and they share the root's hash slot should cluster
-- support come (which would want them declared).
--
-- Returns {removed, last name looked at or nil when the index is done}.

local now = now_ms()
local step = tonumber(ARGV[3])
local names = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], '+', 'LIMIT', 0, step)
local removed = 0
for _, name in ipairs(names) do
  local key = ARGV[1] .. name
  if not live(expiry_of(key), now) then
    -- A counter expiring exactly now is still in Redis: it goes too.
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], name)
    removed = removed + 1
  end
end
local last = false
if #names == step then
  last = names[#names]
end
return {removed, last}
