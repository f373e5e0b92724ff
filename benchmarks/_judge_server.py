"""An OpenAI-compatible judge for ``evaluation.py``, run as its own process so that the
evaluating process's CPU time holds none of the judge's work.

``POST /v1/chat/completions`` waits ``--latency-ms`` (default 50) without using the CPU, then
answers every request with the same verdict as a JSON object in the message's content,
``{"rationale": "...", "result": "yes"}``, and token counts in ``usage``. That is what both
sides ask for and parse: Assay's judges (the openai client, a JSON-schema ``response_format``)
and MLflow 3.17's built-in judges with ``openai:/<model>`` (its native OpenAI provider posts
with ``requests`` to ``$OPENAI_BASE_URL/chat/completions`` with a JSON-schema
``response_format`` and reads ``result`` and ``rationale`` from the content). Requests with
``tools`` are answered the same way (no tool call).

The listening socket has ``TCP_NODELAY`` (inherited by each connection): without it a
keep-alive client's request waited for the server's delayed ACK, and each call took the
latency plus about 40 ms.

``GET /stats`` gives ``{"requests": n, "cpu_s": s, "in_flight_max": m}``: the chat requests so
far, this process's CPU time, and the most requests it held at once.

Usage (prints ``PORT <n>`` on stdout once it listens)::

    python benchmarks/_judge_server.py [--port 0] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

RATIONALE = "The response states everything the expected response says, and nothing contradicts it."
CONTENT = '{"rationale": "' + RATIONALE + '", "result": "yes"}'
COMPLETION_TOKENS = 24


class Judge:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.requests = 0
        self.in_flight = 0
        self.in_flight_max = 0

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests += 1
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        # About four characters a token, as the usual tokenizers count English.
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4
        return JSONResponse({
            "id": f"chatcmpl-bench-{self.requests}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "judge"),
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": CONTENT,
                                     "refusal": None}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": COMPLETION_TOKENS,
                      "total_tokens": prompt_tokens + COMPLETION_TOKENS},
        })

    async def stats(self, request: Request) -> Response:
        return JSONResponse({"requests": self.requests, "cpu_s": time.process_time(),
                             "in_flight_max": self.in_flight_max})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    judge = Judge(args.latency_ms / 1000)
    app = Starlette(routes=[Route("/v1/chat/completions", judge.chat, methods=["POST"]),
                            Route("/stats", judge.stats)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see the docstring
    sock.bind(("127.0.0.1", args.port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, backlog=1024,
                            timeout_keep_alive=30)
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        await task

    asyncio.run(serve())
    sys.exit(0)


if __name__ == "__main__":
    main()
