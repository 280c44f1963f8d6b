"""The Lua scripts ``RedisStore`` runs: each is atomic in Redis (``redis_store.py`` says what
the keys hold)."""

from __future__ import annotations

__all__ = [
    "APPEND_LOG",
    "CHARGE",
    "DROP_DOC",
    "GET_DOC",
    "PUT_DOC",
    "PUT_THEN_GET",
    "SPEND",
    "TAKE",
]

TAKE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit, want = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, elapsed = tonumber(ARGV[3]), tonumber(ARGV[4])
local used = previous * (window - elapsed) / window + current
local granted = math.floor(limit - used)
if granted > want then granted = want end
if granted < 0 then granted = 0 end
if granted > 0 then redis.call('INCRBY', KEYS[1], granted) end
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 2000))
return {granted, math.ceil(used) + granted}
"""

CHARGE = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value < 0 then redis.call('SET', KEYS[1], 0) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return value
"""

# A replica's running total for one app and period: the app's total grows by what it grew.
SPEND = """
local before = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local total = tonumber(ARGV[2])
if total > before then
  redis.call('HSET', KEYS[2], ARGV[1], total)
  redis.call('INCRBY', KEYS[1], total - before)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 0
"""

# A document's read and its versioned write (a compare-and-set), as functions the scripts share.
# Documents written before they were versioned are plain strings: version 0.
_DOCS = """
local function get_doc(key)
  local kind = redis.call('TYPE', key).ok
  if kind == 'hash' then return redis.call('HMGET', key, 'v', 'd') end
  if kind == 'string' then return {'0', redis.call('GET', key)} end
  return false
end

local function put_doc(key, expected, value, ttl_ms)
  local kind = redis.call('TYPE', key).ok
  local version = -1
  if kind == 'hash' then version = tonumber(redis.call('HGET', key, 'v')) or 0
  elseif kind ~= 'none' then version = 0 end
  if expected ~= -2 and expected ~= version then return 0 end
  if kind ~= 'hash' and kind ~= 'none' then redis.call('DEL', key) end
  local written = math.max(1, version + 1)
  redis.call('HSET', key, 'v', written, 'd', value)
  redis.call('PEXPIRE', key, ttl_ms)
  return written
end
"""

GET_DOC = _DOCS + "return get_doc(KEYS[1])"

PUT_DOC = _DOCS + "return put_doc(KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3])"

# A lock taken (KEYS[1]), then what it guards read (KEYS[2]), only if it was taken: a turn
# refused its conversation's lock does not fetch the conversation.
PUT_THEN_GET = (
    _DOCS
    + """
local written = put_doc(KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3])
if written == 0 then return {0, false} end
return {written, get_doc(KEYS[2])}
"""
)

DROP_DOC = """
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'v')) ~= tonumber(ARGV[1]) then return 0 end
return redis.call('DEL', KEYS[1])
"""

# Entries added to a log (ARGV[3] on), its expiry (ARGV[1], ms) renewed, and a word to its
# readers on their channel (ARGV[2]; redis_bells.py). The word goes with pcall: a user whose
# ACL denies the channel still appends. RPUSH takes the entries a thousand at a time, under
# Lua's limit on unpack.
APPEND_LOG = """
local length = redis.call('LLEN', KEYS[1])
for first = 3, #ARGV, 1000 do
  length = redis.call('RPUSH', KEYS[1], unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.pcall('PUBLISH', ARGV[2], #ARGV - 2)
return length
"""
