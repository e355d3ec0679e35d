-- Seed counters from the ledger, only where they are still absent (another replica may
-- have rebuilt them and admitted requests meanwhile). Each counter created gets a new
-- epoch `e` and `rt`, the Redis time taken before the ledger was read: replicas compare
-- them with what they hold to re-apply their in-flight holds and unwritten spending.
-- When Redis itself has just come back empty (the `alive` key is absent or fresh), new
-- counters admit nothing for `grace` seconds (`w`), the time replicas take to re-apply.
-- A rebuild that creates a counter stores its epoch in the `rebuilt` key, so that a
-- watcher sees in one read whether any counter was rebuilt since it last looked.
-- KEYS: counter hashes, then the alive key, then the rebuilt key. ARGV: epoch, rt,
--       grace, then per budget: lower, counter_ttl, count, then count pairs (bucket, spent).
-- Reply: number of counters created.
local epoch, rt, grace = ARGV[1], ARGV[2], tonumber(ARGV[3])
local alive_key, rebuilt_key = KEYS[#KEYS - 1], KEYS[#KEYS]
local now = redis_now()
local alive = redis.call('GET', alive_key)
local wait_until = 0
if not alive or now - tonumber(alive) < 2 * grace then
  wait_until = now + grace
end
if not alive then
  redis.call('SET', alive_key, string.format('%.6f', now))
end
local created, a = 0, 4
for i = 1, #KEYS - 2 do
  local h, lower, ttl, count = KEYS[i], ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local first = a + 3
  a = first + 2 * count
  if redis.call('EXISTS', h) == 0 then
    local total, fields = 0, {'lo', lower, 'R', '0', 'e', epoch, 'rt', rt, 'w', string.format('%.6f', wait_until)}
    for j = first, first + 2 * count - 1, 2 do
      total = total + tonumber(ARGV[j + 1])
      fields[#fields + 1] = ARGV[j]
      fields[#fields + 1] = ARGV[j + 1]
    end
    fields[#fields + 1] = 't'
    fields[#fields + 1] = fmt(total)
    redis.call('HSET', h, unpack(fields))
    redis.call('EXPIRE', h, ttl)
    created = created + 1
  end
end
if created > 0 then
  redis.call('SET', rebuilt_key, epoch)
end
return created
