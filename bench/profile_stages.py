"""Where a server's CPU goes per request, from a py-spy sampling profile.

`bench/serving.py --profile` records each Python server with py-spy (sampling only
threads that are running, so samples measure CPU, not waiting) while wrk drives it, and
sorts every sample into one stage by its innermost frame that says what it does:

  forward        the model (torch.nn modules, a forward(), ONNX Runtime)
  json parse     json.loads / request.get_json
  tensor build   preprocess, torch.tensor / as_tensor, validation, collate
  batching       vxserve's queue, batch assembly and splitting (batching.py)
  serialisation  postprocess, softmax/tolist, json.dumps / jsonify
  http           gunicorn, werkzeug, Flask, uvicorn, Starlette, asyncio, sockets
  other          everything else (metrics, logging, the interpreter's own)

Threads blocked in a wait (idle pool threads, a request waiting for its batch's result:
"batching wait", printed as a share of thread samples, not CPU) are left out of the
stages. Each stage's share of the remaining samples times the CPU the server used per
request in the same run gives CPU milliseconds per request per stage, so a regression
shows which one grew. TorchServe's JVM is not Python: bench/serving.py takes only the
Python processes' CPU for the stages and prints the JVM's on its own ("no python").
"""

from __future__ import annotations

import linecache
from collections import Counter
from pathlib import Path

STAGES = ["forward", "json parse", "tensor build", "batching", "serialisation", "http", "other"]
_HTTP = ("gunicorn", "werkzeug", "flask/", "uvicorn", "starlette", "asyncio", "h11",
         "httptools", "socket", "selectors", "anyio", "fastapi")
_BY_FUNC = {
    "loads": "json parse", "get_json": "json parse", "raw_decode": "json parse",
    "decode": "json parse",
    "dumps": "serialisation", "jsonify": "serialisation", "iterencode": "serialisation",
    "encode": "serialisation", "postprocess": "serialisation", "_to_python": "serialisation",
    "preprocess": "tensor build", "_to_tensor": "tensor build", "_check_values": "tensor build",
    "_check_shape": "tensor build", "_has_bool": "tensor build", "_default_cast": "tensor build",
    "collate": "tensor build", "inference": "forward",
}
_BY_LINE = [
    ("torch.tensor", "tensor build"), ("as_tensor", "tensor build"),
    ("get_json", "json parse"), ("json.loads", "json parse"),
    ("model(", "forward"), ("softmax", "serialisation"), ("tolist", "serialisation"),
    ("jsonify", "serialisation"), ("json.dumps", "serialisation"),
]


def _frame(text: str) -> tuple[str, str, int]:
    """'Class.func (path:line)' -> (func, path, line); py-spy prints qualified names."""
    func, _, rest = text.partition(" (")
    path, _, line = rest.rstrip(")").rpartition(":")
    return func.rsplit(".", 1)[-1], path, int(line) if line.isdigit() else 0


def _source(path: str, line: int, repo: Path) -> str:
    """The source line, for our files whose path py-spy prints relative to sys.path."""
    roots = [Path("/"), repo / "containers" / "common", repo / "bench" / "tutorial",
             *(repo / "containers" / name for name in ("flask", "torchserve", "tensorrt"))]
    for root in roots:
        candidate = root / path
        if candidate.is_file() and str(candidate.resolve()).startswith(str(repo)):
            return linecache.getline(str(candidate), line)
    return ""


_WAITS = {"_wait": "batching wait", "wait": "idle", "_worker": "idle", "select": "idle",
          "poll": "idle", "accept": "idle", "_run_once": "idle"}


def classify(stack: list[str], repo: Path) -> str:
    if stack:
        # py-spy counts a thread blocked in a timed lock wait as active: sort those out.
        func, path, _ = _frame(stack[-1])
        if func in _WAITS and ("threading.py" in path or "batching.py" in path
                               or "futures/thread.py" in path or "selectors.py" in path
                               or "asyncio" in path):
            return _WAITS[func]
        # uvloop's loop is C: a thread waiting in its epoll shows the Python frame that
        # started the loop as its innermost one.
        if func in ("run", "run_forever", "run_until_complete") and "asyncio" in path:
            return "idle"
    for text in reversed(stack):  # innermost first
        func, path, line = _frame(text)
        if "torch/nn/" in path or func == "forward" or "onnxruntime" in path:
            return "forward"
        if func in _BY_FUNC:
            return _BY_FUNC[func]
        if path.endswith("vxserve/batching.py"):
            return "batching"
        source = _source(path, line, repo) if line else ""
        if source:
            for marker, stage in _BY_LINE:
                if marker in source:
                    return stage
    if any(marker in text for text in stack for marker in _HTTP):
        return "http"
    return "other"


def stages(raw_file: Path, repo: Path) -> dict[str, float]:
    """Share of samples per stage from py-spy's `--format raw` (collapsed stacks)."""
    counts: Counter[str] = Counter()
    for line in raw_file.read_text(errors="replace").splitlines():
        stack_text, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = [f for f in stack_text.split(";") if " (" in f]
        counts[classify(frames, repo)] += int(n)
    busy = sum(counts[stage] for stage in STAGES) or 1
    shares = {stage: counts[stage] / busy for stage in STAGES}
    # Not CPU: the share of thread samples spent waiting for a batch's result.
    shares["batching wait"] = counts["batching wait"] / (busy + counts["batching wait"])
    return shares
