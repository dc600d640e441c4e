"""wrk Lua scripts for cpu_bench.py: the five operations, as Zaqar v2 requests.

The claim flows keep a list of pending deletes per wrk thread: a claim's 201
body gives the hrefs to delete (``claim10+delete``: one ``DELETE`` per href,
``?claim_id=``) or the ids for one ``DELETE .../messages?ids=...``
(``claim10+bulk``); a new claim goes out only when no delete is pending.
"""

from __future__ import annotations

import json

from harness.workload import CLAIM_GRACE, CLAIM_LIMIT, CLAIM_TTL, bodies

OPERATIONS = ("post x1", "post x10", "claim10+delete", "claim10+bulk", "stats")

_HEADERS = """\
wrk.headers["Client-ID"] = "{client}"
wrk.headers["X-Project-Id"] = "{project}"
wrk.headers["Content-Type"] = "application/json"
"""

_POST = """\
wrk.method = "POST"
wrk.path = "/v2/queues/{queue}/messages"
wrk.body = '{body}'
"""

_STATS = """\
wrk.method = "GET"
wrk.path = "/v2/queues/{queue}/stats"
"""

_CLAIM = """\
local queue = "{queue}"
local bulk = {bulk}
local pending = {{}}
local claim_path = "/v2/queues/" .. queue .. "/claims?limit={limit}"
local claim_body = '{lease}'

request = function()
  local path = table.remove(pending)
  if path ~= nil then
    return wrk.format("DELETE", path)
  end
  return wrk.format("POST", claim_path, nil, claim_body)
end

response = function(status, headers, body)
  if status ~= 201 then
    return
  end
  if bulk then
    local ids = {{}}
    for id in body:gmatch('"id": *"(%d+)"') do
      ids[#ids + 1] = id
    end
    local claim = body:match("claim_id=(%x+)")
    local path = "/v2/queues/" .. queue .. "/messages?ids=" .. table.concat(ids, ",")
    table.insert(pending, path .. "&claim_ids=" .. claim)
  else
    for href in body:gmatch('"href": *"([^"]+)"') do
      table.insert(pending, href)
    end
  end
end
"""


def _messages(count: int) -> str:
    return json.dumps({"messages": [{"body": b, "ttl": 3600} for b in bodies(0, count)]})


def script(op: str, queue: str, project: str, client_id: str) -> str:
    """The Lua script of operation ``op`` (one of ``OPERATIONS``) on ``queue``."""
    head = _HEADERS.format(client=client_id, project=project)
    if op == "post x1":
        return head + _POST.format(queue=queue, body=_messages(1))
    if op == "post x10":
        return head + _POST.format(queue=queue, body=_messages(10))
    if op == "stats":
        return head + _STATS.format(queue=queue)
    if op in ("claim10+delete", "claim10+bulk"):
        lease = json.dumps({"ttl": CLAIM_TTL, "grace": CLAIM_GRACE})
        bulk = "true" if op == "claim10+bulk" else "false"
        return head + _CLAIM.format(queue=queue, bulk=bulk, limit=CLAIM_LIMIT, lease=lease)
    raise ValueError(f"unknown operation {op!r}")
