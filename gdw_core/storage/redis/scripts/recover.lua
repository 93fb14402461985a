-- recover: running tasks of one queue whose lease expired go back to retrying (due now; the
-- attempt stays counted and a LeaseExpired error is recorded) or, when the attempts are spent
-- (a poison task that keeps killing its workers), to failed.
-- KEYS[1]  P .. 'r'
-- ARGV     common, [6] limit
-- Returns  the recovered task ids
local t = now()
local expired = redis.call('ZRANGE', P .. 'r', '-inf', t, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[6]))
local out = {}
for _, id in ipairs(expired) do
  local key = P .. 't:' .. id
  local f = redis.call('HMGET', key, 'st', 'n', 'w', 'att', 'mx')
  if f[1] ~= 'running' then
    redis.call('ZREM', P .. 'r', id)  -- stale entry
  else
    local att = tonumber(f[4]) or 0
    local worker = f[3] or ''
    add_error(key, cjson.encode({attempt = att, type = 'LeaseExpired',
      message = 'lease held by ' .. worker .. ' expired', traceback = '', at = t, worker = worker}))
    redis.call('HDEL', key, 'dl')
    if att >= (tonumber(f[5]) or 0) + 1 then
      redis.call('HSET', key, 'fa', fmt(t))
      move(id, 'running', 'failed', t, 'poison: attempts spent through lost leases', f[2], worker, att)
    else
      redis.call('HSET', key, 'run', fmt(t))
      move(id, 'running', 'retrying', t, 'lease expired', f[2], worker, att)
    end
    out[#out + 1] = id
  end
end
if #out > 0 then wake() end
return out
