-- Spending and reservations of budgets at `now`.
-- KEYS: (counter hash, reservation zset) per budget. ARGV: now (unused: Redis TIME is the clock), n,
--       then lower per budget.
-- Reply: {0, missing indexes...} | {1, t1, R1, ...}
local n = tonumber(ARGV[2])
local missing = missing_counters(1, 2, n)
if #missing > 0 then
  return {0, unpack(missing)}
end
local now = redis_now()
local reply = {1}
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  purge(h, z, now)
  trim(h, tonumber(ARGV[2 + i]))
  local tr = redis.call('HMGET', h, 't', 'R')
  reply[#reply + 1] = tonumber(tr[1])
  reply[#reply + 1] = tonumber(tr[2])
end
return reply
