-- pause: pause or resume one queue (the claim script gives nothing from a paused queue).
-- KEYS[1]  P .. 'paused'
-- ARGV     common, [6] '1' pause | '0' resume
-- Returns  1
if ARGV[6] == '1' then
  redis.call('SET', P .. 'paused', '1')
  emit('paused', nil, nil, nil, nil, nil, Q)
else
  redis.call('DEL', P .. 'paused')
  emit('resumed', nil, nil, nil, nil, nil, Q)
  wake()
end
return 1
