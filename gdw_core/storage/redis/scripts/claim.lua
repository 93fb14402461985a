-- claim: lease up to `count` pending tasks of one queue to a worker (highest priority first,
-- then FIFO), after promoting due scheduled / retrying tasks. A paused queue gives nothing.
-- pending -> claimed: the task waits in the worker's buffer (not started: no `sa`) until its
-- start mark (start.lua). Claimed tasks are indexed in `k` by lease deadline.
-- KEYS[1]  P .. 'p'
-- ARGV     common, [6] worker id, [7] count, [8] lease seconds
-- Returns  { seconds until the next scheduled/retrying task is due ('' = none), then 6 values per leased task:
--            id, fencing token, lease deadline, d (record JSON), attempts, created_at .. '|' .. run_at }
-- Each claim counts an attempt (att + 1) and bumps the task's fencing token.
-- Isolation: candidates are read (ZRANGE), never popped, and each is checked before it is
-- claimed: a missing record is dropped from the index, a non-hash key is quarantined, a record
-- with a missing payload or garbage fields ends failed (InvalidPayload, saying what is wrong).
-- None of them is handed out and none costs the rest of the batch.
local t = now()
local next_due = promote(t, 1000)
local out = {next_due and fmt(next_due - t) or ''}
if redis.call('EXISTS', P .. 'paused') == 1 then
  return out
end
local worker, want = ARGV[6], tonumber(ARGV[7])
local deadline = t + tonumber(ARGV[8])
local got, bad = 0, 0
while got < want and bad < 1000 do
  local ids = redis.call('ZRANGE', P .. 'p', 0, want - got - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local key = P .. 't:' .. id
    local f = indexed(id, 'pending', t, 'd', 'n', 'cr', 'run', 'att', 'tok')
    if not f then
      bad = bad + 1
    else
      local att, tok = int_field(f[6]), int_field(f[7])
      local problem = payload_problem(f[2])
      if not problem then
        if att == nil then problem = 'the attempts field is not an integer'
        elseif tok == nil then problem = 'the token field is not an integer'
        elseif num_field(f[4], 0) == nil then problem = 'the created field is not a number'
        elseif num_field(f[5], 0) == nil then problem = 'the run-at field is not a number'
        end
      end
      if problem then
        invalid(id, 'pending', problem, t, f[3], nil, att)
        bad = bad + 1
      else
        att, tok = att + 1, tok + 1
        redis.call('HSET', key, 'att', att, 'tok', tok, 'w', worker, 'dl', fmt(deadline))
        redis.call('HDEL', key, 'sa')
        move(id, 'pending', 'claimed', deadline, nil, f[3], worker, att)
        out[#out + 1] = id
        out[#out + 1] = tok
        out[#out + 1] = fmt(deadline)
        out[#out + 1] = f[2]
        out[#out + 1] = att
        out[#out + 1] = (f[4] or '0') .. '|' .. (f[5] or '0')
        got = got + 1
      end
    end
  end
end
return out
