"""One definition of each wire shape: the README's key table, the pydantic models, and real output agree."""

from __future__ import annotations

import re

from irqa.api.schemas import AnswerOut, CitationOut, HitOut

from tests.helpers import ROOT

MODELS = {"answer": AnswerOut, "citation": CitationOut, "passage": HitOut}


def readme_keys() -> dict[str, list[str]]:
    rows = re.findall(
        r"^\| (answer|citation|passage) \| (.+) \|$", (ROOT / "README.md").read_text("utf-8"), re.M
    )
    return {name: re.findall(r"`([a-z_]+)`", keys) for name, keys in rows}


def test_readme_documents_exactly_the_models_fields():
    documented = readme_keys()
    assert set(documented) == set(MODELS)
    for name, model in MODELS.items():
        assert documented[name] == list(model.model_fields), name


def test_cli_and_api_shapes_come_from_the_models(sample_engine):
    answer = AnswerOut.of(sample_engine.ask("what did 虹软 say about Turbo Fusion video power draw"))
    data = answer.model_dump(mode="json")
    assert list(data) == list(AnswerOut.model_fields)
    assert list(data["citations"][0]) == list(CitationOut.model_fields)
    assert list(data["passages"][0]) == list(HitOut.model_fields)
    assert data["citations"][0]["date"] == "2024-08-27"
