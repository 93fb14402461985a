-- repair: put one queue's status indexes right again (gdw repair), in two kinds of step:
--   'aside'  every status index (INDEX) that is a key of another type than a sorted set (written
--            by hand, a bad migration) is renamed to P .. 'quarantine:' .. suffix .. ':' .. <Redis
--            TIME>, under the queue's hash tag, and kept there for forensics; a missing index is
--            left missing (the next write creates it).
--   'index'  each task id given (the caller SCANs P .. 't:*') is put in the index of its record's
--            status, with the score that index uses (INDEX_SCORE: the prelude's pending_score and
--            lease_score, the run-at, finished-at or created-at time), unless it is there already,
--            and removed from every other index of the queue it is in. An id already indexed
--            right is left alone, so a second repair changes nothing. A record that cannot be
--            read (not a hash, no or an unknown status, the field its score comes from missing or
--            not a number) is reported with its reason and left as it is; the rest proceed.
--            With `fail` set, a record that cannot be read as a task at all (not a hash, no or an
--            unknown status) ends failed instead, with an InvalidPayload error saying why (a key
--            that is not a hash is renamed to P .. 'bad:' .. id first and a record saying so made
--            in its place), as a claim does with such a record in the pending index: it is then
--            listed, retried and purged like any failed task. A record of a known status whose
--            time field is bad is still only reported: failing it would overwrite that status.
--            Statuses do not change: no event is written. Pending tasks put back go behind the
--            pending tasks of their priority (pending_score), in the order of their run-at times
--            within the step: the FIFO order of the lost index is not known any more.
-- KEYS[1]  P .. 'p' (routes the call to the queue's slot)
-- ARGV     common, [6] step 'aside' | 'index', [7] '1' = dry run (say what would change, change
--          nothing), ('index') [8] '1' = fail the records that are not tasks (see above), [9 ...]
--          the task ids
-- Returns  'aside': {status, type, new name, ...}, one triple per index moved aside (on a dry run:
--          that would be, under the name it would get);
--          'index': {id, status, added, removed, problem, ...}, five values per id with anything
--          to say: its status ('' when it has none gdw knows), added 1/0 (put in its index),
--          removed (the statuses of the indexes it was taken out of, space-separated, '' none),
--          problem ('' or why the record cannot be read); a record failed (or, on a dry run, that
--          would be) has status 'failed', added 1 and its problem. Ids indexed right already are
--          not listed.
--          An index that is not a sorted set makes an 'index' step raise before it writes
--          anything (a dry run reads it as empty).
local step, dry = ARGV[6], ARGV[7] == '1'
local statuses = {}
for st in pairs(INDEX) do statuses[#statuses + 1] = st end
table.sort(statuses)  -- (a fixed order: the same reply for the same data)

if step == 'aside' then
  local out = {}
  local stamp = nil
  for _, st in ipairs(statuses) do
    local key = P .. INDEX[st]
    local kind = redis.call('TYPE', key).ok
    if kind ~= 'zset' and kind ~= 'none' then
      stamp = stamp or fmt(now())
      local to = P .. 'quarantine:' .. INDEX[st] .. ':' .. stamp
      if not dry then redis.call('RENAME', key, to) end
      out[#out + 1], out[#out + 2], out[#out + 3] = st, kind, to
    end
  end
  return out
end

if step ~= 'index' then
  error('ERR gdw repair: unknown step ' .. tostring(step), 0)
end

local fail = ARGV[8] == '1'
local ids, seen = {}, {}
for i = 9, #ARGV do  -- (SCAN may give a key twice)
  local id = ARGV[i]
  if not seen[id] then seen[id] = true; ids[#ids + 1] = id end
end
if #ids == 0 then return {} end

-- which of the ids each index holds now (a garbage index holds none: read as empty on a dry run)
local member = {}
for _, st in ipairs(statuses) do
  local key = P .. INDEX[st]
  local kind = redis.call('TYPE', key).ok
  local held = {}
  if kind == 'zset' then
    local scores = redis.call('ZMSCORE', key, unpack(ids))
    for i = 1, #ids do
      if scores[i] then held[ids[i]] = true end
    end
  elseif kind ~= 'none' and not dry then
    error('WRONGTYPE gdw: the index ' .. key .. ' is a ' .. kind .. ' again, not a sorted set; '
      .. 'nothing of this step was written: run gdw repair --queue ' .. Q .. ' again', 0)
  end
  member[st] = held
end

-- the score of a task of status `st` in its index from its record's fields `f`, or nil and why
-- not; a pending task's is made later (see `queued`): '' here
local FIELD_NAME = {run = 'run-at', dl = 'lease deadline', fa = 'finished-at', cr = 'created-at'}
local function score_of(st, f)
  local by = INDEX_SCORE[st]
  if by == 'pri' then return '' end
  local v = num_field(f[by], nil)
  if v == nil then
    return nil, 'the ' .. FIELD_NAME[by] .. ' field (' .. by .. ') of a ' .. st
      .. ' task is missing or not a number'
  end
  if by == 'dl' then return lease_score(v) end
  return fmt(v)
end

local out = {}
local function say(id, st, added, removed, problem)
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = id, st, added, removed, problem
end

-- pending tasks to put back: {id, run-at, priority}, entered once the batch is read, oldest
-- run-at first, each with a new place behind the queue's pending tasks of its priority
-- a record that is not a task (`problem` says why; `kind` the key's type when it is not a hash)
-- ends failed, or is reported as it is (see the top of this file)
local failed = 0
local function not_a_task(id, problem, kind)
  if not fail then
    say(id, '', 0, '', problem)
    return
  end
  if dry then
    if kind then problem = problem .. '; would be moved to ' .. P .. 'bad:' .. id end
  else  -- failed in place, as a claim fails such a record (the prelude's quarantine and invalid)
    local t = now()
    local f = {'?', false, false}  -- name, attempts, children: the record's when it is a hash
    if kind then  -- moved aside, kept as it was; a record saying so takes its place
      problem = problem .. '; moved to ' .. quarantine(id, 'failed', 'a ' .. kind .. ' key', t)
    else
      f = redis.call('HMGET', P .. 't:' .. id, 'n', 'att', 'ch')
      invalid(id, 'failed', problem, t, f[1], nil, int_field(f[2]) or 0)
    end
    for _, other in ipairs(statuses) do  -- (a hand-written entry in another index)
      if other ~= 'failed' and member[other][id] then redis.call('ZREM', P .. INDEX[other], id) end
    end
    emit('failed', id, nil, f[1] or '?', nil, int_field(f[2]) or 0, DETAIL.INVALID)  -- (invalid wrote none)
    -- a workflow step: its blocked children count their parents afresh (this one is failed now),
    -- not by its fan-in, which would count it once more if it had finished before the garbage
    for _, e in ipairs(edges(f[3])) do in_queue(e[1], wf_settle, e[2], t) end
  end
  failed = failed + 1
  say(id, 'failed', 1, '', problem)
end

local queued = {}
for _, id in ipairs(ids) do
  local key = P .. 't:' .. id
  local h = redis.pcall('HMGET', key, 'st', 'pri', 'run', 'dl', 'fa', 'cr')
  if type(h) == 'table' and h.err then
    local kind = redis.call('TYPE', key).ok
    not_a_task(id, 'a ' .. kind .. ' key, not a task hash', kind)
  elseif not h[1] then  -- (no record any more since the SCAN: nothing to index)
    if redis.call('EXISTS', key) == 1 then not_a_task(id, 'the record has no status field') end
  elseif INDEX[h[1]] == nil then
    local what = string.format('%q', string.sub(h[1], 1, 40))
    not_a_task(id, 'the record has an unknown status ' .. what)
  else
    local st = h[1]
    local added, problem = 0, nil
    if not member[st][id] then
      local score
      score, problem = score_of(st, {pri = h[2], run = h[3], dl = h[4], fa = h[5], cr = h[6]})
      if score then
        added = 1
        if not dry and score == '' then
          queued[#queued + 1] = {id, num_field(h[3], nil) or num_field(h[6], 0) or 0, h[2]}
        elseif not dry then
          redis.call('ZADD', P .. INDEX[st], score, id)
        end
      end
    end
    if problem then  -- left where it is (indexed nowhere, or only in another status's index)
      say(id, st, 0, '', problem)
    else
      local removed = {}
      for _, other in ipairs(statuses) do
        if other ~= st and member[other][id] then
          removed[#removed + 1] = other
          if not dry then redis.call('ZREM', P .. INDEX[other], id) end
        end
      end
      if added == 1 or #removed > 0 then say(id, st, added, table.concat(removed, ' '), '') end
    end
  end
end
-- blocked workflow steps are settled (their parents counted afresh: released, cancelled, or left
-- waiting): a parent that finished while the index its child would enter was garbage left the
-- child blocked, its counter untouched (_workflow.lua)
if not dry then
  local t = nil
  for _, id in ipairs(ids) do
    if redis.pcall('HGET', P .. 't:' .. id, 'st') == 'blocked' then  -- (a non-hash: reported above)
      t = t or now()
      wf_settle(id, t)
    end
  end
end
if failed > 0 and not dry then retain('failed') end  -- (the failed index keeps its bound)
if #queued > 0 then
  table.sort(queued, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  for _, q in ipairs(queued) do  -- (a priority that is not a number counts as 0, as everywhere)
    redis.call('ZADD', P .. INDEX.pending, pending_score(q[3]), q[1])
  end
  -- a worker blocked on the queue's wake list claims them now (best effort: a blocked claim
  -- looks again within seconds anyway, and a wake list of the wrong type must not stop this)
  pcall(wake)
end
return out
