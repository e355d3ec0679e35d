-- Helpers prepended to every budget script (see gateway/budgets/redis.py for the key layout).

local function fmt(x)
  return string.format('%.0f', x)
end

-- Redis's own clock, the one clock every replica's reservations expire by.
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- The rebuild epoch of each counter hash named KEYS[first], KEYS[first + step], ...
local function epochs(first, step, n)
  local out = {}
  for i = 1, n do
    out[i] = redis.call('HGET', KEYS[first + (i - 1) * step], 'e') or ''
  end
  return out
end

-- Forget the buckets older than `lower`, keeping the running total `t` exact.
local function trim(h, lower)
  local lo = tonumber(redis.call('HGET', h, 'lo'))
  if lo >= lower then
    return
  end
  local total = tonumber(redis.call('HGET', h, 't'))
  if lower - lo > 512 then
    local all = redis.call('HGETALL', h)
    for j = 1, #all, 2 do
      local b = tonumber(all[j])
      if b and b < lower then
        total = total - tonumber(all[j + 1])
        redis.call('HDEL', h, all[j])
      end
    end
  else
    for b = lo, lower - 1 do
      local f = fmt(b)
      local v = redis.call('HGET', h, f)
      if v then
        total = total - tonumber(v)
        redis.call('HDEL', h, f)
      end
    end
  end
  redis.call('HSET', h, 't', fmt(total), 'lo', fmt(lower))
end

-- Give back the room held by reservations whose TTL has passed.
local function purge(h, z, now)
  local ids = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  if #ids == 0 then
    return
  end
  local reserved = tonumber(redis.call('HGET', h, 'R'))
  for _, id in ipairs(ids) do
    local v = redis.call('HGET', h, 'r:' .. id)
    if v then
      reserved = reserved - tonumber(v)
      redis.call('HDEL', h, 'r:' .. id)
    end
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  redis.call('HSET', h, 'R', fmt(reserved))
end

-- Drop one reservation's hold on one counter, if it still holds.
local function unhold(h, z, id)
  local v = redis.call('HGET', h, 'r:' .. id)
  if v then
    redis.call('HINCRBY', h, 'R', fmt(-tonumber(v)))
    redis.call('HDEL', h, 'r:' .. id)
  end
  redis.call('ZREM', z, id)
end

local function missing_counters(first, step, n)
  local missing = {}
  for i = 1, n do
    if redis.call('EXISTS', KEYS[first + (i - 1) * step]) == 0 then
      missing[#missing + 1] = i
    end
  end
  return missing
end
