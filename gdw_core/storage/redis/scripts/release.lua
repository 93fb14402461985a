-- release: a worker gives a leased task back (a graceful drain) without spending an attempt:
-- claimed -> pending (never started: back in the pending order with its priority), running ->
-- retrying, due now (RELEASE_TO). The interruption, if sent, is kept as a note that did not count.
-- A task an operator asked to cancel while it was leased ends cancelled instead: the request is
-- honoured, never carried back into the queue.
-- KEYS[1]  P .. 't:' .. id
-- ARGV     common, [6] id, [7] fencing token, [8] error JSON prefix ending in '"at":' ('' = no
--          note), [9] error time ('' = now)
-- Returns  1 released, 0 stale token / not leased / not a task hash
local t = now()
local id = ARGV[6]
local key = P .. 't:' .. id
local f = held(key, ARGV[7])
if not f then
  return 0
end
local att = math.max(0, (tonumber(f[5]) or 1) - 1)  -- attempts_after_release
local cancel = redis.call('HGET', key, 'creq') == '1'
may_enter(cancel and 'cancelled' or RELEASE_TO[f[1]])  -- before any write
redis.call('HSET', key, 'att', att)
if ARGV[8] ~= '' then
  add_error(key, error_json(ARGV[8], ARGV[9], t))
end
redis.call('HDEL', key, 'dl')
if cancel then
  redis.call('HSET', key, 'fa', fmt(t))
  move(id, f[1], 'cancelled', t, DETAIL.CANCELLED_BY_OPERATOR, f[3], f[4], att)
  return 1
end
local to = RELEASE_TO[f[1]]
local score = t
if to == 'pending' then
  score = pending_score(num_field(redis.call('HGET', key, 'pri'), 0) or 0)
  redis.call('HDEL', key, 'w')
else
  redis.call('HSET', key, 'run', fmt(t))
end
move(id, f[1], to, score, DETAIL.RELEASED, f[3], f[4], att)
wake()
return 1
