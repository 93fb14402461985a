-- gdw prelude: prepended to every script when it is loaded (it is not a script of its own).
--
-- Conventions shared by the per-queue scripts:
--   ARGV[1] P      key prefix of the queue, "<namespace>:{<queue>}:"; every key a script touches
--                  starts with it, so all of them hash to the queue's slot (Redis Cluster)
--   ARGV[2] Q      the queue name
--   ARGV[3] MAXEV  events kept in the queue's stream (at least; ev_trim)
--   ARGV[4] KEEPC  completed tasks kept (count retention)
--   ARGV[5] KEEPF  failed / cancelled tasks kept
--   script-specific arguments start at ARGV[6]
-- Keys under P: t:<id> task hash; p pending zset (score: -priority*1e12 + seq); ds scheduled and
-- dr retrying zsets (score: run-at); k claimed and r running zsets (score: lease deadline in ms,
-- see lease_score);
-- c / f / x completed,
-- failed, cancelled zsets (score: finished-at); ev event stream; wake list of wake tokens; seq
-- counter; paused flag; rec / recdue recurring entries.
-- Task hash fields: d (JSON: name, args, kwargs, queue, priority, max_retries, retry, timeout,
-- recurring_id, secret), n name, st status, pri, mx max_retries, att attempts, tok fencing
-- token, w worker, cr created, run run-at, sa started, fa finished, dl lease deadline, res result
-- JSON, errs JSON array of attempt errors, prog progress JSON, creq cancel requested; workflow
-- nodes also: par / ch parents / children as "queue id;" entries, tk what it takes from its first
-- fd parents ('one' | 'list'), opf on parent failure, cby the parent that cancelled it, wait
-- parents not yet satisfied, wf workflow id. Blocked nodes are indexed in b (score: created).

-- ALLOWED (the transition table), INDEX, INDEX_SCORE, TERMINAL, LEASED, RETENTION_CLASS,
-- RELEASE_TO, RECOVER_TO and DETAIL are generated from gdw_core.lifecycle / gdw_core.status and
-- sent in front of this text (scripts.py); they are never written here by hand.
-- Per-call state, set by begin_call (end of this file) before each script runs: the script may be
-- an EVALSHA body or a function of the library that keeps these helpers loaded (scripts.py).
local FINISHED = 0  -- tasks finished so far by this script call

-- Redis's globals, read once: a function of the library reaches a global (redis, tonumber,
-- string, ...) through a metatable on an empty globals table, two lookups and a metamethod per
-- use; these locals of the same names hold them from the first call on (`run` calls
-- `runtime_globals`, compiled before the locals, so its names are the globals). While the library
-- loads only the load API exists (LOAD_REDIS.register_function): the locals are nil until a call.
local function runtime_globals()
  return redis, tonumber, tostring, type, pcall, unpack, ipairs, pairs, string, math, table, cjson, next, error
end
local LOAD_REDIS = redis
local redis, tonumber, tostring, type, pcall, unpack, ipairs, pairs, string, math, table, cjson, next, error
-- LIBRARY: true in the function library (functions.py sets it after this text), where these
-- locals live from call to call; an EVALSHA body runs this text on every call
local LIBRARY = false
local D3 = {}  -- (see fmt)
local function load_globals()
  redis, tonumber, tostring, type, pcall, unpack, ipairs, pairs, string, math, table, cjson, next, error =
    runtime_globals()
  if LIBRARY then  -- all of fmt's digit groups at once (~1M instructions, once per library load)
    for k = 0, 999 do D3[k] = string.format('%03d', k) end
  end
end

local P, Q, MAXEV, KEEPC, KEEPF  -- MAXEV, KEEPC, KEEPF as numbers (MAXEV nil: not a number)

-- flow-control hooks (gdw_core.flow), defined in _flow.lua, which is loaded after this file
local release_holds, keep_result, purge_results, unique_check, result_ttl_of

-- (the whole seconds' number is kept from the last call: tonumber is a strtod, ~1k instructions)
local NOW_S, NOW_N = nil, 0
local function now()
  local t = redis.call('TIME')
  local s = t[1]
  if s ~= NOW_S then NOW_S, NOW_N = s, tonumber(s) end
  return NOW_N + tonumber(t[2]) / 1000000
end

-- Three-digit groups '000' .. '999' in D3, made on first use (D3[k] or d3(k)), all of them when
-- the library's first call reads the globals: fmt and the integer scores below build numbers from
-- them instead of string.format, which is slow for '%.6f'.
local function d3(k)
  local s = string.format('%03d', k)
  D3[k] = s
  return s
end

-- x with six decimals, exactly as string.format('%.6f', x). Times (epoch seconds, 2^20 <= x <
-- 2^32) are built from cached pieces: the whole seconds' digits (the last value kept: a call
-- formats a few times of the same second) and two groups of three; in that range x's fraction
-- times 1e6 is exact in a double, so rounding it half to even here is the rounding printf does.
-- Any other number goes to string.format.
local FMT_S, FMT_SS = -1, ''
local function fmt(x)
  if x >= 1048576 and x < 4294967296 then
    local s = math.floor(x)
    local v = (x - s) * 1000000
    local m = math.floor(v)
    local r = v - m
    if r > 0.5 or (r == 0.5 and m % 2 == 1) then m = m + 1 end
    if m >= 1000000 then s, m = s + 1, m - 1000000 end
    if s ~= FMT_S then FMT_S, FMT_SS = s, string.format('%d', s) end
    local hi = math.floor(m / 1000)
    local lo = m - hi * 1000
    return FMT_SS .. '.' .. (D3[hi] or d3(hi)) .. (D3[lo] or d3(lo))
  end
  return string.format('%.6f', x)
end

-- a formatter of non-negative integers (as string.format('%d', n)) that keeps the digits of the
-- last n / 1000 it made: consecutive scores of one call share them. One per use, so two uses
-- (lease deadlines, finished-at microseconds) do not evict each other.
local function thousands()
  local last, digits = -1, ''
  return function(n)
    if n < 1000 or n >= 9007199254740992 then return string.format('%d', n) end
    local hi = math.floor(n / 1000)
    local lo = n - hi * 1000
    if hi ~= last then last, digits = hi, string.format('%d', hi) end
    return digits .. (D3[lo] or d3(lo))
  end
end
local MS, US = thousands(), thousands()

-- the keys of the status indexes under the current prefix P (IK_P): made once per prefix, not
-- once per move (a workflow's fan-in switches P to another queue's and back)
local IK, IK_P = {}, nil

-- Numbers given to redis.call are formatted by Redis with '%.17g' (slow for fractions): hot paths
-- pass strings instead, times as fmt() strings made once per call, small integers (attempts,
-- tokens) from this cache.
local INTS = {}
local function istr(n)
  local s = INTS[n]
  if s == nil then
    s = string.format('%d', n)
    if n >= 0 and n < 65536 then INTS[n] = s end
  end
  return s
end

-- Events are buffered during a call and written when it ends (end_call): one stream entry per
-- call and stream, holding up to EV_MAX events. The first event of an entry has the fields
-- k q (kind, queue) and those of t o n w a d (task id, old status, name, worker, attempt,
-- detail) that are not empty. The i-th
-- after it (i >= 1) has k.i and, of t.i o.i n.i w.i a.i d.i, those that differ from the event
-- before it; q is the entry's. Events that repeat the explicit event before them in all but the
-- task id (a batch of claims of one task function) are not written as events of their own: field
-- x.i (x for the first) lists their task ids, space-separated, in order; they follow event i.
-- (A task id holds no space: limits.TASK_ID_RE; an id that does, written by hand, is explicit.)
-- The stream keeps at least the last MAXEV events whatever the mix of entry sizes (ev_trim;
-- trimming to MAXEV / this entry's events entries let one large entry drop many small ones a
-- reader had not yet read). The reader
-- (reader.py `_events`) gives every event its own id: "<entry id>.<n>" in an entry of several,
-- n counting every event of the entry, repeated ones included, from 0.
local EV_MAX = 64
local EV_NAMES = {[0] = {x = 'x'}}  -- i -> the suffixed field names of the i-th explicit event
-- the entry being built: its stream key, events (EV_N, repeated ones included; EV_E explicit
-- ones), and XADD arguments in EV (a table kept from call to call: only EV[1 .. EV_LEN] are this
-- entry's); EV_LAST the last explicit event's t o n w a d k; EV_X[1 .. EV_XN] the ids repeating it
local EV, EV_KEY, EV_N, EV_E, EV_LEN = {}, nil, 0, 0, 0
local EV_LAST = {}
local EV_X, EV_XN = {}, 0

-- A key that carries only signals or history (a queue's event stream, its wake list) found
-- holding a key of another type (written by hand) is renamed aside (`<key>:quarantine:<time>`,
-- kept for forensics) and made again, instead of failing the transition that writes it: that
-- transition's own writes are made by then, and Redis would keep them under an error reply.
-- `err` (the failed write's error) is raised again when the key is of the right type after all.
-- whether key is a sorted set or absent, and what it is
local function zset_or_none(key)
  local kind = redis.call('TYPE', key).ok
  return kind == 'zset' or kind == 'none', kind
end

local function rename_aside(key)
  local t = redis.call('TIME')
  redis.call('RENAME', key, key .. ':quarantine:' .. t[1] .. '.' .. t[2])
end

local function set_aside(key, want, err)
  local kind = redis.call('TYPE', key).ok
  if kind == want or kind == 'none' then error(err) end
  rename_aside(key)
end

-- the same, checked before use, for an auxiliary sorted set (a limit's holders or waiters, the
-- result-TTL index): one of another type is set aside (what it held was unreadable anyway). Each
-- key is checked once per call (a claim or an ack of a batch under one limit: one TYPE).
local ZSET_SEEN, ZSET_SEEN_N = {}, 0
local function as_zset(key)
  if ZSET_SEEN[key] then return key end
  if not zset_or_none(key) then rename_aside(key) end
  ZSET_SEEN[key], ZSET_SEEN_N = true, ZSET_SEEN_N + 1
  return key
end

-- one wake token on a wake list, capped at 64 (set_aside when the key is of another type)
local function push_wake(wk)
  local n = redis.pcall('RPUSH', wk, '1')
  if type(n) ~= 'number' then
    set_aside(wk, 'list', n)
    n = redis.call('RPUSH', wk, '1')
  end
  if n > 64 then redis.call('LTRIM', wk, -64, -1) end
end

-- Trimming by events, not entries: `<stream>n` counts the events ever written to the stream and
-- `<stream>k` lists (newest first) the entry at which that count passed each multiple of
-- step = MAXEV / EV_STEPS. Trimming to the entry EV_STEPS crossings back keeps at least MAXEV
-- events and about MAXEV * (1 + 1 / EV_STEPS) at most; it runs once per step, not per call.
-- Either key written by hand (not a number, not a list) is started again, which only delays a
-- trim.
local EV_STEPS = 8
local TRIM_KEY, TRIM_CK, TRIM_KK = nil, nil, nil  -- the last stream trimmed and its two keys
local function ev_trim(key, id, n)
  local maxev = MAXEV
  if not maxev then return end
  if maxev <= 0 then  -- none kept, as in memory
    redis.call('XTRIM', key, 'MAXLEN', 0)
    return
  end
  if key ~= TRIM_KEY then TRIM_KEY, TRIM_CK, TRIM_KK = key, key .. 'n', key .. 'k' end
  local ck, kk = TRIM_CK, TRIM_KK
  local c = redis.pcall('INCRBY', ck, n)
  if type(c) ~= 'number' then
    redis.call('SET', ck, n)
    c = n
  end
  local step = math.ceil(maxev / EV_STEPS)
  if math.floor((c - n) / step) == math.floor(c / step) then return end
  local len = redis.pcall('LPUSH', kk, id)
  if type(len) ~= 'number' then
    redis.call('DEL', kk)
    len = redis.call('LPUSH', kk, id)
  end
  if len > EV_STEPS then
    local oldest = redis.call('LINDEX', kk, EV_STEPS)
    redis.call('LTRIM', kk, 0, EV_STEPS - 1)
    if type(redis.pcall('XTRIM', key, 'MINID', '~', oldest)) ~= 'number' then
      redis.call('DEL', kk)  -- not an entry id: start the checkpoints again
    end
  end
end

-- the ids repeating the last explicit event, as its x field
local function ev_close_run()
  local j = EV_LEN
  EV[j + 1], EV[j + 2] = EV_NAMES[EV_E - 1].x, table.concat(EV_X, ' ', 1, EV_XN)
  EV_LEN, EV_XN = j + 2, 0
end

local function ev_flush()
  if EV_N == 0 then return end
  if EV_XN > 0 then ev_close_run() end
  local id = redis.pcall('XADD', EV_KEY, '*', unpack(EV, 1, EV_LEN))
  if type(id) ~= 'string' then  -- (a stream key of another type: moved aside, the stream made again)
    set_aside(EV_KEY, 'stream', id)
    id = redis.call('XADD', EV_KEY, '*', unpack(EV, 1, EV_LEN))
  end
  ev_trim(EV_KEY, id, EV_N)
  EV_N, EV_E, EV_LEN = 0, 0, 0
end

local EV_P, EV_PK = nil, nil  -- the last prefix and its stream key
local function emit(kind, id, old, name, worker, att, detail)
  if P ~= EV_P then EV_P, EV_PK = P, P .. 'ev' end
  local sk = EV_PK
  if sk ~= EV_KEY then  -- another queue's stream (a workflow's fan-in): its own entry
    ev_flush()
    EV_KEY = sk
  end
  id, old, name, worker, detail = id or '', old or '', name or '', worker or '', detail or ''
  if not att then att = '' elseif type(att) == 'number' then att = istr(att) end
  local e, i, j, last = EV, EV_E, EV_LEN, EV_LAST
  if i > 0 and kind == last[7] and old == last[2] and name == last[3] and worker == last[4] and att == last[5]
     and detail == last[6] and id ~= '' and not string.find(id, ' ', 1, true) then
    local xn = EV_XN + 1  -- the last explicit event again, for another task
    EV_X[xn], EV_XN = id, xn
    EV_N = EV_N + 1
    if EV_N >= EV_MAX then ev_flush() end
    return
  end
  if EV_XN > 0 then ev_close_run(); j = EV_LEN end
  if i == 0 then  -- k, q and the fields that are not empty
    e[1], e[2], e[3], e[4] = 'k', kind, 'q', Q
    j = 4
    if id ~= '' then e[j + 1], e[j + 2], j = 't', id, j + 2 end
    if old ~= '' then e[j + 1], e[j + 2], j = 'o', old, j + 2 end
    if name ~= '' then e[j + 1], e[j + 2], j = 'n', name, j + 2 end
    if worker ~= '' then e[j + 1], e[j + 2], j = 'w', worker, j + 2 end
    if att ~= '' then e[j + 1], e[j + 2], j = 'a', att, j + 2 end
    if detail ~= '' then e[j + 1], e[j + 2], j = 'd', detail, j + 2 end
  else
    local f = EV_NAMES[i]
    if f == nil then
      local s = '.' .. i
      f = {'k' .. s, 't' .. s, 'o' .. s, 'n' .. s, 'w' .. s, 'a' .. s, 'd' .. s, x = 'x' .. s}
      EV_NAMES[i] = f
    end
    e[j + 1], e[j + 2] = f[1], kind
    j = j + 2
    if id ~= last[1] then e[j + 1], e[j + 2], j = f[2], id, j + 2 end
    if old ~= last[2] then e[j + 1], e[j + 2], j = f[3], old, j + 2 end
    if name ~= last[3] then e[j + 1], e[j + 2], j = f[4], name, j + 2 end
    if worker ~= last[4] then e[j + 1], e[j + 2], j = f[5], worker, j + 2 end
    if att ~= last[5] then e[j + 1], e[j + 2], j = f[6], att, j + 2 end
    if detail ~= last[6] then e[j + 1], e[j + 2], j = f[7], detail, j + 2 end
  end
  last[1], last[2], last[3], last[4], last[5], last[6], last[7] = id, old, name, worker, att, detail, kind
  EV_N, EV_E, EV_LEN = EV_N + 1, i + 1, j
  if EV_N >= EV_MAX then ev_flush() end
end

-- Index writes of a call's hot moves, sent together: one ZREM per index left and one ZADD per
-- index entered (ix_flush) instead of one of each per task. Only a script that sets IX_LATER
-- (claim, start, complete) defers them; they are sent before anything else reads or writes an
-- index (a hook of `move`, retain, promote, wake, invalid, a claim's next ZRANGE, a limit's
-- admission) and at the end of the call. Removals go first: a member that left an index and
-- came back to it in one call is in it, as with one command each; a member leaving an index that
-- has additions waiting sends them first, so a task moved twice in one call ends where it should.
local IX_LATER = false
local IXR, IXA, IXON = {}, {}, {}  -- per index key: members to remove, score/member pairs to add (count in .n), waiting
local IX_KEYS, IX_KN = {}, 0  -- the keys with writes waiting
local IXL_O, IXL_N, IXL_R, IXL_A = nil, nil, nil, nil  -- the last move's two keys and their lists
local IX_MAX = 200  -- members of one list before it is sent (an unpack's values stay few)

local function ix_flush()
  local n = IX_KN
  if n == 0 then return end
  IX_KN, IXL_O, IXL_N = 0, nil, nil
  local keys = IX_KEYS
  for i = 1, n do  -- the state is clean before a command can raise (a key of the wrong type)
    IXON[keys[i]] = nil
  end
  for i = 1, n do
    local r = IXR[keys[i]]
    if r.n > 0 then redis.pcall('ZREM', keys[i], unpack(r, 1, r.n)) end  -- (see ix_pair)
  end
  for i = 1, n do
    local k = keys[i]
    local a = IXA[k]
    if a.n > 0 then redis.call('ZADD', k, unpack(a, 1, a.n)) end
  end
end

local function ix_not_zset(k)
  local ok, kind = zset_or_none(k)
  if not ok then
    if IX_KN > 0 then ix_flush() end  -- what was moved before is sent
    error('WRONGTYPE gdw: the index ' .. k .. ' is a ' .. kind .. ', not a sorted set (written by hand?); '
      .. 'its tasks cannot move into it: run gdw repair --queue ' .. Q .. ' (moves it aside, re-indexes the tasks)', 0)
  end
end

-- a script that writes a task's fields before its move (an error, the attempts, the lease) checks
-- the index the task enters first: Redis keeps the writes a script made before it raised, so a
-- move into an index of another type (written by hand) must raise before them, or every retry of
-- the call would add its error again (or take another attempt off)
local function may_enter(new)
  ix_not_zset(P .. INDEX[new])
end

-- whether a task can move into the index of `new` now (false: a key of another type is there);
-- for a move made on the side of another task's (a workflow child released by its parent's
-- completion), which is then left undone instead of failing the call: gdw repair settles it
local function enterable(new)
  return (zset_or_none(P .. INDEX[new]))
end

local function ix_note(k)
  if not IXON[k] then
    IXON[k] = true
    IX_KN = IX_KN + 1
    IX_KEYS[IX_KN] = k
    local r, a = IXR[k], IXA[k]
    if r == nil then r, a = {}, {}; IXR[k], IXA[k] = r, a end
    r.n, a.n = 0, 0
  end
end

-- a move from index ko to kn after one between other indexes (`move` lists the member and its
-- score itself while the pair stays the same): returns false when this move is not deferred
-- (leaving and entering one index)
-- The index entered is checked to be a sorted set (or absent) before the first deferred move
-- into it writes anything: one of another type (written by hand) makes the call raise here, with
-- the tasks moved so far sent, instead of at the flush, after this round's records were rewritten
-- (which would leave them in no index at all). An index left that is not a sorted set cannot hold
-- the tasks: ix_flush's ZREM on it fails and is ignored, and they are indexed where they went.
local function ix_pair(ko, kn)
  if ko == kn then return false end
  if IXON[ko] and IXA[ko].n > 0 then ix_flush() end
  if not IXON[kn] then ix_not_zset(kn) end
  ix_note(ko)
  ix_note(kn)
  IXL_O, IXL_N, IXL_R, IXL_A = ko, kn, IXR[ko], IXA[kn]
  return true
end

-- push a wake token for a worker blocked on the queue's wake list (BLPOP). Tokens matter only
-- while the queue is nearly empty (workers block only when they find nothing), and the list is
-- capped, so a long backlog costs one ZCARD per task here.
local function wake()
  if IX_KN > 0 then ix_flush() end
  local n = redis.pcall('ZCARD', P .. 'p')  -- (a garbage pending index: its claims fail anyway)
  if type(n) == 'number' and n <= 16 then push_wake(P .. 'wake') end
end

-- the score of a leased task in its index (claimed `k`, running `r`): its lease deadline in whole
-- milliseconds, rounded up (never early), as a string. An integer score keeps these small indexes
-- integer-encoded (Redis parses a fractional score again at every insert into a small zset).
local function lease_score(deadline)
  return MS(math.ceil(deadline * 1000))
end

-- the highest lease score that has expired at time t (recover: ZRANGE BYSCORE -inf lease_expired(t))
local function lease_expired(t)
  return string.format('%d', math.floor(t * 1000))
end

-- (a string: see istr)
local function pending_score(pri)
  pri = math.floor(math.max(-8000, math.min(8000, tonumber(pri) or 0)))
  return string.format('%d', -pri * 1e12 + redis.call('INCR', P .. 'seq'))
end

-- keep at most `keep` tasks in a finished index, deleting the oldest records (one DEL per 100)
local function retain(status)
  if IX_KN > 0 then ix_flush() end
  local keep = KEEPF
  if RETENTION_CLASS[status] == 'completed' then keep = KEEPC end
  local idx = P .. INDEX[status]
  local over = redis.call('ZCARD', idx) - keep
  if over > 0 then
    local gone = redis.call('ZPOPMIN', idx, over)
    local keys = {}
    for i = 1, #gone, 2 do
      keys[#keys + 1] = P .. 't:' .. gone[i]
      if #keys == 100 or i + 2 > #gone then
        redis.call('DEL', unpack(keys))
        keys = {}
      end
    end
  end
end

-- a script finishing many tasks of its queue (complete.lua) sets RETAIN_LATER = {} first: `move`
-- then notes the finished statuses and the script trims them once at its end (retain_pending),
-- one ZCARD / ZPOPMIN per call instead of per task; the records kept are the same
local RETAIN_LATER = nil

local function retain_pending()
  local due = RETAIN_LATER
  RETAIN_LATER = nil
  for status in pairs(due or {}) do retain(status) end
end

-- workflow fan-in (set by _workflow.lua, loaded after this file): called by `move` for every move
-- into or out of a finished state, so the same script decides what the task's children do
local FANIN = nil

-- move task `id` from status `old` to `new` (index score `score`) if the table allows it;
-- appends the event. Returns false and changes nothing when the move is not allowed.
-- `known` (optional): {key = the task's key when the caller has it, set = {field, value, ...}
-- written with the status in one HSET (its first `nset` values when given: hot paths reuse one
-- table), and when
-- `hooked` is true, hold / rttl / ch as the caller read them (HOOK_FIELDS, false when absent), so
-- a task without holds, result TTL or children costs its hooks no read at all}.
local function move(id, old, new, score, detail, name, worker, att, known)
  local allowed = ALLOWED[old]
  if allowed == nil or not allowed[new] then
    return false
  end
  local zscore = score  -- a number or, from hot paths, already a string
  if TERMINAL[new] then  -- finished in one script: keep their order (newest first lists)
    -- as whole microseconds with an exponent: Redis reads the same number as fmt's, and the
    -- integer is cheaper to write than a fraction
    zscore = US(math.floor(score * 1000000 + 0.5) + FINISHED) .. 'e-6'
    score = score + FINISHED * 0.000001
    FINISHED = FINISHED + 1
  end
  local key = known and known.key or P .. 't:' .. id
  local ik = IK
  if IK_P ~= P then ik = {}; IK, IK_P = ik, P end
  local ko, kn = ik[old], ik[new]
  if ko == nil then ko = P .. INDEX[old]; ik[old] = ko end
  if kn == nil then kn = P .. INDEX[new]; ik[new] = kn end
  if IX_LATER and ((ko == IXL_O and kn == IXL_N) or ix_pair(ko, kn)) then
    local r, a = IXL_R, IXL_A
    local c, m = r.n + 1, a.n
    r[c], r.n = id, c
    a[m + 1], a[m + 2], a.n = zscore, id, m + 2
    if c >= IX_MAX or m >= IX_MAX * 2 then ix_flush() end
  else  -- the index entered first: if it is garbage (not a sorted set), nothing is written yet
    redis.call('ZADD', kn, zscore, id)
    if ko ~= kn then redis.pcall('ZREM', ko, id) end  -- (a garbage index left cannot hold it)
  end
  if known and known.set then
    redis.call('HSET', key, 'st', new, unpack(known.set, 1, known.nset or #known.set))
  else
    redis.call('HSET', key, 'st', new)
  end
  emit(new, id, old, name, worker, att, detail)
  local hooked = known and known.hooked
  -- (the hooks read and write indexes: the deferred writes are sent first; retain sends them)
  if LEASED[old] and not LEASED[new] and (not hooked or known.hold) then
    if IX_KN > 0 then ix_flush() end
    release_holds(id)
  end
  if new == 'completed' and (not hooked or known.rttl) then
    if IX_KN > 0 then ix_flush() end
    keep_result(id, score)
  end
  if FANIN and (TERMINAL[new] or TERMINAL[old]) and (not hooked or known.ch) then
    if IX_KN > 0 then ix_flush() end
    FANIN(id, old, new)
  end
  if TERMINAL[new] then
    if RETAIN_LATER then RETAIN_LATER[new] = true else retain(new) end
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

-- like `held`, with the fields `move`'s hooks read (concurrency holds and result TTL of flow
-- control, children of a workflow) in the same HMGET: returns the fields and the `known` table
-- for `move` (its `set` left for the caller), or nil
-- (the `known` table is one kept from call to call: its caller fills `set` / `nset` and hands
-- it to `move` before the next held_hooked)
local HOOKED = {hooked = true, set = {}, nset = 0}
local function held_hooked(key, token)
  -- (the HMGET itself, not `fields`: a key that is not a hash gives an error table, refused here)
  local f = redis.pcall('HMGET', key, 'st', 'tok', 'n', 'w', 'att', 'hold', 'rttl', 'ch')
  if f.err or not LEASED[f[1]] or f[2] ~= token then
    return nil
  end
  HOOKED.key, HOOKED.hold, HOOKED.rttl, HOOKED.ch = key, f[6], f[7], f[8] and f[8] ~= ''
  return f, HOOKED
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

-- what is wrong with a task's `d` field (nil: it looks like a record's JSON object). Whether it is
-- valid UTF-8 is checked by the claimer in Python (storage.py `_claimed`), where it costs nothing
-- for a valid payload: a scan of every byte here cost more than the rest of the claim.
local function payload_problem(d)
  if not d or d == '' then return 'the record has no payload (field d is missing)' end
  if string.sub(d, 1, 1) ~= '{' then return 'the payload is not a JSON object' end
  return nil
end

-- a record that cannot be read, found in the index of status `old`, ends failed with an
-- InvalidPayload error saying what is wrong (its worker never sees it)
local function invalid(id, old, reason, t, name, worker, att)
  if IX_KN > 0 then ix_flush() end
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

-- the key of task `id` is not a hash: move it aside (P .. 'bad:' .. id; when an earlier one is
-- there already, both are kept: this one's name gets the time) and put a failed record saying so
-- in its place; returns the name it was moved to
local function quarantine(id, old, what, t)
  local key, to = P .. 't:' .. id, P .. 'bad:' .. id
  if redis.call('RENAMENX', key, to) == 0 then
    local now_ = redis.call('TIME')
    to = to .. ':' .. now_[1] .. '.' .. now_[2]
    redis.call('RENAME', key, to)
  end
  redis.call('HSET', key, 'd', '{"name":"?","args":[],"kwargs":{},"queue":' .. cjson.encode(Q) .. '}',
             'n', '?', 'st', old, 'cr', fmt(t), 'run', fmt(t))
  invalid(id, old, 'the task key held ' .. what .. ', not a task hash; moved to ' .. to, t)
  return to
end

-- the fields of task `id` found in the index of status `old` and its key, or nil when it cannot be used: a
-- missing record is dropped from the index, a non-hash key is quarantined, a record in another
-- status is a stale index entry (dropped), a record with no or an unknown status is failed.
local function indexed(id, old, t, ...)
  local key = P .. 't:' .. id
  local f = redis.pcall('HMGET', key, 'st', ...)  -- (as `fields` does, without a call more per task)
  if f.err then
    quarantine(id, old, 'a ' .. redis.call('TYPE', key).ok .. ' key', t)
    return nil
  end
  local st = f[1]
  if not st then
    if redis.call('EXISTS', key) == 0 then
      if IX_KN > 0 then ix_flush() end
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
    if IX_KN > 0 then ix_flush() end
    redis.call('ZREM', P .. INDEX[old], id)  -- stale entry (record moved on, purged or hand-edited)
    return nil
  end
  return f, key
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
  local cs = fmt(created)
  local rs = cs
  if run_at ~= created then rs = fmt(run_at) end
  redis.call('HSET', key, 'd', d, 'n', name, 'st', status, 'pri', pri, 'mx', maxr, 'cr', cs, 'run', rs)
  result_ttl_of(key, d)
  if status == 'pending' then
    redis.call('ZADD', P .. 'p', pending_score(pri), id)
    wake()
  else
    redis.call('ZADD', P .. 'ds', rs, id)
  end
  emit(status, id, nil, name, nil, 0, nil)
  return 1
end

-- due scheduled / retrying tasks become pending; returns when the next one is due (or nil).
-- A record that cannot be read fails alone (see `indexed`); the others are promoted.
local function promote(t, limit)
  if IX_KN > 0 then ix_flush() end
  if redis.call('EXISTS', P .. INDEX.scheduled, P .. INDEX.retrying, P .. INDEX.throttled) == 0 then
    return nil  -- nothing waits for a time (the common case while draining): one command
  end
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

-- start of every call: the common arguments and a clean per-call state (see the top of this file)
-- (the numbers are parsed again only when their text changes: a worker sends the same each call)
local NUMS_S = {}
local function begin_call(argv)
  P, Q = argv[1], argv[2]
  local a3, a4, a5, seen = argv[3], argv[4], argv[5], NUMS_S
  if a3 ~= seen[1] or a4 ~= seen[2] or a5 ~= seen[3] then
    seen[1], seen[2], seen[3] = a3, a4, a5
    MAXEV, KEEPC, KEEPF = tonumber(a3), tonumber(a4), tonumber(a5)
  end
  FINISHED, RETAIN_LATER, IX_LATER = 0, nil, false
  if IX_KN > 0 then  -- left by a call that raised while sending them
    for i = 1, IX_KN do IXON[IX_KEYS[i]] = nil end
    IX_KN, IXL_O, IXL_N = 0, nil, nil
  end
  EV_KEY, EV_N, EV_E, EV_LEN, EV_XN = nil, 0, 0, 0, 0
  if ZSET_SEEN_N > 0 then ZSET_SEEN, ZSET_SEEN_N = {}, 0 end
end

-- end of every call (also when the script raised): write the buffered events
local function end_call()
  local ok, err = pcall(ix_flush)
  ev_flush()
  if not ok then error(err, 0) end
end
