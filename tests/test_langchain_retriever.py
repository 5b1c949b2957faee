"""``irqa.langchain.IrqaRetriever`` in real LCEL chains (the README's snippet, run for real)."""

from __future__ import annotations

import datetime as dt

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from irqa.langchain import IrqaRetriever, format_documents

TURBO = "Turbo Fusion 视频 功耗"


def test_documents_carry_the_citation_facts(sample_engine):
    retriever = IrqaRetriever(engine=sample_engine, k=3)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(TURBO)
    assert len(docs) == 3
    top = docs[0]
    m = top.metadata
    assert {"filing_id", "company", "code", "record_no", "date", "question", "passage_id", "score"} <= set(m)
    assert (m["company"], m["code"], m["record_no"], m["date"]) == (
        "虹软科技",
        "688088",
        "2024-007",
        "2024-08-27",
    )
    assert m["question"] and m["passage_id"].startswith("688088-2024-007#")
    assert sample_engine.filing(m["filing_id"]).text[m["start"] : m["end"]] == top.page_content
    assert [d.metadata["score"] for d in docs] == sorted((d.metadata["score"] for d in docs), reverse=True)


def test_company_and_date_filters(sample_engine):
    retriever = IrqaRetriever(engine=sample_engine, k=5, company="海康威视")
    assert {d.metadata["code"] for d in retriever.invoke(TURBO)} == {"002415"}
    # per-call filters override the retriever's own
    assert {d.metadata["code"] for d in retriever.invoke(TURBO, company="影石创新")} == {"688775"}
    dated = IrqaRetriever(engine=sample_engine, k=5, date_from=dt.date(2025, 1, 1))
    assert {d.metadata["date"] for d in dated.invoke(TURBO)} == {"2025-08-05"}


def test_lcel_chain_with_irqa_as_the_retriever(sample_engine):
    """The README's chain; a RunnableLambda stands in for the chat model and shows the prompt it gets."""
    retriever = IrqaRetriever(engine=sample_engine, k=2, company="虹软")
    prompt = ChatPromptTemplate.from_template(
        "Answer from the numbered passages and cite them as [n].\n\n{context}\n\nQuestion: {question}"
    )
    seen: list[str] = []

    def model(value) -> str:
        seen.append(value.to_string())
        return "The passages discuss Turbo Fusion video power draw [1]."

    chain = (
        {"context": retriever | format_documents, "question": RunnablePassthrough()}
        | prompt
        | RunnableLambda(model)
        | StrOutputParser()
    )
    assert chain.invoke(TURBO).endswith("[1].")
    (rendered,) = seen
    assert "[1] 虹软科技 (688088), record 2024-007, 2024-08-27" in rendered
    assert "Investor question:" in rendered and "4K60" in rendered
    assert rendered.rstrip().endswith(f"Question: {TURBO}")
