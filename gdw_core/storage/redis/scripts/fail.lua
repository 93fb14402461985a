-- fail: record a failed attempt: claimed | running -> retrying (due after a delay) or -> failed.
-- A task an operator asked to cancel is not retried: it ends cancelled (the attempt's error kept).
-- KEYS[1]  P .. 't:' .. id
-- ARGV     common, [6] id, [7] fencing token, [8] error JSON prefix (ends with '"at":'),
--          [9] error time ('' = now), [10] error type (event detail), [11] retry delay seconds ('' = fail for good)
-- Returns  the new status ('retrying' | 'failed' | 'cancelled'), or '' when the token is stale / not leased / not a task hash
local t = now()
local id = ARGV[6]
local key = P .. 't:' .. id
local f = held(key, ARGV[7])
if not f then
  return ''
end
local cancel = ARGV[11] ~= '' and redis.call('HGET', key, 'creq') == '1'
may_enter(ARGV[11] == '' and 'failed' or cancel and 'cancelled' or 'retrying')  -- before any write
add_error(key, error_json(ARGV[8], ARGV[9], t))
redis.call('HDEL', key, 'dl')
if ARGV[11] == '' then
  redis.call('HSET', key, 'fa', fmt(t))
  move(id, f[1], 'failed', t, ARGV[10], f[3], f[4], f[5])
  return 'failed'
end
if cancel then
  redis.call('HSET', key, 'fa', fmt(t))
  move(id, f[1], 'cancelled', t, DETAIL.CANCELLED_BY_OPERATOR, f[3], f[4], f[5])
  return 'cancelled'
end
local run_at = t + math.max(0, tonumber(ARGV[11]))
redis.call('HSET', key, 'run', fmt(run_at))
move(id, f[1], 'retrying', run_at, ARGV[10], f[3], f[4], f[5])
return 'retrying'
