-- claim: lease up to `count` pending tasks of one queue to a worker (highest priority first,
-- then FIFO), after promoting due scheduled / retrying tasks. A paused queue gives nothing.
-- KEYS[1]  P .. 'p'
-- ARGV     common, [6] worker id, [7] count, [8] lease seconds
-- Returns  { seconds until the next scheduled/retrying task is due ('' = none), then 6 values per leased task:
--            id, fencing token, lease deadline, d (record JSON), attempts, created_at .. '|' .. run_at }
-- Each claim counts an attempt (att + 1) and bumps the task's fencing token.
local t = now()
local next_due = promote(t, 1000)
local out = {next_due and fmt(next_due - t) or ''}
if redis.call('EXISTS', P .. 'paused') == 1 then
  return out
end
local worker, want = ARGV[6], tonumber(ARGV[7])
local deadline = t + tonumber(ARGV[8])
local got = 0
while got < want do
  local popped = redis.call('ZPOPMIN', P .. 'p', want - got)
  if #popped == 0 then break end
  for i = 1, #popped, 2 do
    local id = popped[i]
    local key = P .. 't:' .. id
    local f = redis.call('HMGET', key, 'st', 'd', 'n', 'cr', 'run')
    if f[1] == 'pending' and ALLOWED.pending.running then
      local att = redis.call('HINCRBY', key, 'att', 1)
      local tok = redis.call('HINCRBY', key, 'tok', 1)
      redis.call('HSET', key, 'st', 'running', 'w', worker, 'sa', fmt(t), 'dl', fmt(deadline))
      redis.call('ZADD', P .. 'r', deadline, id)
      emit('running', id, 'pending', f[3], worker, att, nil)
      out[#out + 1] = id
      out[#out + 1] = tok
      out[#out + 1] = fmt(deadline)
      out[#out + 1] = f[2] or ''
      out[#out + 1] = att
      out[#out + 1] = (f[4] or '0') .. '|' .. (f[5] or '0')
      got = got + 1
    end
  end
end
return out
