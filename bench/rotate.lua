-- wrk script of bench/load.sh's all-misses case (m) and its floor (n):
-- each request carries the next token of TOKENS_FILE (one a line, made by
-- bench/tokens) as `Authorization: Bearer`, in turn, starting with the
-- TOKENS_START-th (from 0) and wrapping round at the end. load.sh starts
-- every run where the one before it stopped, so that with more tokens than
-- the whole benchmark sends, no token is ever sent twice: none can be in
-- the verified-token cache, whatever its size and eviction. Run it with one
-- thread (-t1): the rotation is per thread.
local file = os.getenv("TOKENS_FILE")
local start = tonumber(os.getenv("TOKENS_START") or "0") or 0
local tokens = {}
local count = 0
local next = 0
local head, tail

function init(args)
	if not file then
		error("TOKENS_FILE is not set")
	end
	for line in io.lines(file) do
		if line ~= "" then
			count = count + 1
			tokens[count] = line
		end
	end
	if count == 0 then
		error("no tokens in " .. file)
	end
	next = start % count
	-- A request is the same bytes as wrk sends with -H, the token spliced in.
	local mark = "TOKEN-GOES-HERE"
	local req = wrk.format("GET", "/", { Authorization = "Bearer " .. mark })
	local at = req:find(mark, 1, true)
	head, tail = req:sub(1, at - 1), req:sub(at + #mark)
end

function request()
	next = next + 1
	if next > count then
		next = 1
	end
	return head .. tokens[next] .. tail
end
