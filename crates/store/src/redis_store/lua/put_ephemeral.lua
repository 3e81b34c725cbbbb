-- Store::put_ephemeral. KEYS[1] ephemeral index, KEYS[2] record;
-- ARGV[1] record name, ARGV[2] value, ARGV[3] expiry (ms since the epoch).
--
-- An expiry at or before now (the server's clock, as for counters) is
-- already over: the record goes rather than being written.

local now = now_ms()
if tonumber(ARGV[3]) <= now then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[3])
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 1
