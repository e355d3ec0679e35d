-- Re-apply spending a replica settled but has not yet written to the ledger, to counters
-- rebuilt from the ledger since (which therefore miss it). Idempotent by request id: the
-- field `a:<id>` marks a counter that already has it.
-- KEYS: counter hashes. ARGV: id, then per counter: bucket, amount, counter_ttl.
-- Reply: the epoch of each counter ('' when absent: nothing applied there).
local id = ARGV[1]
for i = 1, #KEYS do
  local h, a = KEYS[i], 1 + (i - 1) * 3
  local bucket, amount = ARGV[a + 1], ARGV[a + 2]
  if redis.call('EXISTS', h) == 1 and redis.call('HSETNX', h, 'a:' .. id, amount) == 1 then
    if tonumber(amount) > 0 and tonumber(bucket) >= tonumber(redis.call('HGET', h, 'lo')) then
      redis.call('HINCRBY', h, bucket, amount)
      redis.call('HINCRBY', h, 't', amount)
    end
    redis.call('EXPIRE', h, ARGV[a + 3])
  end
end
return epochs(1, 1, #KEYS)
