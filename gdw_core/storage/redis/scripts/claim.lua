-- claim: lease up to `count` pending tasks of one queue to a worker (highest priority first,
-- then FIFO), after promoting due scheduled / retrying tasks. A paused queue gives nothing.
-- pending -> claimed: the task waits in the worker's buffer (not started: no `sa`) until its
-- start mark (start.lua). Claimed tasks are indexed in `k` by lease deadline.
-- KEYS[1]  P .. 'p'
-- ARGV     common, [6] worker id, [7] count, [8] lease seconds, [9] LP the limit key prefix
--          (gdw_core.flow; see _flow.lua)
-- Returns  { seconds until the next scheduled/retrying task is due ('' = none), then 6 values per leased task:
--            id, fencing token, lease deadline, d (record JSON), attempts, created_at .. '|' .. run_at }
-- Each claim counts an attempt (att + 1) and bumps the task's fencing token.
-- Isolation: candidates are read (ZRANGE), never popped, and each is checked before it is
-- claimed: a missing record is dropped from the index, a non-hash key is quarantined, a record
-- with a missing payload or garbage fields ends failed (InvalidPayload, saying what is wrong).
-- None of them is handed out and none costs the rest of the batch.
-- Flow control: a task over one of its limits moves pending -> throttled (index score: when to
-- try it again) and the scan goes on with the next candidates (no head-of-line blocking; at most
-- 256 throttled per call). A task whose limit definition is garbage fails alone, saying so.
-- A task whose expires_at passed is cancelled (detail DETAIL.EXPIRED), never handed out.
-- A paused queue neither promotes nor gives anything.
local t = now()
if redis.call('EXISTS', P .. 'paused') == 1 then
  return {''}
end
local next_due = promote(t, 1000)
local out = {next_due and fmt(next_due - t) or ''}
local worker, want = ARGV[6], tonumber(ARGV[7])
local deadline = t + tonumber(ARGV[8])
local dls = fmt(deadline)  -- once per call (see istr)
local lease = lease_score(deadline)
local LP = ARGV[9] or ''
local got, bad, throttled = 0, 0, 0
local set = {'att', '', 'tok', '', 'w', worker, 'dl', dls}  -- what a claim writes with the status
local known = {set = set}
IX_LATER = true  -- the index writes of the claims go in one ZREM and one ZADD (ix_flush)
while got < want and bad < 1000 and throttled < 256 do
  if IX_KN > 0 then ix_flush() end  -- the tasks claimed so far leave the pending index first
  local ids = redis.call('ZRANGE', P .. 'p', 0, want - got - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local f, key = indexed(id, 'pending', t, 'd', 'n', 'cr', 'run', 'att', 'tok', 'sa')
    if not f then
      bad = bad + 1
    else
      local att, tok = int_field(f[6]), int_field(f[7])
      local problem = payload_problem(f[2])
      if not problem then
        if att == nil then problem = 'the attempts field is not an integer'
        elseif tok == nil then problem = 'the token field is not an integer'
        end  -- the created and run-at fields are checked by the claimer (encoding.from_claim)
      end
      local wait_until, expired = nil, false
      if not problem and LP ~= '' then
        local names, why, expires = task_flow(f[2])
        if expires and expires <= t then
          expire(id, t, f[3], att, DETAIL.NOT_STARTED_IN_TIME)
          expired, names = true, nil
          throttled = throttled + 1
        end
        if names == false then
          problem = why
        elseif names then
          if IX_KN > 0 then ix_flush() end  -- (admission reads the throttled index)
          wait_until, why = admit(key, names, LP, t, deadline)
          if wait_until == false then
            problem, wait_until = why, nil
          elseif wait_until then
            redis.call('HSET', key, 'thr', why, 'run', fmt(wait_until))
            move(id, 'pending', 'throttled', wait_until, why, f[3], nil, att)
            throttled = throttled + 1
            if next_due == nil or wait_until < next_due then
              next_due = wait_until
              out[1] = fmt(next_due - t)
            end
          end
        end
      end
      if wait_until or expired then
        -- throttled (it waits in its own index) or expired (cancelled) above
      elseif problem then
        invalid(id, 'pending', problem, t, f[3], nil, att)
        bad = bad + 1
      else
        if f[8] then redis.call('HDEL', key, 'sa') end  -- started by an earlier attempt
        att, tok = att + 1, tok + 1
        local atts = istr(att)
        set[2], set[4], known.key = atts, istr(tok), key
        move(id, 'pending', 'claimed', lease, nil, f[3], worker, atts, known)
        out[#out + 1] = id
        out[#out + 1] = tok
        out[#out + 1] = dls
        out[#out + 1] = f[2]
        out[#out + 1] = att
        out[#out + 1] = (f[4] or '0') .. '|' .. (f[5] or '0')
        got = got + 1
      end
    end
  end
end
return out
