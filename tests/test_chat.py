"""The OpenAI-compatible endpoint, driven by the official ``openai`` client against a real server."""

from __future__ import annotations

import httpx
import pytest
from irqa.api.chat import follow_up_subject
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


def test_follow_up_about_another_company(client):
    messages = [{"role": "user", "content": ARCSOFT_RD}]
    first = client.chat.completions.create(model="irqa", messages=messages)
    assert {c["code"] for c in first.citations} == {"688088"}
    assert any("研发费用" in c["quote"] for c in first.citations)

    messages += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "what about Hikvision?"},
    ]
    second = client.chat.completions.create(model="irqa", messages=messages)
    assert second.citations, second.choices[0].message.content
    assert {c["code"] for c in second.citations} == {"002415"}
    # Hikvision's filing states no 研发费用 figure: its R&D-spending talk is about 研发 and 投入
    rd = ("研发", "投入", "费用")
    assert any(w in c["quote"] + c["question"] for c in second.citations for w in rd)
    assert "Hikvision" in second.irqa["question"] and "R&D" in second.irqa["question"]
    assert "Answered as" in second.choices[0].message.content


def test_chinese_follow_up_and_unindexed_company(client):
    base = [{"role": "user", "content": "虹软的研发费用是多少？"}, {"role": "assistant", "content": "…"}]
    r = client.chat.completions.create(
        model="irqa", messages=[*base, {"role": "user", "content": "那海康威视呢？"}]
    )
    assert r.citations and {c["code"] for c in r.citations} == {"002415"}
    r = client.chat.completions.create(
        model="irqa", messages=[*base, {"role": "user", "content": "腾讯呢？"}]
    )
    assert r.irqa["abstained"] and not r.citations and "腾讯" in r.choices[0].message.content


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
