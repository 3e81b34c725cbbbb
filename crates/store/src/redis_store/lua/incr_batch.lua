-- Store::incr_batch, atomic because Redis runs a script alone.
--
-- KEYS[1] counter index, KEYS[2..] the counters in order (the marker first
-- when there is one); ARGV[1] '1' with a marker, '0' without, then per
-- counter: name, by, expiry ('' for none).
--
-- Returns 1 when the batch counted, 0 when its marker was live.

local now = now_ms()
if ARGV[1] == '1' and live(expiry_of(KEYS[2]), now) then
  return 0
end
for i = 2, #KEYS do
  local at = 2 + (i - 2) * 3
  bump(KEYS[1], KEYS[i], ARGV[at], ARGV[at + 1], ARGV[at + 2], now)
end
return 1
