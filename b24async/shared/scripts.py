"""The Lua scripts run inside Redis: each is one atomic step with Redis ``TIME`` as the clock.

Times are integer microseconds of Redis' clock, kept as strings in Redis (``%.0f``) because Lua
would print a large number in exponent notation and lose digits.
"""

from __future__ import annotations

__all__ = ["BUCKET", "HOLD", "HOLDS"]

#: GCRA over a leaky bucket: reserve a slot ("take") or mark the bucket full ("fill").
#:
#: KEYS[1]: the bucket hash (``tat``: theoretical arrival time, ``limits``: last writer's)
#: KEYS[2]: the sorted set of processes seen in the last 10 s (member: process id)
#: ARGV: interval µs (1/rate), capacity (slots), "take"|"fill", process id, limits text,
#: extra slots a "fill" reserves beyond full (requests this process still owes the bucket)
#: KEYS[3] (optional): a holds hash (see HOLD) read on the way, so that a busy process learns
#: the holds without a round trip of its own
#: Returns {wait µs, backlog µs (tat - now after the step), peers, limits mismatch 0|1,
#: then held key, remaining µs, ... for each hold in force}.
BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0') or 0
if tat < now then tat = now end
local mismatch = 0
local limits = redis.call('HGET', KEYS[1], 'limits')
if limits and limits ~= ARGV[5] then mismatch = 1 end
local wait = 0
if ARGV[3] == 'take' then
  tat = tat + interval
  local allowed = tat - capacity * interval
  if allowed > now then wait = allowed - now end
else
  local full = now + (capacity + tonumber(ARGV[6])) * interval
  if full > tat then tat = full end
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'limits', ARGV[5])
redis.call('PEXPIRE', KEYS[1], math.floor((tat - now) / 1000) + 60000)
redis.call('ZADD', KEYS[2], string.format('%.0f', now), ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now - 10000000))
redis.call('PEXPIRE', KEYS[2], 60000)
local out = {wait, tat - now, redis.call('ZCARD', KEYS[2]), mismatch}
if KEYS[3] then
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    local untl = tonumber(all[i + 1]) or 0
    if untl > now then
      out[#out + 1] = all[i]
      out[#out + 1] = untl - now
    end
  end
end
return out
"""

#: Hold one billed key until Redis' now + ARGV[2] µs (a later hold wins).
#:
#: KEYS[1]: the holds hash of one portal + credential (field: billed key, value: until µs)
#: ARGV: billed key, hold µs
#: Returns the hold's remaining µs (the longer of the existing and the new one).
HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = now + tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0
if old > untl then untl = old end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', untl))
local ttl = redis.call('PTTL', KEYS[1])
local need = math.floor((untl - now) / 1000) + 1000
if ttl < need then redis.call('PEXPIRE', KEYS[1], need) end
return untl - now
"""

#: Every hold still in force: a flat list {key, remaining µs, key, remaining µs, ...};
#: expired fields are removed on the way.
#:
#: KEYS[1]: the holds hash
HOLDS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local untl = tonumber(all[i + 1]) or 0
  if untl > now then
    out[#out + 1] = all[i]
    out[#out + 1] = untl - now
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
"""
