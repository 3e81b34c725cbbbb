-- One step of Store::scan_ephemeral: live records of the index, in name
-- order, from a lower bound while their name has the prefix. Index entries
-- of records that are gone (Redis expired them) or over are removed on the
-- way, so a scanned range never keeps dead entries.
--
-- KEYS[1] ephemeral index; ARGV[1] record key prefix, ARGV[2] name prefix,
-- ARGV[3] lower bound ("[" or "(" .. name), ARGV[4] how many live records
-- are wanted, ARGV[5] how many index entries this step may read at most.
--
-- Record keys are built here (ARGV[1] .. name), not passed in KEYS, as in
-- scan_counters.lua (they share the root's hash slot).
--
-- Returns {more, last name read or nil, name1, value1, ...}, more being 1
-- when the range may go on past the last name read.

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
  if live(expiry_of(key), now) then
    page[#page + 1] = name
    page[#page + 1] = redis.call('GET', key)
    live_count = live_count + 1
    if live_count == wanted then
      more = true
      break
    end
  else
    -- Gone, or expiring exactly now (still in Redis): both read as absent.
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], name)
  end
end
local reply = {more and 1 or 0, last}
for _, item in ipairs(page) do
  reply[#reply + 1] = item
end
return reply
