-- Store::write: one atomic batch. Redis runs a script alone, so checking
-- every condition first and applying only when all pass gives all or
-- nothing without undo.
--
-- KEYS[1]             the revision
-- KEYS[2]             the epoch (see epoch_rules.lua)
-- KEYS[s], KEYS[s+1]  values hash and id index of a kind (s = its slot)
-- ARGV[1]             the changes channel
-- ARGV[2], ARGV[3]    the epoch the writing node knows, the revision it announced
-- then 5 per op:      type (P put, D delete, K delete kind, X expect: the
--                     entity holds exactly value, else the batch fails),
--                     condition (A any, N must not exist, E must exist),
--                     slot, id, value
--
-- Returns {0, new revision, epoch}, or {1, index of the first failed op
-- (0-based)}.

local STRIDE = 5
local FIRST_OP = 4
local op_count = (#ARGV - FIRST_OP + 1) / STRIDE

-- What earlier ops of this batch did, so that later ops see them:
-- present[values key][id] = the value put, or false once deleted; and the
-- kinds a DeleteKind emptied.
local present = {}
local emptied = {}

-- The entity's value as the batch has it so far, or false when absent.
local function current(values, id)
  local known = present[values]
  if known ~= nil and known[id] ~= nil then
    return known[id]
  end
  if emptied[values] then
    return false
  end
  local stored = redis.call('HGET', values, id)
  if stored == false or stored == nil then
    return false
  end
  return stored
end

local function remember(values, id, value)
  local known = present[values]
  if known == nil then
    known = {}
    present[values] = known
  end
  known[id] = value
end

for i = 0, op_count - 1 do
  local at = FIRST_OP + i * STRIDE
  local op, condition = ARGV[at], ARGV[at + 1]
  local values, id = KEYS[tonumber(ARGV[at + 2])], ARGV[at + 3]
  if op == 'K' then
    emptied[values] = true
    present[values] = nil
  elseif op == 'X' then
    if current(values, id) ~= ARGV[at + 4] then
      return {1, i}
    end
  else
    local existed = current(values, id) ~= false
    if (condition == 'N' and existed) or (condition == 'E' and not existed) then
      return {1, i}
    end
    if op == 'P' then
      remember(values, id, ARGV[at + 4])
    else
      remember(values, id, false)
    end
  end
end

for i = 0, op_count - 1 do
  local at = FIRST_OP + i * STRIDE
  local op, slot, id = ARGV[at], tonumber(ARGV[at + 2]), ARGV[at + 3]
  local values, ids = KEYS[slot], KEYS[slot + 1]
  if op == 'P' then
    redis.call('HSET', values, id, ARGV[at + 4])
    redis.call('ZADD', ids, 0, id)
  elseif op == 'D' then
    redis.call('HDEL', values, id)
    redis.call('ZREM', ids, id)
  elseif op == 'K' then
    -- UNLINK frees a big kind in the background instead of inside the script.
    redis.call('UNLINK', values, ids)
  end
end

local epoch = current_epoch()
if epoch ~= ARGV[2] then
  -- The data the writer knew is gone: this write starts the new life.
  return {0, jump_past(tonumber(ARGV[3]), ARGV[1]), epoch}
end
local revision = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], string.format('%d', revision))
return {0, revision, epoch}
