-- SPDX-License-Identifier: Apache-2.0
-- wrk script of scripts/bench-server: POST /sign with a fixed message, every response checked.
-- Environment (set by scripts/bench-server):
--   BENCH_MESSAGE       the body of every request
--   BENCH_ANSWER_LENGTH length of a good answer (hex digits: 128 for P-256, 64 for the device's tag)
--   BENCH_SAMPLE_EVERY  keep every Nth good answer of each thread for the signature check
--   BENCH_SAMPLES       file the kept answers go to, one per line
--   BENCH_MAX_REQUESTS  a thread stops after this many responses (the count bound; wrk's -d is
--                       the time bound)
-- Every response is checked: status 200 and an answer of the right length made of hex digits;
-- any other counts as an error. done() prints one line, "bench-server-result key=value ...".
local message = os.getenv("BENCH_MESSAGE") or "message"
local answer_length = tonumber(os.getenv("BENCH_ANSWER_LENGTH") or "128")
local sample_every = tonumber(os.getenv("BENCH_SAMPLE_EVERY") or "1000")
local samples_path = os.getenv("BENCH_SAMPLES")
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "10000000")

wrk.method = "POST"
wrk.path = "/sign"
wrk.body = message
wrk.headers["Content-Type"] = "application/octet-stream"

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   responses = 0
   bad_status = 0
   bad_answer = 0
   stopped_by_count = 0
   samples = {}
end

function response(status, headers, body)
   responses = responses + 1
   if status ~= 200 then
      bad_status = bad_status + 1
   elseif #body ~= answer_length or body:find("[^0-9a-f]") then
      bad_answer = bad_answer + 1
   elseif responses % sample_every == 1 then
      samples[#samples + 1] = body
   end
   if responses >= max_requests then
      stopped_by_count = 1
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local checked, status, answer, by_count = 0, 0, 0, 0
   local out = samples_path and io.open(samples_path, "w")
   local kept = 0
   for _, thread in ipairs(threads) do
      checked = checked + thread:get("responses")
      status = status + thread:get("bad_status")
      answer = answer + thread:get("bad_answer")
      by_count = by_count + thread:get("stopped_by_count")
      for _, body in ipairs(thread:get("samples")) do
         if out then out:write(body, "\n") end
         kept = kept + 1
      end
   end
   if out then out:close() end
   local e = summary.errors
   io.write(string.format(
      "bench-server-result requests=%d checked=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d " ..
      "max_us=%d connect=%d read=%d write=%d timeout=%d wrk_status=%d bad_status=%d bad_answer=%d " ..
      "samples=%d stopped_by_count=%d\n",
      summary.requests, checked, summary.duration, latency:percentile(50), latency:percentile(99),
      latency:percentile(99.9), latency.max, e.connect, e.read, e.write, e.timeout, e.status,
      status, answer, kept, by_count))
end
