-- Seed counters from the ledger, only where they are still absent (another replica may
-- have rebuilt them and admitted requests meanwhile).
-- KEYS: counter hashes. ARGV: per budget: lower, counter_ttl, count, then count pairs
--       (bucket, spent).
-- Reply: number of counters created.
local created, a = 0, 1
for i = 1, #KEYS do
  local h, lower, ttl, count = KEYS[i], ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local first = a + 3
  a = first + 2 * count
  if redis.call('EXISTS', h) == 0 then
    local total, fields = 0, {'lo', lower, 'R', '0'}
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
return created
