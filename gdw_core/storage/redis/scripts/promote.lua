-- promote: due scheduled / retrying tasks of one queue become pending (and wake a worker).
-- KEYS[1]  P .. 'ds'
-- ARGV     common, [6] limit
-- Returns  when the next scheduled / retrying task is due (epoch seconds as a string), '' = none
local next_due = promote(now(), tonumber(ARGV[6]))
return next_due and fmt(next_due) or ''
