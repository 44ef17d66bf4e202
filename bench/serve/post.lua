-- wrk script: POST one sentiment request per call; prints latency percentiles and errors as JSON.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("RNNKIT_BODY") or '{"inputs": ["The food is good"]}'

local non_2xx = 0
response = function(status, headers, body)
  if status < 200 or status >= 300 then non_2xx = non_2xx + 1 end
end

done = function(summary, latency, requests)
  -- response() runs in each thread's own Lua state; summary.errors.status counts non-2xx in all.
  io.write(string.format('{"requests": %d, "seconds": %.2f, "rps": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, ' ..
                         '"p99_ms": %.2f, "max_ms": %.2f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
