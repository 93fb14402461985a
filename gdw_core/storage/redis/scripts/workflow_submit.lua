-- workflow_submit: store a whole workflow atomically (all of it or nothing). Every node starts
-- blocked (index b, score created-at), its parents' edges get it as a child, then each node is
-- settled in the order given (parents first): no unsatisfied parent -> pending (with what it
-- takes from its feeding parents), a parent that already failed -> cancelled naming it.
-- Nodes may span queues on a single Redis / Sentinel (the caller refuses that on Cluster).
-- KEYS[1]  P .. 'b' of the first node's queue (routes the call)
-- ARGV     common, [6] spec JSON: {"nodes": [[id, queue, d, name, priority, max_retries,
--          parents ("queue id;" entries, feeding parents first), takes ('' | 'one' | 'list'),
--          feeds, on_parent_failure, workflow id, created-at (0 = now)], ...],
--          "ext": [[queue, id], ...] (parents stored before this call)}
-- Returns  {'ok'}, {'exists', id} (a node id is taken) or {'missing', id} (an ext parent is
--          unknown); nothing is written unless 'ok'.
local t = now()
local spec = cjson.decode(ARGV[6])
for _, e in ipairs(spec.ext) do
  if redis.call('EXISTS', qprefix(e[1]) .. 't:' .. e[2]) == 0 then return {'missing', e[2]} end
end
for _, n in ipairs(spec.nodes) do
  if redis.call('EXISTS', qprefix(n[2]) .. 't:' .. n[1]) == 1 then return {'exists', n[1]} end
end
local kids, order = {}, {}  -- parent "queue id" -> its new children's entries
for _, n in ipairs(spec.nodes) do
  local id, q = n[1], n[2]
  local created = tonumber(n[12]) or 0
  if created == 0 then created = t end
  local p0, q0 = P, Q
  P, Q = qprefix(q), q
  redis.call('HSET', P .. 't:' .. id, 'd', n[3], 'n', n[4], 'st', 'blocked', 'pri', n[5], 'mx', n[6],
             'cr', fmt(created), 'run', fmt(created), 'par', n[7], 'tk', n[8], 'fd', n[9], 'opf', n[10],
             'wf', n[11], 'wait', 0)
  redis.call('ZADD', P .. INDEX.blocked, created, id)
  emit('blocked', id, nil, n[4], nil, 0, nil)
  P, Q = p0, q0
  for _, e in ipairs(edges(n[7])) do
    local pk = e[1] .. ' ' .. e[2]
    if not kids[pk] then
      kids[pk] = {}
      order[#order + 1] = e
    end
    table.insert(kids[pk], q .. ' ' .. id .. ';')
  end
end
for _, e in ipairs(order) do
  local key = qprefix(e[1]) .. 't:' .. e[2]
  local cur = redis.pcall('HGET', key, 'ch')
  if type(cur) ~= 'string' then cur = '' end
  redis.pcall('HSET', key, 'ch', cur .. table.concat(kids[e[1] .. ' ' .. e[2]]))
end
for _, n in ipairs(spec.nodes) do
  in_queue(n[2], wf_settle, n[1], t)
end
return {'ok'}
