-- The revision and epoch as a node checks them (at connect, on each poll
-- and resubscribe), healing a loss of data it finds.
--
-- ARGV[1] the epoch the node knows ('' at connect: adopt whatever is, or
-- start one), ARGV[2] the revision it announced, ARGV[3] the changes channel.
-- Returns {revision, epoch}.

local known, announced = ARGV[1], tonumber(ARGV[2])
local epoch = current_epoch()
local revision = stored_revision()
if epoch == known or known == '' or revision > announced then
  -- Nothing lost, a first look, or a loss whose healing already went past
  -- what this node announced: the stored revision wakes it.
  return {revision, epoch}
end
return {jump_past(announced, ARGV[3]), epoch}
