-- The epoch rules, for the scripts that move or read the revision (each is
-- this file followed by its own body). KEYS[1] is the revision, KEYS[2] the
-- epoch: a token naming one life of the root's data. A server that lost
-- the data (restart without persistence, flush) lost the token with it, so
-- a node that finds another token than it knows knows its data is gone,
-- even when new writes already brought the revision back to where it was.

-- The epoch, created when missing. Server time is unique enough: scripts
-- run one at a time, and a new life starts after the old one ended.
local function current_epoch()
  local epoch = redis.call('GET', KEYS[2])
  if not epoch then
    local time = redis.call('TIME')
    epoch = time[1] .. '.' .. time[2]
    redis.call('SET', KEYS[2], epoch)
  end
  return epoch
end

local function stored_revision()
  return tonumber(redis.call('GET', KEYS[1]) or '0')
end

-- Moves the revision past both what the server holds and what the calling
-- node announced, and tells every node: after a loss they all must reload,
-- and a revision that went backwards would leave them silent.
local function jump_past(announced, channel)
  local revision = math.max(stored_revision(), announced) + 1
  local text = string.format('%d', revision)
  redis.call('SET', KEYS[1], text)
  redis.call('PUBLISH', channel, text)
  return revision
end

