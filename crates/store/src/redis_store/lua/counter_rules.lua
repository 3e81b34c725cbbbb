-- The counter rules of counter_rules.rs, for the counter scripts (each
-- script is this file followed by its own body).
--
-- Time is the Redis server's: every node sharing the datastore then agrees
-- on whether a marker or a window is still live.
--
-- Values stay decimal strings end to end: Lua numbers are doubles and would
-- round counters beyond 2^53, so arithmetic is left to INCRBY (exact i64).

local I64_MAX = '9223372036854775807'
local I64_MIN = '-9223372036854775808'

local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- The counter's expiry: -2 absent, -1 none, else ms since the epoch.
local function expiry_of(key)
  return redis.call('PEXPIRETIME', key)
end

-- Whether a counter with this expiry is live at `now`. An expiry at or
-- before now is over (a window ending at t does not take a hit at t), while
-- Redis itself only drops the key after t: hence the check here.
local function live(expires_at, now)
  return expires_at == -1 or (expires_at >= 0 and expires_at > now)
end

-- Adds `by` to the counter `key` (named `name` in `index`) and returns the
-- new value. A live counter keeps its expiry; an absent or expired one
-- starts at `by` with `expires_at` ('' for none). Saturates at the i64
-- bounds: an overflowing quota is still over quota.
local function bump(index, key, name, by, expires_at, now)
  if not live(expiry_of(key), now) then
    redis.call('SET', key, by)
    if expires_at ~= '' then
      -- An expiry already past deletes the key at once: the counter counted
      -- `by` and is gone, as an expired counter is.
      redis.call('PEXPIREAT', key, expires_at)
    end
    redis.call('ZADD', index, 0, name)
    return by
  end
  local added = redis.pcall('INCRBY', key, by)
  if type(added) == 'table' and added.err then
    if not string.find(added.err, 'overflow', 1, true) then
      error(added)
    end
    local bound = I64_MAX
    if string.sub(by, 1, 1) == '-' then
      bound = I64_MIN
    end
    redis.call('SET', key, bound, 'KEEPTTL')
  end
  return redis.call('GET', key)
end

