"""Lua scripts of the Redis job queue: each state change is one atomic script.

A job is a hash (`{p}job:<id>`) plus, while it is runnable or running, one stream entry
whose only field is the job id. The hash's `msg` names the job's current entry; an entry
that is not the current one (or whose job is finished or cancelled) is stale and is
acknowledged and deleted wherever it turns up. Every entry is deleted once acknowledged,
so the stream holds exactly the waiting and running jobs.

The lease token in the hash fences workers: heartbeat, complete, fail, retry and release
do nothing unless the caller's token is the current one. Times come from Redis (`TIME`),
so the clocks of the workers' machines never matter.
"""

from __future__ import annotations

_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function drop_entry(stream, group, msg)
  if msg and msg ~= '' then
    redis.call('XACK', stream, group, msg)
    redis.call('XDEL', stream, msg)
  end
end

-- Lease the job of stream entry `msg` to `owner` if that entry is still the job's own.
local function take(job_key, msg, owner, token, now)
  local state = redis.call('HMGET', job_key, 'state', 'msg')
  if (state[1] ~= 'queued' and state[1] ~= 'leased') or state[2] ~= msg then
    return false
  end
  redis.call('HINCRBY', job_key, 'attempts', 1)
  redis.call('HSET', job_key, 'state', 'leased', 'token', token, 'owner', owner,
             'updated_at', now)
  return redis.call('HMGET', job_key, 'video_id', 'payload', 'attempts', 'max_attempts',
                    'last_error')
end

-- The caller's lease is the current one: the job's fields (state, msg), or false.
local function current_lease(job_key, token)
  local state = redis.call('HMGET', job_key, 'state', 'token', 'msg', 'owner')
  if state[1] ~= 'leased' or state[2] ~= token then
    return false
  end
  return state
end

local function next_due_in(delayed, now)
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  if #first == 0 then
    return -1
  end
  return math.max(0, tonumber(first[2]) - now)
end
"""

# KEYS: stream, job, video_jobs   ARGV: job_id, video_id, payload, max_attempts
ENQUEUE = _COMMON + """
local now = now_ms()
local msg = redis.call('XADD', KEYS[1], '*', 'job', ARGV[1])
redis.call('HSET', KEYS[2], 'video_id', ARGV[2], 'payload', ARGV[3], 'state', 'queued',
           'attempts', 0, 'max_attempts', ARGV[4], 'msg', msg, 'token', '',
           'created_at', now, 'updated_at', now)
redis.call('SADD', KEYS[3], ARGV[1])
return msg
"""

# KEYS: stream, delayed
# ARGV: group, consumer, token, min_idle_ms, job_prefix, batch
# Returns {job_id, video_id, payload, attempts, max_attempts, last_error}
#      or {false, ms until the next delayed job is due (-1: none)}.
TRY_LEASE = _COMMON + """
local stream, delayed = KEYS[1], KEYS[2]
local group, consumer, token, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local min_idle, batch = tonumber(ARGV[4]), tonumber(ARGV[6])
local now = now_ms()

-- 1. Retries that are due go back to the end of the stream.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', delayed, id)
  local job_key = prefix .. id
  if redis.call('HGET', job_key, 'state') == 'queued' then
    local msg = redis.call('XADD', stream, '*', 'job', id)
    redis.call('HSET', job_key, 'msg', msg)
  end
end

-- The job id of a stream entry {msg, {'job', id}} (nil for a deleted entry).
local function entry_job(entry)
  return entry[2] and entry[2][2]
end

local function leased(id, fields)
  return {id, fields[1], fields[2], fields[3], fields[4], fields[5] or ''}
end

-- 2. A lease nobody renewed within the visibility timeout (its worker died).
local cursor = '0-0'
for _ = 1, batch do
  local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, min_idle, cursor,
                             'COUNT', 1)
  cursor = claimed[1]
  for _, entry in ipairs(claimed[2]) do
    local msg, id = entry[1], entry_job(entry)
    local fields = id and take(prefix .. id, msg, consumer, token, now)
    if fields then
      return leased(id, fields)
    end
    drop_entry(stream, group, msg)
  end
  if cursor == '0-0' then
    break
  end
end

-- 3. A job nobody has had yet.
for _ = 1, batch do
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1,
                          'STREAMS', stream, '>')
  if not read then
    break
  end
  local entry = read[1][2][1]
  local msg, id = entry[1], entry_job(entry)
  local fields = id and take(prefix .. id, msg, consumer, token, now)
  if fields then
    return leased(id, fields)
  end
  drop_entry(stream, group, msg)
end

return {false, next_due_in(delayed, now)}
"""

# After a blocking XREADGROUP delivered entry `msg` to `consumer`.
# KEYS: stream   ARGV: group, consumer, token, job_prefix, msg, job_id
TAKE_DELIVERED = _COMMON + """
local job_id = ARGV[6]
local fields = take(ARGV[4] .. job_id, ARGV[5], ARGV[2], ARGV[3], now_ms())
if fields then
  return {job_id, fields[1], fields[2], fields[3], fields[4], fields[5] or ''}
end
drop_entry(KEYS[1], ARGV[1], ARGV[5])
return false
"""

# Reset the entry's idle time (XCLAIM by its own consumer), which is what postpones
# reclaiming. KEYS: stream, job   ARGV: group, token
HEARTBEAT = _COMMON + """
local lease = current_lease(KEYS[2], ARGV[2])
if not lease then
  return 0
end
local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], lease[4], 0, lease[3], 'JUSTID')
if #claimed == 0 then
  return 0
end
redis.call('HSET', KEYS[2], 'updated_at', now_ms())
return 1
"""

# complete / fail. KEYS: stream, job, video_jobs
# ARGV: group, token, final state, reason ('' keeps the last one), job_id, retention_s
FINISH = _COMMON + """
local lease = current_lease(KEYS[2], ARGV[2])
if not lease then
  return 0
end
drop_entry(KEYS[1], ARGV[1], lease[3])
redis.call('HSET', KEYS[2], 'state', ARGV[3], 'token', '', 'msg', '', 'updated_at', now_ms())
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'last_error', ARGV[4])
end
redis.call('SREM', KEYS[3], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""

# KEYS: stream, job, delayed   ARGV: group, token, delay_ms, reason, job_id
RETRY_LATER = _COMMON + """
local lease = current_lease(KEYS[2], ARGV[2])
if not lease then
  return 0
end
local now = now_ms()
drop_entry(KEYS[1], ARGV[1], lease[3])
redis.call('HSET', KEYS[2], 'state', 'queued', 'token', '', 'msg', '', 'last_error', ARGV[4],
           'updated_at', now)
local delay = tonumber(ARGV[3])
if delay <= 0 then
  local msg = redis.call('XADD', KEYS[1], '*', 'job', ARGV[5])
  redis.call('HSET', KEYS[2], 'msg', msg)
else
  redis.call('ZADD', KEYS[3], now + delay, ARGV[5])
end
return 1
"""

# Hand back without counting the attempt. KEYS: stream, job   ARGV: group, token, job_id
RELEASE = _COMMON + """
local lease = current_lease(KEYS[2], ARGV[2])
if not lease then
  return 0
end
drop_entry(KEYS[1], ARGV[1], lease[3])
local msg = redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
local attempts = tonumber(redis.call('HGET', KEYS[2], 'attempts')) or 0
redis.call('HSET', KEYS[2], 'state', 'queued', 'token', '', 'msg', msg,
           'attempts', math.max(attempts - 1, 0), 'updated_at', now_ms())
return 1
"""

# KEYS: stream, delayed, video_jobs   ARGV: group, job_prefix, retention_s
CANCEL = _COMMON + """
local now = now_ms()
local cancelled = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local job_key = ARGV[2] .. id
  local state = redis.call('HMGET', job_key, 'state', 'msg')
  if state[1] == 'queued' or state[1] == 'leased' then
    drop_entry(KEYS[1], ARGV[1], state[2])
    redis.call('ZREM', KEYS[2], id)
    redis.call('HSET', job_key, 'state', 'cancelled', 'token', '', 'msg', '',
               'updated_at', now)
    redis.call('EXPIRE', job_key, ARGV[3])
    cancelled = cancelled + 1
  end
  redis.call('SREM', KEYS[3], id)
end
return cancelled
"""

# Waiting jobs: stream entries not yet delivered, plus scheduled retries.
# KEYS: stream, delayed   ARGV: group
DEPTH = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
return redis.call('XLEN', KEYS[1]) - pending[1] + redis.call('ZCARD', KEYS[2])
"""
