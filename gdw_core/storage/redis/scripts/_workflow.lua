-- gdw workflow prelude: loaded after _prelude.lua (it is not a script of its own). Fan-in is
-- decided here, inside the script of the parent's transition (`move` calls FANIN), so a child
-- becomes pending exactly once whatever happens around it: two members finishing at the same
-- instant run one after the other (scripts are atomic), and a stale ack never reaches `move` (the
-- fencing token refuses it). PARENT_EFFECT is generated from gdw_core.workflow.rules.
--
-- A child may live in another queue than its parent: its keys are found from the queue name in
-- the edge ("queue id;"), and P / Q are switched to that queue while it is handled (only on a
-- single Redis or Sentinel: on Cluster, gdw refuses a workflow that spans queues, so the switch
-- never leaves the slot).

local NS, NS_P  -- "<namespace>:" (P is "<namespace>:{<queue>}:"), set by workflow_begin for P = NS_P
local WF_WORK, WF_BUSY = {}, false

-- start of every call, after begin_call (scripts.py)
local function workflow_begin()
  if P ~= NS_P then NS, NS_P = string.sub(P, 1, #P - #Q - 3), P end
  if WF_WORK[1] ~= nil then WF_WORK = {} end  -- (left by a call that raised)
  WF_BUSY = false
end

local function qprefix(q)
  return NS .. '{' .. q .. '}:'
end

-- "q id;q id;" -> {{q, id}, ...}
local function edges(s)
  local out = {}
  if type(s) == 'string' then
    for q, id in string.gmatch(s, '([^ ;]+) ([^ ;]+);') do out[#out + 1] = {q, id} end
  end
  return out
end

-- run fn(...) with P / Q switched to queue q (fn never raises: it uses pcall-safe reads)
local function in_queue(q, fn, ...)
  local p0, q0 = P, Q
  P, Q = qprefix(q), q
  fn(...)
  P, Q = p0, q0
end

-- a field of another task's hash (any queue); nil when missing or not a hash
local function peek(q, id, field)
  local v = redis.pcall('HGET', qprefix(q) .. 't:' .. id, field)
  if type(v) ~= 'string' then return nil end
  return v
end

-- `x` (JSON) becomes the first positional argument in the record JSON `d` (static_json writes
-- "name" then "args" first; a task name never holds ',"args":[')
local function first_arg(d, x)
  local at = string.find(d, ',"args":[', 1, true)
  if not at then return d end
  local open = at + 8
  local sep = ','
  if string.sub(d, open + 1, open + 1) == ']' then sep = '' end
  return string.sub(d, 1, open) .. x .. sep .. string.sub(d, open + 1)
end

-- blocked -> pending, with what it takes from its feeding parents
local function wf_release(id, t)
  local key = P .. 't:' .. id
  local f = fields(key, 'n', 'att', 'pri', 'd', 'tk', 'fd', 'par')
  if not f then return end
  if f[5] == 'one' or f[5] == 'list' then
    local ps, n, parts = edges(f[7]), tonumber(f[6]) or 0, {}
    for i = 1, math.min(n, #ps) do
      local r = peek(ps[i][1], ps[i][2], 'res')
      if not r or r == '' then r = 'null' end
      parts[#parts + 1] = r
    end
    local x = '[' .. table.concat(parts, ',') .. ']'
    if f[5] == 'one' then x = parts[1] or 'null' end
    if f[4] then redis.call('HSET', key, 'd', first_arg(f[4], x)) end
  end
  redis.call('HSET', key, 'run', fmt(t), 'wait', 0)
  move(id, 'blocked', 'pending', pending_score(num_field(f[3], 0) or 0), DETAIL.PARENTS_DONE, f[1], nil, f[2])
  wake()
end

local function wf_cancel(id, parent, pst, t)
  local key = P .. 't:' .. id
  local f = fields(key, 'n', 'att')
  if not f then return end
  redis.call('HSET', key, 'cby', parent, 'fa', fmt(t))
  local why = DETAIL.PARENT_CANCELLED
  if pst == 'failed' then why = DETAIL.PARENT_FAILED end
  move(id, 'blocked', 'cancelled', t, why .. parent, f[1], nil, f[2])
end

-- count the unsatisfied parents of a blocked task from scratch (at submit, on revival); release
-- it when there are none, cancel it when a parent failed
local function wf_settle(id, t)
  local key = P .. 't:' .. id
  local f = fields(key, 'st', 'par', 'opf')
  if not f or f[1] ~= 'blocked' then return end
  local opf = f[3] or 'cancel'
  local waiting = 0
  for _, e in ipairs(edges(f[2])) do
    local pst = peek(e[1], e[2], 'st')
    local eff = 'sat'  -- a parent purged by retention finished long ago
    if pst then
      local row = PARENT_EFFECT[pst]
      eff = row and (row[opf] or row.cancel)
    end
    if eff == 'cancel' then
      if enterable('cancelled') then wf_cancel(id, e[2], pst, t) end  -- (else: blocked until gdw repair)
      return
    end
    if eff ~= 'sat' then waiting = waiting + 1 end
  end
  if waiting == 0 and not enterable('pending') then return end  -- blocked as it was, until gdw repair
  redis.call('HSET', key, 'wait', waiting)
  if waiting == 0 then wf_release(id, t) end
end

-- one child `id` of `parent`, which moved old -> new
local function wf_child(id, parent, old, new, t)
  local key = P .. 't:' .. id
  local f = fields(key, 'st', 'opf', 'cby')
  if not f or not f[1] then return end
  local opf = f[2] or 'cancel'
  if TERMINAL[new] then
    if f[1] ~= 'blocked' then return end
    local row = PARENT_EFFECT[new]
    -- a child that cannot enter the index it would go to (a key of another type written there) is
    -- left as it is, its counter too: the parent's own move stands, and gdw repair settles the
    -- child (counts its parents afresh) once the key is moved aside
    if (row[opf] or row.cancel) == 'cancel' then
      if enterable('cancelled') then wf_cancel(id, parent, new, t) end
    elseif enterable('pending') then
      local w = redis.pcall('HINCRBY', key, 'wait', -1)
      if type(w) ~= 'number' then
        wf_settle(id, t)  -- a garbage counter: count the parents afresh (it fails alone, never the ack)
      elseif w <= 0 then
        wf_release(id, t)
      end
    end
    return
  end
  -- the parent left a finished state: an operator's re-run
  if f[1] == 'cancelled' and f[3] == parent then
    may_enter('blocked')  -- before any write
    redis.call('HDEL', key, 'cby', 'fa')
    local g = fields(key, 'n', 'cr', 'att')
    move(id, 'cancelled', 'blocked', num_field(g[2], t) or t, DETAIL.REVIVED .. parent, g[1], nil, g[3])
    wf_settle(id, t)
  elseif f[1] == 'blocked' then
    local row = PARENT_EFFECT[old]
    if row and (row[opf] or row.cancel) == 'sat' then
      redis.pcall('HINCRBY', key, 'wait', 1)  -- its failure had let the child go ahead
    end
  end
end

FANIN = function(id, old, new)
  local ch = redis.pcall('HGET', P .. 't:' .. id, 'ch')
  if type(ch) ~= 'string' or ch == '' then return end
  WF_WORK[#WF_WORK + 1] = {id, old, new, ch}
  if WF_BUSY then return end  -- a cascade: handled by the loop below, never by recursion
  WF_BUSY = true
  local t = now()
  local i = 1
  while i <= #WF_WORK do
    local w = WF_WORK[i]
    WF_WORK[i] = false
    i = i + 1
    for _, e in ipairs(edges(w[4])) do
      in_queue(e[1], wf_child, e[2], w[1], w[2], w[3], t)
    end
  end
  WF_WORK, WF_BUSY = {}, false
end
