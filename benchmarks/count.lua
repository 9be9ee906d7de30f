-- wrk script for run.py: exactly N requests (env BENCH_N) on one wrk thread, each
-- with the Cookie (env BENCH_COOKIE, may be empty) and "X-CSRF: 1" headers.
--
-- Exactness: delay() runs once before every new request and hands out N slots;
-- once they are gone it parks the connection for an hour, so nothing more is sent.
-- When the N-th response is in, response() stops the thread and prints the marker
-- line "BENCH_DONE"; run.py then sends SIGINT, which ends wrk's -d wait (-d is only
-- the upper bound, a timeout), and done() prints one JSON line with the results.
-- The wall time (for requests per second) runs from the first request written to
-- the N-th response read, on CLOCK_MONOTONIC through LuaJIT's FFI.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local n = tonumber(os.getenv("BENCH_N") or "2000")
local cookie = os.getenv("BENCH_COOKIE") or ""
local want_auth = os.getenv("BENCH_WANT_AUTH") or ""
local threads = {}

-- Globals, not locals: done() reads them from the thread with thread:get().
reserved = 0
received = 0
non_200 = 0
bad_auth = 0
first_us = 0
last_us = 0

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    if cookie ~= "" then
        wrk.headers["Cookie"] = cookie
    end
    wrk.headers["X-CSRF"] = "1"
end

function delay()
    if reserved >= n then
        return 3600000
    end
    reserved = reserved + 1
    return 0
end

function request()
    if first_us == 0 then
        first_us = now_us()
    end
    return wrk.format("GET")
end

function response(status, headers, body)
    received = received + 1
    if status ~= 200 then
        non_200 = non_200 + 1
    elseif want_auth ~= "" and headers["X-Bench-Auth"] ~= want_auth then
        bad_auth = bad_auth + 1
    end
    if received == n then
        last_us = now_us()
        wrk.thread:stop()
        io.stdout:write("BENCH_DONE\n")
        io.stdout:flush()
    end
end

function done(summary, latency, requests)
    local t = threads[1]
    io.write(string.format(
        '{"requests": %d, "received": %d, "elapsed_us": %.0f, "non_200": %d, "bad_auth": %d, '
            .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
            .. '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, '
            .. '"p50": %d, "p90": %d, "p99": %d}}\n',
        summary.requests, t:get("received"), t:get("last_us") - t:get("first_us"), t:get("non_200"),
        t:get("bad_auth"), summary.errors.connect, summary.errors.read, summary.errors.write,
        summary.errors.status, summary.errors.timeout,
        latency.min, latency.mean, latency.stdev, latency.max,
        latency:percentile(50), latency:percentile(90), latency:percentile(99)
    ))
end
