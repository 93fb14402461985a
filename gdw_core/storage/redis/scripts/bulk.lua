-- bulk: one bounded step of an operator's action on many tasks (or on one: the re-run of an id).
-- KEYS[1]  P .. INDEX[state] (the walked index), or P .. 't:' .. id when ARGV[7] is ''
-- ARGV     common, [6] action: retry | cancel | purge | count,
--          [7] state walked ('' = act on the one id in ARGV[8], no walk),
--          [8] lo: index score to walk from (inclusive) / the id, [9] ties: tasks left in place at
--          exactly lo (skipped by LIMIT), [10] hi: index score to walk to ('' = snapshot now),
--          [11] limit, [12] task name ('' = any), [13] since, [14] before ('' = open): the
--          window on finished-at (finished states) or created-at (others)
-- Returns  {next lo, next ties, hi, more (1/0), id, done (1/0), reason, id, done, reason, ...};
--          in one-id mode {'', 0, '', 0, id, done, reason} with reason 'missing' when there is no
--          such task.
-- A retry: failed / cancelled -> pending under the same id, attempts reset to 0 (a fresh budget),
-- errors (the history) kept, event detail DETAIL.RERUN; scheduled / retrying -> pending now
-- (DETAIL.RETRY_NOW). A cancel: waiting -> cancelled; claimed / running -> cancel requested. A purge: a finished
-- task is deleted. A record that cannot be read is skipped with its reason; the rest proceed.
local t = now()
local action, state = ARGV[6], ARGV[7]

local function read(id)
  local ok = redis.pcall('HMGET', P .. 't:' .. id, 'st', 'pri', 'n', 'w', 'att', 'creq', 'cr', 'fa')
  if type(ok) == 'table' and ok.err then
    return nil, 'unreadable record: a ' .. redis.call('TYPE', P .. 't:' .. id).ok .. ' key'
  end
  if not ok[1] then return nil, 'missing' end
  if not INDEX[ok[1]] then return nil, 'unreadable record: unknown status ' .. ok[1] end
  return ok, nil
end

local function due_now(id, f, detail)
  redis.call('HSET', P .. 't:' .. id, 'run', fmt(t))
  move(id, f[1], 'pending', pending_score(f[2]), detail, f[3], '', f[5])
  wake()
end

-- act on one readable task; returns done (1/0) and the reason
local function act(id, f)
  local st = f[1]
  if action == 'count' then return 1, 'matches' end
  if action == 'retry' then
    if st == 'scheduled' or st == 'retrying' or st == 'throttled' then
      due_now(id, f, DETAIL.RETRY_NOW)
      return 1, 'due now'
    end
    if st == 'failed' or st == 'cancelled' then
      redis.call('HDEL', P .. 't:' .. id, 'fa', 'sa', 'w', 'res', 'prog', 'creq', 'dl')
      redis.call('HSET', P .. 't:' .. id, 'att', 0)
      f[5] = '0'
      due_now(id, f, DETAIL.RERUN)
      return 1, 'rerun'
    end
  elseif action == 'cancel' then
    if WAITING[st] then  -- scheduled / pending / retrying / throttled / blocked
      redis.call('HSET', P .. 't:' .. id, 'fa', fmt(t))
      move(id, st, 'cancelled', t, DETAIL.CANCELLED_BY_OPERATOR, f[3], f[4], f[5])
      return 1, 'cancelled'
    end
    if st == 'claimed' or st == 'running' then
      if f[6] ~= '1' then
        redis.call('HSET', P .. 't:' .. id, 'creq', 1)
        emit('cancel_requested', id, nil, f[3], f[4], f[5], nil)
      end
      return 1, 'cancel requested'
    end
  elseif action == 'purge' then
    if TERMINAL[st] then
      redis.call('DEL', P .. 't:' .. id)
      redis.call('ZREM', P .. INDEX[st], id)
      return 1, 'purged'
    end
  end
  return 0, 'it is ' .. st
end

if state == '' then  -- one id: an operator's retry of one task
  local id = ARGV[8]
  local f, problem = read(id)
  if not f then return {'', 0, '', 0, id, 0, problem} end
  local done, reason = act(id, f)
  return {'', 0, '', 0, id, done, reason}
end

local idx = P .. INDEX[state]
local lo, ties, hi, limit = ARGV[8], tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11])
local name, since, before = ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14])
if hi == '' then  -- the walk ends where the index ends now: tasks entering it later are not met
  local last = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if #last == 0 then return {lo, 0, '', 0} end
  hi = last[2]
end
local rows = redis.call('ZRANGE', idx, lo, hi, 'BYSCORE', 'LIMIT', ties, limit, 'WITHSCORES')
local out = {'', 0, hi, 0}
local next_lo, next_ties = lo, ties
for i = 1, #rows, 2 do
  local id, score = rows[i], rows[i + 1]
  local stays = 1  -- whether the task is still in this index after its turn
  local f, problem = read(id)
  if not f then
    if problem == 'missing' then  -- an id pointing nowhere: dropped from the index, alone
      redis.call('ZREM', idx, id)
      stays = 0
    end
    table.insert(out, id); table.insert(out, 0); table.insert(out, problem)
  elseif f[1] == state then
    local when = tonumber(f[7]) or 0
    if TERMINAL[state] then when = tonumber(f[8]) or 0 end
    if (name == '' or f[3] == name) and (not since or when >= since) and (not before or when <= before) then
      local done, reason = act(id, f)
      table.insert(out, id); table.insert(out, done); table.insert(out, reason)
      if done == 1 and action ~= 'count' and not (action == 'cancel' and (f[1] == 'claimed' or f[1] == 'running')) then
        stays = 0
      end
    end
  end
  if score ~= next_lo then
    next_lo, next_ties = score, 0
  end
  next_ties = next_ties + stays
end
out[1], out[2] = next_lo, next_ties
if #rows == 2 * limit then out[4] = 1 end
return out
