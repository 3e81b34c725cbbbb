-- Store::scan: one page of a kind, ids and values read in one atomic step
-- so that a concurrent delete cannot leave an id without its value.
--
-- KEYS[1] id index, KEYS[2] values hash
-- ARGV[1] lower bound ("-" or "(" .. after), ARGV[2] page size
--
-- Returns {id1, value1, id2, value2, ...}.

local ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[2])
local page = {}
for _, id in ipairs(ids) do
  local value = redis.call('HGET', KEYS[2], id)
  if value then
    page[#page + 1] = id
    page[#page + 1] = value
  end
end
return page
