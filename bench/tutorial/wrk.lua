-- wrk script for bench/serving.py: POST request bodies in rotation, print JSON at the end.
-- wrk -s wrk.lua URL -- BODIES_FILE PATH   (one JSON body per line)
local bodies, index, path = {}, 0, "/predict"

function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  path = args[2] or path
end

function request()
  index = index % #bodies + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, bodies[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%f,' ..
    '"errors_status":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
