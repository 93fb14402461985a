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
-- dr retrying zsets (score: run-at); k claimed and r running zsets (score: lease deadline);
-- c / f / x completed,
-- failed, cancelled zsets (score: finished-at); ev event stream; wake list of wake tokens; seq
-- counter; paused flag; rec / recdue recurring entries.
-- Task hash fields: d (JSON: name, args, kwargs, queue, priority, max_retries, retry, timeout,
-- recurring_id, secret), n name, st status, pri, mx max_retries, att attempts, tok fencing
-- token, w worker, cr created, run run-at, sa started, fa finished, dl lease deadline, res result
-- JSON, errs JSON array of attempt errors, prog progress JSON, creq cancel requested.

-- ALLOWED (the transition table), INDEX, TERMINAL, LEASED, RETENTION_CLASS, RELEASE_TO,
-- RECOVER_TO and DETAIL are generated from gdw_core.lifecycle / gdw_core.status and sent in
-- front of this text (scripts.py); they are never written here by hand.
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
  if RETENTION_CLASS[status] == 'completed' then keep = KEEPC end
  local idx = P .. INDEX[status]
  local over = redis.call('ZCARD', idx) - keep
  if over > 0 then
    local gone = redis.call('ZPOPMIN', idx, over)
    for i = 1, #gone, 2 do
      redis.call('DEL', P .. 't:' .. gone[i])
    end
  end
end

-- ---- flow control (gdw_core.flow): the one place concurrency slots are given back ----------
-- A task holding concurrency slots has `hold` (its limit names, space separated) and `hlp` (the
-- limit key prefix LP) in its hash. Under LP: h:<name> holders (zset of task keys, score: lease
-- deadline), w:<name> waiters (zset of throttled task keys). Leaving a leased state frees the
-- slots and makes one throttled waiter per freed slot due now (and wakes its queue's workers).
local function release_holds(id)
  local key = P .. 't:' .. id
  local h = redis.pcall('HMGET', key, 'hold', 'hlp')
  if type(h) ~= 'table' or h.err or not h[1] or not h[2] then return end
  redis.call('HDEL', key, 'hold', 'hlp')
  local lp, t = h[2], nil
  for name in string.gmatch(h[1], '%S+') do
    redis.call('ZREM', lp .. 'h:' .. name, key)
    for _ = 1, 16 do
      local w = redis.call('ZPOPMIN', lp .. 'w:' .. name)
      if #w == 0 then break end
      local at = string.find(w[1], '}:t:', 1, true)  -- "<ns>:{<queue>}:t:<id>" (no braces in names)
      if at then
        local wp, wid = string.sub(w[1], 1, at + 1), string.sub(w[1], at + 4)
        if redis.call('ZSCORE', wp .. INDEX.throttled, wid) then
          t = t or now()
          redis.call('ZADD', wp .. INDEX.throttled, t, wid)
          if redis.call('RPUSH', wp .. 'wake', '1') > 64 then redis.call('LTRIM', wp .. 'wake', -64, -1) end
          break
        end
      end
    end
  end
end

-- a completed task with a result_ttl is indexed in rx (score: when purge deletes it)
local function keep_result(id, finished)
  local ttl = redis.call('HGET', P .. 't:' .. id, 'rttl')
  if ttl then redis.call('ZADD', P .. 'rx', finished + tonumber(ttl), id) end
end

-- delete the completed tasks whose result_ttl passed (purge.lua); returns how many
local function purge_results(t, limit)
  local dropped = 0
  for _, id in ipairs(redis.call('ZRANGE', P .. 'rx', '-inf', t, 'BYSCORE', 'LIMIT', 0, limit)) do
    if redis.call('HGET', P .. 't:' .. id, 'st') == 'completed' then
      redis.call('DEL', P .. 't:' .. id)
      redis.call('ZREM', P .. INDEX.completed, id)
      dropped = dropped + 1
    end
    redis.call('ZREM', P .. 'rx', id)
  end
  return dropped
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
  if LEASED[old] and not LEASED[new] then release_holds(id) end
  if new == 'completed' then keep_result(id, score) end
  if TERMINAL[new] then
    retain(new)
  end
  return true
end

-- HMGET that never raises: the fields, or nil and what is wrong with the key ('missing' when
-- there is no such key, 'a <type> key' when it is not a hash).
local function fields(key, ...)
  local f = redis.pcall('HMGET', key, ...)
  if type(f) == 'table' and f.err then
    return nil, 'a ' .. redis.call('TYPE', key).ok .. ' key'
  end
  return f
end

-- an integer field (attempts, token) that is absent (0) or holds an integer; nil when garbage
local function int_field(v)
  if not v then return 0 end
  local n = tonumber(v)
  if n == nil or n ~= math.floor(n) or n ~= n then return nil end
  return n
end

-- a number field that is absent (default) or numeric; nil when garbage
local function num_field(v, default)
  if not v or v == '' then return default end
  local n = tonumber(v)
  if n == nil or n ~= n then return nil end
  return n
end

-- The fields {status, token, name, worker, attempts} of the task at ``key`` if it is leased
-- (claimed or running) under the fencing token ``token``; nil when the token is stale, the task
-- is not leased or the key is not a task hash.
local function held(key, token)
  local f = fields(key, 'st', 'tok', 'n', 'w', 'att')
  if not f or not LEASED[f[1]] or f[2] ~= token then
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

-- whether a string is valid UTF-8 (cheap for ASCII: one find)
local function utf8_ok(s)
  if not string.find(s, '[\128-\255]') then return true end
  local rest = string.gsub(s, '[\240-\244][\128-\191][\128-\191][\128-\191]', '')
  rest = string.gsub(rest, '[\224-\239][\128-\191][\128-\191]', '')
  rest = string.gsub(rest, '[\194-\223][\128-\191]', '')
  return not string.find(rest, '[\128-\255]')
end

-- what is wrong with a task's `d` field (nil: it looks like a record's JSON object)
local function payload_problem(d)
  if not d or d == '' then return 'the record has no payload (field d is missing)' end
  if string.sub(d, 1, 1) ~= '{' then return 'the payload is not a JSON object' end
  if not utf8_ok(d) then return 'the payload is not valid UTF-8' end
  return nil
end

-- a record that cannot be read, found in the index of status `old`, ends failed with an
-- InvalidPayload error saying what is wrong (its worker never sees it)
local function invalid(id, old, reason, t, name, worker, att)
  local key = P .. 't:' .. id
  local err = {attempt = tonumber(att) or 0, type = 'InvalidPayload', message = reason, traceback = '', at = t}
  if worker and worker ~= '' then err.worker = worker end
  add_error(key, cjson.encode(err))
  redis.call('HSET', key, 'st', old, 'fa', fmt(t))
  redis.call('HDEL', key, 'dl')
  if not move(id, old, 'failed', t, DETAIL.INVALID, name or '?', worker, att) then
    redis.call('ZREM', P .. INDEX[old], id)
    redis.call('ZADD', P .. INDEX.failed, t, id)
    redis.call('HSET', key, 'st', 'failed')
  end
end

-- the key of task `id` is not a hash: move it aside (P .. 'bad:' .. id) and put a failed record
-- saying so in its place
local function quarantine(id, old, what, t)
  local key = P .. 't:' .. id
  redis.call('RENAME', key, P .. 'bad:' .. id)
  redis.call('HSET', key, 'd', '{"name":"?","args":[],"kwargs":{},"queue":' .. cjson.encode(Q) .. '}',
             'n', '?', 'st', old, 'cr', fmt(t), 'run', fmt(t))
  invalid(id, old, 'the task key held ' .. what .. ', not a task hash; moved to ' .. P .. 'bad:' .. id, t)
end

-- the fields of task `id` found in the index of status `old`, or nil when it cannot be used: a
-- missing record is dropped from the index, a non-hash key is quarantined, a record in another
-- status is a stale index entry (dropped), a record with no or an unknown status is failed.
local function indexed(id, old, t, ...)
  local key = P .. 't:' .. id
  local f, what = fields(key, 'st', ...)
  if not f then
    quarantine(id, old, what, t)
    return nil
  end
  local st = f[1]
  if not st then
    if redis.call('EXISTS', key) == 0 then
      redis.call('ZREM', P .. INDEX[old], id)
    else
      invalid(id, old, 'the record has no status field', t)
    end
    return nil
  end
  if INDEX[st] == nil then
    invalid(id, old, 'the record has an unknown status ' .. string.format('%q', string.sub(st, 1, 40)), t)
    return nil
  end
  if st ~= old then
    redis.call('ZREM', P .. INDEX[old], id)  -- stale entry (record moved on, purged or hand-edited)
    return nil
  end
  return f
end

-- uniqueness over time (gdw_core.flow.uniqueness), decided in the enqueue: nil to create task
-- `id` (the key u:<digest> now points to it), or the id of the task that stands for it (a
-- debounced one still scheduled takes the new payload and is pushed back `debounce` seconds)
local function unique_check(t, id, d)
  if not string.find(d, '"unique_key"', 1, true) then return nil end
  local ok, data = pcall(cjson.decode, d)
  if not ok or type(data) ~= 'table' or type(data.unique_key) ~= 'string' then return nil end
  local debounce = tonumber(data.debounce)
  local span = debounce or tonumber(data.unique_for)
  if not span or span <= 0 then return nil end
  local uk = P .. 'u:' .. data.unique_key
  local first = redis.pcall('GET', uk)
  if type(first) == 'string' then
    local st = redis.pcall('HGET', P .. 't:' .. first, 'st')
    if type(st) == 'string' and not debounce then return first end
    if st == 'scheduled' and debounce then
      local run_at = t + debounce
      redis.call('HSET', P .. 't:' .. first, 'd', d, 'run', fmt(run_at))
      redis.call('ZADD', P .. INDEX.scheduled, run_at, first)
      redis.call('SET', uk, first, 'PX', math.ceil(debounce * 1000) + 1000)
      return first
    end
  end
  if debounce then span = debounce + 1 end
  redis.call('SET', uk, id, 'PX', math.ceil(span * 1000))
  return nil
end

-- a task with a result_ttl (gdw_core.flow) keeps it in the field rttl, for keep_result
local function result_ttl_of(key, d)
  local at = string.find(d, '"result_ttl":', 1, true)
  if not at then return end
  local ttl = tonumber(string.match(d, '^"result_ttl":%s*([%d%.eE+-]+)', at))
  if ttl and ttl > 0 then redis.call('HSET', key, 'rttl', ttl) end
end

-- create one task; 1 created, 0 the id exists, -1 the queue holds max_waiting waiting tasks, or
-- the id of the task that stands for it (unique_for / debounce)
local function enqueue_one(t, id, d, name, status, pri, maxr, run_at, delay, created, max_waiting)
  local key = P .. 't:' .. id
  if redis.call('EXISTS', key) == 1 then
    return 0
  end
  local same = unique_check(t, id, d)
  if same then return same end
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
  result_ttl_of(key, d)
  if status == 'pending' then
    redis.call('ZADD', P .. 'p', pending_score(pri), id)
    wake()
  else
    redis.call('ZADD', P .. 'ds', run_at, id)
  end
  emit(status, id, nil, name, nil, 0, nil)
  return 1
end

-- due scheduled / retrying tasks become pending; returns when the next one is due (or nil).
-- A record that cannot be read fails alone (see `indexed`); the others are promoted.
local function promote(t, limit)
  local moved = 0
  for _, status in ipairs({'scheduled', 'retrying', 'throttled'}) do
    local idx = P .. INDEX[status]
    local due = redis.call('ZRANGE', idx, '-inf', t, 'BYSCORE', 'LIMIT', 0, limit - moved)
    for _, id in ipairs(due) do
      local f = indexed(id, status, t, 'pri', 'n', 'att')
      if f then
        local pri = num_field(f[2], 0)
        if pri == nil then
          invalid(id, status, 'the priority field is not a number', t, f[3], nil, f[4])
        else
          if status == 'throttled' then redis.call('HDEL', P .. 't:' .. id, 'thr') end
          move(id, status, 'pending', pending_score(pri), nil, f[3], nil, f[4])
          moved = moved + 1
        end
      end
    end
  end
  if moved > 0 then wake() end
  local next_due = nil
  for _, status in ipairs({'scheduled', 'retrying', 'throttled'}) do
    local first = redis.call('ZRANGE', P .. INDEX[status], 0, 0, 'WITHSCORES')
    if #first > 0 then
      local s = tonumber(first[2])
      if next_due == nil or s < next_due then next_due = s end
    end
  end
  return next_due
end

-- ---------------------------------------------------------------------------------------------

-- ---- flow control (gdw_core.flow): admission at claim --------------------------------------
-- Limit keys under LP (the namespace's on one Redis / Sentinel, the queue's P .. 'lim:' on
-- Cluster): def:<name> definition hash (n starts per `per` seconds, b burst, c concurrency, r the
-- rate as written), g:<name> GCRA theoretical arrival time, rv:<name> the last turn handed to a
-- rate-throttled task, h:<name> holders, w:<name> waiters (see release_holds; score: arrival
-- order, from the counter wseq).

-- what a task's payload `d` says about flow control: its limit names (nil: none; false + reason:
-- garbage) and its expiry (epoch seconds or nil). The payload is decoded only when it has one.
local function task_flow(d)
  if not string.find(d, '"limits"', 1, true) and not string.find(d, '"expires_at"', 1, true) then return nil end
  local ok, data = pcall(cjson.decode, d)
  if not ok or type(data) ~= 'table' then return nil end
  local expires = tonumber(data.expires_at)
  local names = data.limits
  if names == nil then return nil, nil, expires end
  if type(names) ~= 'table' then return false, 'the limits field is not a list of limit names' end
  for i, n in ipairs(names) do
    if type(n) ~= 'string' or #n > 150 or not string.find(n, '^[%w_][%w_.:%-]*$') then
      return false, 'limit name #' .. i .. ' of the task is not a valid limit name'
    end
  end
  if #names == 0 then return nil, nil, expires end
  return names, nil, expires
end

-- a pending task whose expiry passed before any claim started it: cancelled, never run
local function expire(id, t, name, att, message)
  local key = P .. 't:' .. id
  add_error(key, cjson.encode({attempt = tonumber(att) or 0, type = 'Expired', message = message, traceback = '',
                               at = t, counted = false}))
  redis.call('HSET', key, 'fa', fmt(t))
  move(id, 'pending', 'cancelled', t, DETAIL.EXPIRED, name, nil, att)
end

local function def_fields(lp, name)
  local f, what = fields(lp .. 'def:' .. name, 'n', 'per', 'b', 'c', 'r')
  if f and not f[1] and not f[2] and not f[3] and not f[4] then return nil end
  return f, what
end

-- the definition of limit `name`: its own, else its family's (the part before its last ':');
-- nil when neither exists (unlimited until defined); false + reason when it is garbage
local function limit_def(lp, name)
  local f, what = def_fields(lp, name)
  if f == nil and what == nil then
    local family = string.match(name, '^(.+):[^:]*$')
    if not family then return nil end
    f, what = def_fields(lp, family)
    if f == nil and what == nil then return nil end
  end
  local bad = 'limit ' .. name .. ' is malformed in storage'
  if not f then return false, bad .. ': its definition is ' .. what end
  local n, per, b, c = tonumber(f[1] or '0'), tonumber(f[2] or '0'), tonumber(f[3] or '1'), tonumber(f[4] or '0')
  if not (n and per and b and c) or n ~= n or per ~= per or per == math.huge or n < 0 or per < 0 or b < 1 or c < 0
     or n ~= math.floor(n) or b ~= math.floor(b) or c ~= math.floor(c) or (n > 0 and per <= 0) or (n == 0 and c == 0) then
    return false, bad .. ': fields n, per, b, c must be a rate, a burst and a concurrency'
  end
  return {n = n, per = per, b = b, c = c, r = f[5] or (n .. '/' .. per .. 's')}
end

-- a number kept in a plain key (GCRA state); `default` when absent or not a number
local function num_key(k, default)
  local v = redis.pcall('GET', k)
  if type(v) ~= 'string' then return default end
  return tonumber(v) or default
end

local function set_until(k, value, t)
  redis.call('SET', k, fmt(value), 'PX', math.ceil((value - t) * 1000) + 1000)
end

-- live holders of a concurrency limit: a holder whose recorded deadline passed is looked up (its
-- lease may have been extended by heartbeats) and dropped when its lease is gone. Returns how
-- many hold a slot and the soonest deadline among them.
local function live_holders(hk, t)
  local old = redis.call('ZRANGE', hk, '-inf', t, 'BYSCORE', 'LIMIT', 0, 16)
  for _, member in ipairs(old) do
    local f = redis.pcall('HMGET', member, 'st', 'dl')
    local dl = type(f) == 'table' and not f.err and LEASED[f[1] or ''] and tonumber(f[2] or '')
    if dl and dl > t then redis.call('ZADD', hk, dl, member) else redis.call('ZREM', hk, member) end
  end
  local first = redis.call('ZRANGE', hk, '(' .. fmt(t), '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
  return redis.call('ZCOUNT', hk, '(' .. fmt(t), '+inf'), tonumber(first[2] or t)
end

-- may the task at `key` start now under its limits `names`? nil: yes (its rates are spent and
-- its slots taken, recorded in its hash for release_holds); until, reason: throttled until then;
-- false, reason: one of its limits is garbage (the task fails alone with that reason)
local function admit(key, names, lp, t, deadline)
  local defs, blocked = {}, {}
  local worst, why = nil, nil
  for _, name in ipairs(names) do
    local d, bad = limit_def(lp, name)
    if d == false then return false, bad end
    if d then
      defs[#defs + 1] = {name, d}
      local wait_until, reason = nil, nil
      if d.n > 0 then
        local interval = d.per / d.n
        local tat = math.max(num_key(lp .. 'g:' .. name, t), t)
        local tol = interval * (d.b - 1)
        if tat - tol > t then  -- give it the next free turn, so a backlog comes back one per interval
          -- (never further out than one turn per task throttled in this queue: turns of tasks
          -- cancelled meanwhile are not kept free; GCRA above is what holds the rate)
          local ahead = redis.call('ZCARD', P .. INDEX.throttled)
          local turn = math.max(tat - tol, math.min(num_key(lp .. 'rv:' .. name, 0) + interval,
                                                    tat - tol + interval * ahead))
          set_until(lp .. 'rv:' .. name, turn, t)
          wait_until, reason = turn, 'limit ' .. name .. ': rate ' .. d.r
        end
      end
      if wait_until == nil and d.c > 0 then
        local live, first = live_holders(lp .. 'h:' .. name, t)
        if live >= d.c then
          blocked[#blocked + 1] = name
          wait_until, reason = first, 'limit ' .. name .. ': concurrency ' .. d.c .. ' in use'
        end
      end
      if wait_until and (worst == nil or wait_until > worst) then worst, why = wait_until, reason end
    end
  end
  if worst then
    for _, name in ipairs(blocked) do  -- first come, first woken
      local wk = lp .. 'w:' .. name
      if not redis.call('ZSCORE', wk, key) then redis.call('ZADD', wk, redis.call('INCR', lp .. 'wseq'), key) end
    end
    return worst, why
  end
  local held = {}
  for _, nd in ipairs(defs) do
    local name, d = nd[1], nd[2]
    if d.n > 0 then
      local g = lp .. 'g:' .. name
      set_until(g, math.max(num_key(g, t), t) + d.per / d.n, t)
    end
    if d.c > 0 then
      redis.call('ZADD', lp .. 'h:' .. name, deadline, key)
      held[#held + 1] = name
    end
  end
  if #held > 0 then redis.call('HSET', key, 'hold', table.concat(held, ' '), 'hlp', lp) end
  return nil
end
