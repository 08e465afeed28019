"""A small OpenAI-compatible chat server for the backend tests, answering with the bundled model.

Run: ``python tests/backends/openai_test_server.py [--port 0] [--max-model-len 256] [--dtype auto]``. Once the
model is loaded it prints ``READY <port>`` on stdout. Endpoints:

- ``GET /health`` — 200 when ready.
- ``POST /v1/chat/completions`` — real generations from the transformers backend. A request whose prompt plus
  ``max_tokens`` exceeds ``--max-model-len`` gets a 400 worded like vLLM's context-length error. With
  ``logprobs: true`` and ``top_logprobs: k`` the first generated token comes with the model's real top-k next-token
  log-probabilities; ``continue_final_message: true`` continues a final assistant message (vLLM's extension).
- ``POST /control`` with ``{"fail_next": [429, 500, ...]}`` — answer the next requests with these statuses first
  (and reset the counters); ``GET /stats`` — ``{"requests": n, "injected_failures": k}``.
- ``GET /keys`` — ``{"api_key_sha256": [...]}``: the SHA-256 of every bearer key received (never the key itself),
  so a test can check which key the client sent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from persona_lib.backends._transformers import TransformersBackend
from persona_lib.config import ModelConfig
from persona_lib.contract import SamplingParams

_ERROR_TYPES = {429: "rate_limit_exceeded", 500: "internal_server_error", 503: "service_unavailable"}


class ServerState:
    """The model, the context length and the queue of failures to inject."""

    def __init__(self, max_model_len: int, dtype: str) -> None:
        self.backend = TransformersBackend(ModelConfig(max_model_len=max_model_len, batch_size=1, dtype=dtype))
        self.max_model_len = max_model_len
        self.generate_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self.fail_next: deque[int] = deque()
        self.requests = 0
        self.injected_failures = 0
        self.key_digests: set[str] = set()
        self.last_fields: list[str] = []


class Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, error_type: str) -> None:
        self._send(status, {"error": {"message": message, "type": error_type, "code": status}})

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/stats":
            with self.state.state_lock:
                self._send(200, {"requests": self.state.requests, "injected_failures": self.state.injected_failures})
        elif self.path == "/last_fields":
            with self.state.state_lock:
                self._send(200, {"fields": self.state.last_fields})
        elif self.path == "/keys":
            with self.state.state_lock:
                self._send(200, {"api_key_sha256": sorted(self.state.key_digests)})
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        if self.path == "/control":
            body = self._body()
            with self.state.state_lock:
                self.state.fail_next = deque(int(status) for status in body.get("fail_next", []))
                self.state.requests = 0
                self.state.injected_failures = 0
            self._send(200, {"fail_next": list(self.state.fail_next)})
        elif self.path == "/v1/chat/completions":
            self._chat_completion()
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def _chat_completion(self) -> None:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.state.state_lock:
            self.state.key_digests.add(hashlib.sha256(key.encode()).hexdigest())
            self.state.requests += 1
            injected = self.state.fail_next.popleft() if self.state.fail_next else None
            if injected is not None:
                self.state.injected_failures += 1
        if injected is not None:
            self._error(injected, f"injected failure {injected}", _ERROR_TYPES.get(injected, "error"))
            return
        body = self._body()
        with self.state.state_lock:
            self.state.last_fields = sorted(body)
        messages = body.get("messages")
        max_tokens = int(body.get("max_tokens") or 16)
        backend = self.state.backend
        truncate = body.get("truncate_prompt_tokens")
        try:
            prompt_tokens = len(backend.renderer.token_ids(messages))
            prompt_tokens = min(prompt_tokens, int(truncate)) if truncate else prompt_tokens
        except Exception as err:  # noqa: BLE001 -- any bad payload is a 400
            self._error(400, f"invalid messages: {err}", "invalid_request_error")
            return
        if prompt_tokens + max_tokens > self.state.max_model_len:
            self._error(
                400,
                f"This model's maximum context length is {self.state.max_model_len} tokens. However, you "
                f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in "
                "the completion). Please reduce the length of the messages or completion.",
                "BadRequestError",
            )
            return
        if body.get("logprobs") and body.get("top_logprobs"):
            self._next_token_logprobs(body, messages)
            return
        params = SamplingParams(
            temperature=float(body.get("temperature") or 0.0),
            top_p=float(body.get("top_p") or 1.0),
            max_new_tokens=max_tokens,
            seed=int(body.get("seed") or 0),
            truncate_prompt_tokens=int(truncate) if truncate else None,
        )
        with self.state.generate_lock:
            completion = backend.generate([messages], params)[0]
        if not completion.ok:
            self._error(500, completion.error or "generation failed", "internal_server_error")
            return
        self._send_completion(
            body, completion.text, completion.finish_reason, completion.prompt_tokens, completion.completion_tokens
        )

    def _send_completion(
        self,
        body: dict,
        content: str,
        finish_reason: str,
        prompt_tokens: int,
        completion_tokens: int,
        logprobs: dict | None = None,
    ) -> None:
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
        if logprobs is not None:
            choice["logprobs"] = logprobs
        self._send(
            200,
            {
                "id": f"chatcmpl-test-{self.state.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "test"),
                "choices": [choice],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def _next_token_logprobs(self, body: dict, messages: list[dict]) -> None:
        """One token with its top log-probabilities (greedy), continuing a final assistant message if asked."""
        backend = self.state.backend
        prefix = ""
        if body.get("continue_final_message") and messages and messages[-1]["role"] == "assistant":
            prefix, messages = messages[-1]["content"], messages[:-1]
        ids = backend.tokenizer(backend.renderer.render(messages) + prefix, add_special_tokens=False)["input_ids"]
        with self.state.generate_lock:
            logprobs = backend.next_token_logprobs([ids])[0]
        values, token_ids = logprobs.topk(int(body["top_logprobs"]))
        top = [
            {"token": backend.tokenizer.decode([token]), "logprob": value, "bytes": None}
            for value, token in zip(values.tolist(), token_ids.tolist())
        ]
        self._send_completion(
            body, top[0]["token"], "length", len(ids), 1, logprobs={"content": [{**top[0], "top_logprobs": top}]}
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed in the READY line)")
    parser.add_argument("--max-model-len", type=int, default=256)
    parser.add_argument("--dtype", default="auto", help="the model's weight dtype (model.dtype values)")
    args = parser.parse_args()
    Handler.state = ServerState(args.max_model_len, args.dtype)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
