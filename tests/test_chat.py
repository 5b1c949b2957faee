"""The OpenAI-compatible endpoint, driven by the official ``openai`` client against a real server."""

from __future__ import annotations

import json

import httpx
import pytest
from irqa.api.chat import MAX_TURN_CHARS, follow_up_subject, recent_user_turns
from irqa.api.schemas import ChatMessage
from openai import OpenAI, UnprocessableEntityError

from tests.api_server import Server, shared_server

ARCSOFT_RD = "How much did ArcSoft spend on R&D (研发费用)?"


@pytest.fixture(scope="session")
def server() -> Server:
    return shared_server()


@pytest.fixture(scope="session")
def client(server: Server) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=60)


def test_models_lists_irqa(client):
    assert [m.id for m in client.models.list().data] == ["irqa"]


def test_completion_with_citations(client):
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "虹软科技2024年上半年研发费用是多少？"}]
    )
    assert r.object == "chat.completion" and r.model == "irqa"
    choice = r.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content
    assert "1.94亿元" in content and "[1]" in content and "Sources:" in content
    assert "688088" in content
    citations = r.citations  # the structured field, beside the text markers
    assert citations[0]["code"] == "688088" and citations[0]["quote"] in content
    assert choice.message.citations == citations
    assert r.usage.total_tokens > 0


def test_streaming_completion(client):
    stream = client.chat.completions.create(
        model="irqa",
        messages=[{"role": "user", "content": "what did 虹软 say about Turbo Fusion video power draw"}],
        stream=True,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].citations and chunks[0].citations[0]["code"] == "688088"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "[1]" in text and "功耗" in text and "Sources:" in text


def test_stream_ends_with_done(server):
    body = {"model": "irqa", "stream": True, "messages": [{"role": "user", "content": "影石创新的海外市场"}]}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=60) as r:
        lines = [ln for ln in r.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]"


def _ask(client: OpenAI, *turns: str):
    """A conversation of user turns (with placeholder assistant replies); the reply to the last one."""
    messages: list[dict] = []
    for t in turns:
        messages += [{"role": "user", "content": t}, {"role": "assistant", "content": "…"}]
    return client.chat.completions.create(model="irqa", messages=messages[:-1])


def test_follow_up_about_another_company(client):
    first = _ask(client, ARCSOFT_RD)
    assert {c["code"] for c in first.citations} == {"688088"}
    assert any("研发费用" in c["quote"] for c in first.citations)
    second = _ask(client, ARCSOFT_RD, "what about Hikvision?")
    # the topic is kept, the company swapped; Hikvision's filing states no R&D spending figure,
    # so "how much" is refused rather than answered with another number
    assert "Hikvision" in second.irqa["question"] and "R&D" in second.irqa["question"]
    assert "Answered as" in second.choices[0].message.content
    assert second.irqa["abstained"] and not second.citations
    third = _ask(client, "虹软对大模型有什么布局？", "那海康威视呢？")
    assert third.irqa["question"] == "海康威视对大模型有什么布局？"
    assert third.citations and {c["code"] for c in third.citations} == {"002415"}
    assert any("大模型" in c["quote"] for c in third.citations)


def test_chinese_follow_up_and_unindexed_company(client):
    r = _ask(client, "虹软的研发费用是多少？", "腾讯呢？")
    assert r.irqa["abstained"] and not r.citations and "腾讯" in r.choices[0].message.content


@pytest.mark.parametrize(
    ("turns", "standalone", "code", "quoted"),
    [
        (("海康威视2022年的分红方案是什么？", "海康的毛利率呢？"), "海康的毛利率？", "002415", "毛利率"),
        (
            ("海康威视2022年的分红方案是什么？", "What about Hikvision's gross margin?"),
            "What did Hikvision say about gross margin?",
            "002415",
            "毛利",
        ),
        (("海康威视2022年的分红方案是什么？", "那虹软呢？"), "虹软2022年的分红方案是什么？", None, None),
        (
            ("虹软科技2024年上半年营业收入是多少？", "那研发费用呢？"),
            "虹软科技的研发费用？",
            "688088",
            "研发费用",
        ),
        (
            ("What was ArcSoft's H1 2024 revenue?", "And its R&D spending?"),
            "What did ArcSoft say about R&D spending?",
            "688088",
            "研发",
        ),
        (
            ("海康威视2022年的分红方案是什么？", "影石创新有几个在研项目？"),
            "影石创新有几个在研项目？",
            "688775",
            "8个在研项目",
        ),
    ],
    ids=["topic-zh", "topic-en", "swap-zh-other-year", "topic-zh-nah", "topic-en-its", "new-question"],
)
def test_follow_ups_keep_the_topic_or_the_company(client, turns, standalone, code, quoted):
    """A company swap keeps the topic, a topic change keeps the company, a new question stands."""
    r = _ask(client, *turns)
    assert r.irqa["question"] == standalone
    if code is None:  # ArcSoft's record has no 2022 dividend: refused, not answered from 2024
        assert r.irqa["abstained"]
    else:
        assert not r.irqa["abstained"], r.choices[0].message.content
        assert {c["code"] for c in r.citations} == {code}
        assert any(quoted in c["quote"] for c in r.citations)


def test_long_conversations_cost_what_a_short_one_does(server):
    """1,000 repeated follow-ups, and a 0.8 MB conversation, are answered like their last turns
    (issue 10 item 4: they used to take 27 s and minutes); only the last few user turns count."""
    short = [
        {"role": "user", "content": "海康威视2022年的分红方案是什么？"},
        {"role": "assistant", "content": "…"},
        {"role": "user", "content": "那虹软呢？"},
    ]
    filler = [{"role": "user", "content": "那虹软呢？"}, {"role": "assistant", "content": "…"}] * 1000
    big = [{"role": "user", "content": "那虹软呢？" * 400}, {"role": "assistant", "content": "…"}] * 100
    url = f"{server.url}/v1/chat/completions"
    with httpx.Client(timeout=120) as http:
        base = http.post(url, json={"model": "irqa", "messages": short}).json()
        for messages in ([*filler, *short], [*big, *short]):
            body = {"model": "irqa", "messages": messages}
            assert len(json.dumps(body, ensure_ascii=False).encode()) < 1_000_000
            r = http.post(url, json=body)
            assert r.status_code == 200, r.text
            assert r.json()["irqa"]["question"] == base["irqa"]["question"] == "虹软2022年的分红方案是什么？"


def test_the_rewriter_never_reads_old_turns():
    """Bounded work: messages before the last few user turns are never looked at."""

    class Untouchable:
        def __getattr__(self, name: str):
            raise AssertionError("an old message was read")

    old = [Untouchable()] * 10_000
    turns = ("海康威视的分红方案是什么？", "那虹软呢？", "影石呢？", "那研发费用呢？", "海康呢？")
    recent = [ChatMessage(role="user", content=t) for t in turns]
    assert recent_user_turns([*old, *recent]) == list(turns[1:])  # at most 4 turns
    # back to the latest complete question, not further
    assert recent_user_turns([*old, *recent[:3]]) == list(turns[:3])
    assert len(recent_user_turns([ChatMessage(role="user", content="问" * 10**6)])[0]) <= MAX_TURN_CHARS + 1


def test_empty_user_message_is_422(client):
    with pytest.raises(UnprocessableEntityError):
        client.chat.completions.create(model="irqa", messages=[{"role": "user", "content": " "}])


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("what about Hikvision?", "Hikvision"),
        ("How about 海康威视", "海康威视"),
        ("and Insta360?", "Insta360"),
        ("那海康呢？", "海康"),
        ("影石呢", "影石"),
        ("Same question for Hikvision", "Hikvision"),
        ("海康威视的研发投入是多少？", None),
        ("海康的毛利率呢？", "海康的毛利率"),
        ("And its R&D spending?", "its R&D spending"),
        ("那研发费用呢？", "研发费用"),
        ("What did ArcSoft say about Turbo Fusion video power draw?", None),
    ],
)
def test_follow_up_subject(text, subject):
    assert follow_up_subject(text) == subject


def test_langchain_chat_model(server):
    """LangChain's OpenAI chat model works with irqa as its backend, unchanged."""
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="irqa", base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=60)
    reply = llm.invoke("虹软科技2024年上半年研发费用是多少？")
    assert "1.94亿元" in reply.content
