-- enqueue: create tasks in one queue (pending or scheduled), idempotent by task id.
-- KEYS[1]  P .. 'p' (the queue's pending zset; routes the call to the queue's slot)
-- ARGV     common (see _prelude.lua), then per task 9 values:
--          id, d (record JSON), name, status ('pending'|'scheduled'), priority, max_retries,
--          run_at (epoch s, 0 = now), delay (seconds after Redis TIME, '' = none), created_at (0 = now)
--          and finally max_waiting ('' = unbounded) as the last ARGV
-- Returns  one integer per task: 1 created, 0 the id already exists (nothing changed),
--          -1 the queue is full (that task and the ones after it were not created), or a string:
--          the id of the task that stands for it (unique_for / debounce, see unique_check)
local t = now()
local max_waiting = ARGV[#ARGV]
local out = {}
local full = false
for i = 6, #ARGV - 1, 9 do
  if full then
    out[#out + 1] = -1
  else
    local r = enqueue_one(t, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5],
                          tonumber(ARGV[i + 6]), ARGV[i + 7], tonumber(ARGV[i + 8]), max_waiting)
    if r == -1 then full = true end
    out[#out + 1] = r
  end
end
return out
