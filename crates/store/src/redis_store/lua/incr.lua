-- Store::incr. KEYS[1] counter index, KEYS[2] counter;
-- ARGV[1] counter name, ARGV[2] by, ARGV[3] expiry ('' for none).
-- Returns the new value as a decimal string.

return bump(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], now_ms())
