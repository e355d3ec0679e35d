-- Add spending recorded locally while Redis was unreachable (fail-open), to counters
-- that survived the outage. A counter that did not survive is rebuilt from the
-- ledger, which already holds that spending, so it is left alone here.
-- KEYS: counter hashes. ARGV: per counter: bucket, amount, counter_ttl.
local applied = 0
for i = 1, #KEYS do
  local h, a = KEYS[i], (i - 1) * 3
  local bucket, amount = ARGV[a + 1], ARGV[a + 2]
  if redis.call('EXISTS', h) == 1 and tonumber(bucket) >= tonumber(redis.call('HGET', h, 'lo')) then
    redis.call('HINCRBY', h, bucket, amount)
    redis.call('HINCRBY', h, 't', amount)
    redis.call('EXPIRE', h, ARGV[a + 3])
    applied = applied + 1
  end
end
return applied
