-- gdw prelude: prepended to every script when it is loaded (it is not a script of its own).
--
-- Conventions shared by the per-queue scripts:
--   ARGV[1] P      key prefix of the queue, "<namespace>:{<queue>}:"; every key a script touches
--                  starts with it, so all of them hash to the queue's slot (Redis Cluster)
--   ARGV[2] Q      the queue name
--   ARGV[3] MAXEV  events kept in the queue's stream (XADD MAXLEN ~)
--   ARGV[4] KEEPC  completed tasks kept (count retention)
--   ARGV[5] KEEPF  failed / cancelled tasks kept
--   script-specific arguments start at ARGV[6]
-- Keys under P: t:<id> task hash; p pending zset (score: -priority*1e12 + seq); ds scheduled and
-- dr retrying zsets (score: run-at); r running zset (score: lease deadline); c / f / x completed,
-- failed, cancelled zsets (score: finished-at); ev event stream; wake list of wake tokens; seq
-- counter; paused flag; rec / recdue recurring entries.
-- Task hash fields: d (JSON: name, args, kwargs, queue, priority, max_retries, retry, timeout,
-- recurring_id, secret), n name, st status, pri, mx max_retries, att attempts, tok fencing
-- token, w worker, cr created, run run-at, sa started, fa finished, dl lease deadline, res result
-- JSON, errs JSON array of attempt errors, prog progress JSON, creq cancel requested.

-- THE transition table; must equal gdw_core.status.TRANSITIONS (a test compares them)
local ALLOWED = {
  scheduled = {pending = true, cancelled = true},
  pending = {running = true, cancelled = true},
  running = {completed = true, retrying = true, failed = true, cancelled = true},
  retrying = {pending = true, cancelled = true},
  completed = {},
  failed = {pending = true},
  cancelled = {pending = true},
}
-- (the event details of gdw_core.lifecycle.Detail that bulk.lua uses; generated on newer trees)
local DETAIL = {RETRY_NOW = 'retry now', CANCELLED_BY_OPERATOR = 'cancelled by operator', RERUN = 'rerun'}
local INDEX = {scheduled = 'ds', pending = 'p', running = 'r', retrying = 'dr',
               completed = 'c', failed = 'f', cancelled = 'x'}
local TERMINAL = {completed = true, failed = true, cancelled = true}
local FINISHED = 0  -- tasks finished so far by this script call

local P, Q, MAXEV, KEEPC, KEEPF = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])

local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function fmt(x)
  return string.format('%.6f', x)
end

local function emit(kind, id, old, name, worker, att, detail)
  redis.call('XADD', P .. 'ev', 'MAXLEN', '~', MAXEV, '*', 'k', kind, 't', id or '', 'o', old or '',
             'n', name or '', 'q', Q, 'w', worker or '', 'a', att or '', 'd', detail or '')
end

-- push a wake token for a worker blocked on the queue's wake list (BLPOP). Tokens matter only
-- while the queue is nearly empty (workers block only when they find nothing), and the list is
-- capped, so a long backlog costs one ZCARD per task here.
local function wake()
  if redis.call('ZCARD', P .. 'p') <= 16 and redis.call('RPUSH', P .. 'wake', '1') > 64 then
    redis.call('LTRIM', P .. 'wake', -64, -1)
  end
end

local function pending_score(pri)
  pri = math.max(-8000, math.min(8000, tonumber(pri) or 0))
  return -pri * 1e12 + redis.call('INCR', P .. 'seq')
end

-- keep at most `keep` tasks in a finished index, deleting the oldest records
local function retain(status)
  local keep = KEEPF
  if status == 'completed' then keep = KEEPC end
  local idx = P .. INDEX[status]
  local over = redis.call('ZCARD', idx) - keep
  if over > 0 then
    local gone = redis.call('ZPOPMIN', idx, over)
    for i = 1, #gone, 2 do
      redis.call('DEL', P .. 't:' .. gone[i])
    end
  end
end

-- move task `id` from status `old` to `new` (index score `score`) if the table allows it;
-- appends the event. Returns false and changes nothing when the move is not allowed.
local function move(id, old, new, score, detail, name, worker, att)
  local allowed = ALLOWED[old]
  if allowed == nil or not allowed[new] then
    return false
  end
  if TERMINAL[new] then  -- finished in one script: keep their order (newest first lists)
    score = score + FINISHED * 0.000001
    FINISHED = FINISHED + 1
  end
  redis.call('ZREM', P .. INDEX[old], id)
  redis.call('ZADD', P .. INDEX[new], score, id)
  redis.call('HSET', P .. 't:' .. id, 'st', new)
  emit(new, id, old, name, worker, att, detail)
  if TERMINAL[new] then
    retain(new)
  end
  return true
end

-- The fields {status, token, name, worker, attempts} of the task at ``key`` if it is running
-- under the fencing token ``token``; nil when the token is stale or the task is not running.
local function held(key, token)
  local f = redis.call('HMGET', key, 'st', 'tok', 'n', 'w', 'att')
  if f[1] ~= 'running' or f[2] ~= token then
    return nil
  end
  return f
end

local function add_error(key, err)
  local cur = redis.call('HGET', key, 'errs')
  if not cur or cur == '' then
    cur = '[' .. err .. ']'
  else
    cur = string.sub(cur, 1, -2) .. ',' .. err .. ']'
  end
  redis.call('HSET', key, 'errs', cur)
end

-- an attempt error sent as a JSON prefix ending in '"at":'; `at` '' = now
local function error_json(prefix, at, t)
  if at == '' then at = fmt(t) end
  return prefix .. at .. '}'
end

-- create one task; 1 created, 0 the id exists, -1 the queue holds max_waiting waiting tasks
local function enqueue_one(t, id, d, name, status, pri, maxr, run_at, delay, created, max_waiting)
  local key = P .. 't:' .. id
  if redis.call('EXISTS', key) == 1 then
    return 0
  end
  if max_waiting ~= '' and
     redis.call('ZCARD', P .. 'p') + redis.call('ZCARD', P .. 'ds') >= tonumber(max_waiting) then
    return -1
  end
  if created == 0 then created = t end
  if delay ~= '' then run_at = t + tonumber(delay) end
  if status == 'scheduled' and run_at <= t then status = 'pending' end
  if status == 'pending' and run_at == 0 then run_at = t end
  redis.call('HSET', key, 'd', d, 'n', name, 'st', status, 'pri', pri, 'mx', maxr,
             'cr', fmt(created), 'run', fmt(run_at))
  if status == 'pending' then
    redis.call('ZADD', P .. 'p', pending_score(pri), id)
    wake()
  else
    redis.call('ZADD', P .. 'ds', run_at, id)
  end
  emit(status, id, nil, name, nil, 0, nil)
  return 1
end

-- due scheduled / retrying tasks become pending; returns when the next one is due (or nil)
local function promote(t, limit)
  local moved = 0
  for _, old in ipairs({'ds', 'dr'}) do
    local status = 'scheduled'
    if old == 'dr' then status = 'retrying' end
    local due = redis.call('ZRANGE', P .. old, '-inf', t, 'BYSCORE', 'LIMIT', 0, limit - moved)
    for _, id in ipairs(due) do
      local f = redis.call('HMGET', P .. 't:' .. id, 'st', 'pri', 'n', 'att')
      if f[1] == status then
        move(id, status, 'pending', pending_score(f[2]), nil, f[3], nil, f[4])
        moved = moved + 1
      else
        redis.call('ZREM', P .. old, id)  -- stale entry (record purged or hand-edited)
      end
    end
  end
  if moved > 0 then wake() end
  local next_due = nil
  for _, old in ipairs({'ds', 'dr'}) do
    local first = redis.call('ZRANGE', P .. old, 0, 0, 'WITHSCORES')
    if #first > 0 then
      local s = tonumber(first[2])
      if next_due == nil or s < next_due then next_due = s end
    end
  end
  return next_due
end

-- ---------------------------------------------------------------------------------------------
