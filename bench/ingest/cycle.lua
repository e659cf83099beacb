-- wrk script for the ingest benchmark: cycle through pre-signed, distinct webhooks.
--
-- Arguments (after `--`): <requests file> <thread count>.  Each line of the file is
-- "<X-Vigie-Signature value>\t<JSON body>".  Thread k keeps lines k, k+n, k+2n... so no two
-- threads send the same ticket; every request is pre-formatted at init so request() costs
-- nothing.  response() counts statuses; done() prints "@bench <key> <value>" lines that
-- bench/ingest/load.py parses.

local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   local nthreads = tonumber(args[2])
   requests = {}
   statuses = {}
   wraps = 0
   issued = 0
   local i = 0
   local f = assert(io.open(path, "rb"))
   for line in f:lines() do
      if i % nthreads == tid then
         local tab = line:find("\t", 1, true)
         local headers = {
            ["Content-Type"] = "application/json",
            ["X-Vigie-Signature"] = line:sub(1, tab - 1),
         }
         requests[#requests + 1] = wrk.format("POST", nil, headers, line:sub(tab + 1))
      end
      i = i + 1
   end
   f:close()
   count = #requests
   index = 0
   if count == 0 then
      error("no requests for thread " .. tid .. " in " .. path)
   end
end

function request()
   issued = issued + 1
   index = index + 1
   if index > count then
      index = 1
      wraps = wraps + 1
   end
   return requests[index]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   local wrapped = 0
   local sent = 0
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         total[status] = (total[status] or 0) + n
      end
      wrapped = wrapped + thread:get("wraps")
      sent = sent + thread:get("issued")
   end
   io.write(string.format("@bench duration_us %d\n", summary.duration))
   io.write(string.format("@bench requests %d\n", summary.requests))
   io.write(string.format("@bench errors_connect %d\n", summary.errors.connect))
   io.write(string.format("@bench errors_read %d\n", summary.errors.read))
   io.write(string.format("@bench errors_write %d\n", summary.errors.write))
   io.write(string.format("@bench errors_timeout %d\n", summary.errors.timeout))
   io.write(string.format("@bench errors_status %d\n", summary.errors.status))
   io.write(string.format("@bench latency_mean_us %f\n", latency.mean))
   io.write(string.format("@bench latency_max_us %d\n", latency.max))
   for _, p in ipairs({50, 90, 99, 99.9}) do
      io.write(string.format("@bench latency_p%s_us %d\n", p, latency:percentile(p)))
   end
   for status, n in pairs(total) do
      io.write(string.format("@bench status_%d %d\n", status, n))
   end
   io.write(string.format("@bench wraps %d\n", wrapped))
   io.write(string.format("@bench issued %d\n", sent))
end
