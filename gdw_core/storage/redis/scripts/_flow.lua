-- gdw flow control (gdw_core.flow; docs/flow-control.md): loaded after _prelude.lua, in front of
-- every script. The hooks the prelude calls (release_holds from move, keep_result from move,
-- unique_check and result_ttl_of from enqueue_one, purge_results from purge.lua) are declared
-- there and defined here; admission at claim (task_flow, expire, admit) is used by claim.lua.

-- ---- flow control (gdw_core.flow): the one place concurrency slots are given back ----------
-- A task holding concurrency slots has `hold` (its limit names, space separated) and `hlp` (the
-- limit key prefix LP) in its hash. Under LP: h:<name> holders (zset of task keys, score: lease
-- deadline), w:<name> waiters (zset of throttled task keys). Leaving a leased state frees the
-- slots and makes one throttled waiter per freed slot due now (and wakes its queue's workers).
release_holds = function(id)
  local key = P .. 't:' .. id
  local h = redis.pcall('HMGET', key, 'hold', 'hlp')
  if type(h) ~= 'table' or h.err or not h[1] or not h[2] then return end
  redis.call('HDEL', key, 'hold', 'hlp')
  local lp, t = h[2], nil
  for name in string.gmatch(h[1], '%S+') do
    redis.call('ZREM', as_zset(lp .. 'h:' .. name), key)
    for _ = 1, 16 do
      local w = redis.call('ZPOPMIN', as_zset(lp .. 'w:' .. name))
      if #w == 0 then break end
      local at = string.find(w[1], '}:t:', 1, true)  -- "<ns>:{<queue>}:t:<id>" (no braces in names)
      if at then
        local wp, wid = string.sub(w[1], 1, at + 1), string.sub(w[1], at + 4)
        if redis.call('ZSCORE', wp .. INDEX.throttled, wid) then
          t = t or now()
          redis.call('ZADD', wp .. INDEX.throttled, t, wid)
          push_wake(wp .. 'wake')
          break
        end
      end
    end
  end
end

-- a completed task with a result_ttl is indexed in rx (score: when purge deletes it)
keep_result = function(id, finished)
  local ttl = redis.call('HGET', P .. 't:' .. id, 'rttl')
  if ttl then redis.call('ZADD', as_zset(P .. 'rx'), finished + tonumber(ttl), id) end
end

-- delete the completed tasks whose result_ttl passed (purge.lua); returns how many
purge_results = function(t, limit)
  local dropped = 0
  for _, id in ipairs(redis.call('ZRANGE', as_zset(P .. 'rx'), '-inf', t, 'BYSCORE', 'LIMIT', 0, limit)) do
    if redis.call('HGET', P .. 't:' .. id, 'st') == 'completed' then
      redis.call('DEL', P .. 't:' .. id)
      redis.call('ZREM', P .. INDEX.completed, id)
      dropped = dropped + 1
    end
    redis.call('ZREM', P .. 'rx', id)
  end
  return dropped
end

-- uniqueness over time (gdw_core.flow.uniqueness), decided in the enqueue: nil to create task
-- `id` (the key u:<digest> now points to it), or the id of the task that stands for it (a
-- debounced one still scheduled takes the new payload and is pushed back `debounce` seconds)
unique_check = function(t, id, d)
  if not string.find(d, 'que_key"', 1, true) then return nil end  -- (see task_flow's needles)
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

-- a task with a result_ttl (gdw_core.flow) keeps it in the field rttl, for keep_result. The
-- payload is decoded only when it holds the key's text: that text may also be a key of the task's
-- own arguments, which come first, so only the record's top-level field counts.
result_ttl_of = function(key, d)
  if not string.find(d, 'ult_ttl"', 1, true) then return end  -- (see task_flow's needles)
  local ok, data = pcall(cjson.decode, d)
  if not ok or type(data) ~= 'table' then return end
  local ttl = tonumber(data.result_ttl)
  if ttl and ttl > 0 then redis.call('HSET', key, 'rttl', ttl) end
end

-- ---- flow control (gdw_core.flow): admission at claim --------------------------------------
-- Limit keys under LP (the namespace's on one Redis / Sentinel, the queue's P .. 'lim:' on
-- Cluster): def:<name> definition hash (n starts per `per` seconds, b burst, c concurrency, r the
-- rate as written), g:<name> GCRA theoretical arrival time, rv:<name> the last turn handed to a
-- rate-throttled task, h:<name> holders, w:<name> waiters (see release_holds; score: arrival
-- order, from the counter wseq).

-- what a task's payload `d` says about flow control: its limit names (nil: none; false + reason:
-- garbage) and its expiry (epoch seconds or nil). The payload is decoded only when it has one.
local function task_flow(d)
  -- (needles without their opening quote: a plain find stops at every occurrence of a needle's
  -- first character, and a payload is full of quotes; the decode below decides)
  if not string.find(d, 'mits"', 1, true) and not string.find(d, 'xpires_at"', 1, true) then return nil end
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
  local old = redis.call('ZRANGE', as_zset(hk), '-inf', t, 'BYSCORE', 'LIMIT', 0, 16)
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
      local wk = as_zset(lp .. 'w:' .. name)
      if not redis.call('ZSCORE', wk, key) then
        local seq = redis.pcall('INCR', lp .. 'wseq')
        if type(seq) ~= 'number' then  -- (written by hand: counted again from here)
          seq = 1
          redis.call('SET', lp .. 'wseq', seq)
        end
        redis.call('ZADD', wk, seq, key)
      end
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
      redis.call('ZADD', lp .. 'h:' .. name, deadline, key)  -- (as_zset: live_holders above)
      redis.call('ZREM', as_zset(lp .. 'w:' .. name), key)  -- no longer waiting (if it was)
      held[#held + 1] = name
    end
  end
  if #held > 0 then redis.call('HSET', key, 'hold', table.concat(held, ' '), 'hlp', lp) end
  return nil
end
