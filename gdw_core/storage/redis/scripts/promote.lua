-- promote: due scheduled / retrying tasks of one queue become pending (and wake a worker).
-- KEYS[1]  P .. 'ds'
-- ARGV     common, [6] limit (a paused queue promotes nothing)
-- Returns  when the queue next needs the scheduler (epoch seconds as a string, '' = never): the
--          soonest of the next scheduled / retrying run-at and the next recurring tick (recdue)
local t = now()
local next_due = nil
if redis.call('EXISTS', P .. 'paused') == 0 then  -- a paused queue keeps its due tasks where they are
  next_due = promote(t, tonumber(ARGV[6]))
end
local tick = redis.pcall('ZRANGE', P .. 'recdue', 0, 0, 'WITHSCORES')
if type(tick) == 'table' and not tick.err and #tick > 0 then
  local s = tonumber(tick[2])
  if next_due == nil or s < next_due then next_due = s end
end
return next_due and fmt(next_due) or ''
