-- cancel: an operator cancels a task. Waiting (scheduled / pending / retrying / throttled / blocked) -> cancelled at
-- once; claimed / running -> flagged cancel requested (its worker stops it and records
-- cancelled); finished tasks are left as they are. A key that is not a task hash is quarantined
-- and replaced by a failed record saying so.
-- KEYS[1]  P .. 't:' .. id
-- ARGV     common, [6] id
-- Returns  the status after the call, '' when there is no such task
local t = now()
local id = ARGV[6]
local key = P .. 't:' .. id
local f, what = fields(key, 'st', 'n', 'w', 'att', 'creq')
if not f then
  quarantine(id, 'pending', what, t)
  return 'failed'
end
local st = f[1]
if not st then return '' end
if WAITING[st] then
  may_enter('cancelled')  -- before any write
  redis.call('HSET', key, 'fa', fmt(t))
  move(id, st, 'cancelled', t, DETAIL.CANCELLED_BY_OPERATOR, f[2], f[3], f[4])
  return 'cancelled'
end
if LEASED[st] and f[5] ~= '1' then
  redis.call('HSET', key, 'creq', 1)
  emit('cancel_requested', id, nil, f[2], f[3], f[4], nil)
end
return st
