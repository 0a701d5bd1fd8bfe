-- wrk script: POST OpenAI chat requests of 4 to 16 KB (four sizes in turn), model
-- "bench-model" (which InferGate rewrites), optionally streamed (STREAM=1 in the environment).
-- BODY_KB=N in the environment: every request's body is N KB instead (the long-prompt series,
-- 400 KB: about 100k tokens). DELAY_MS=N: each connection waits N ms before each request, so
-- that a run offers a fixed load instead of as much as the proxy takes (wrk is a closed loop).
local stream = os.getenv("STREAM") == "1"
local bodies = {}
local sizes = {4096, 8192, 12288, 16384}
local body_kb = tonumber(os.getenv("BODY_KB") or "")
if body_kb then sizes = {body_kb * 1024} end
for i, size in ipairs(sizes) do
  local filler = string.rep("All work and no play makes a benchmark dull. ", math.floor(size / 46))
  bodies[i] = string.format(
    '{"model":"bench-model","stream":%s,"max_tokens":100,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"%s"}]}',
    stream and "true" or "false", filler)
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/chat/completions", {["Content-Type"] = "application/json"},
                    bodies[(n % #bodies) + 1])
end
local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
if delay_ms then
  delay = function() return delay_ms end
end
