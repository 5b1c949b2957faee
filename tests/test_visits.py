"""Visits (issue 21 item 2): institutions read from the records' participant cells.

``tests/data/visit_facts.json`` holds header facts a person wrote down by reading the three
sample records and the six real PDFs; every one is checked against the real parser's output
(``parse_file`` on the real files), and the exact-match accuracy is reported. The CLI runs as a
subprocess over a copy of the sample index, the endpoint on the real uvicorn server.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from irqa.rag.ingest.pipeline import parse_file
from irqa.rag.visits import (
    Visit,
    canonical,
    common_of,
    companies_visited,
    counts_by_type,
    parse_participants,
    visit_of,
)

from tests.api_server import Server, shared_server
from tests.helpers import ROOT, SAMPLES

FACTS = json.loads((ROOT / "tests" / "data" / "visit_facts.json").read_text(encoding="utf-8"))["facts"]
FILES = sorted(SAMPLES.glob("*.txt")) + sorted((ROOT / "tests" / "data" / "real_filings").rglob("*.pdf"))


@pytest.fixture(scope="module")
def visits() -> dict[str, Visit]:
    out = {}
    for path in FILES:
        v = visit_of(parse_file(path))
        out[v.filing_id] = v
    return out


def check(fact: dict, visits: dict[str, Visit]) -> bool:
    """Whether one written-down fact holds exactly."""
    kind = fact["kind"]
    v = visits.get(fact.get("filing", ""))
    if kind == "printed":
        return [a.printed for a in v.institutions] == fact["value"]
    if kind == "people":
        a = next((a for a in v.institutions if a.printed == fact["printed"]), None)
        return a is not None and a.people == fact["value"]
    if kind == "field":
        name = fact["field"]
        if name == "institutions":
            got = len(v.institutions)
        elif name == "individuals":
            got = len(v.individuals)
        else:
            got = json.loads(v.model_dump_json(include={name}))[name]
        return got == fact["value"]
    if kind == "distinct":
        names = {a.printed: a.name for a in v.institutions}
        a, b = fact["value"]
        return a in names and b in names and names[a] != names[b]
    if kind == "canonical":
        return len({canonical(n) for n in fact["value"]}) == 1
    if kind == "visited_by":
        got = [c.code for c in companies_visited(list(visits.values()), fact["institution"])]
        return got == fact["value"]
    if kind == "common":
        got = [c.name for c in common_of(list(visits.values()), *fact["value"])]
        return got == fact["names"]
    if kind == "type_counts":
        return {c.activity_type: c.visits for c in counts_by_type(visits.values())} == fact["value"]
    raise AssertionError(f"unknown fact kind {kind!r}")


def test_at_least_40_facts_from_nine_records():
    assert len(FACTS) >= 40
    assert len(FILES) == 9
    filings = {f["filing"] for f in FACTS if "filing" in f}
    assert len(filings) == 9, filings


def test_header_facts_exact_match(visits):
    failed = [f for f in FACTS if not check(f, visits)]
    accuracy = 1 - len(failed) / len(FACTS)
    print(f"visit facts: {len(FACTS) - len(failed)}/{len(FACTS)} exact ({accuracy:.3f})")
    assert not failed, json.dumps(failed, ensure_ascii=False, indent=1)


def test_a_wrong_fact_fails(visits):
    """The checker can say no: altered facts of each kind are rejected."""
    wrong = [
        {"kind": "printed", "filing": "301611-2024-006", "value": ["广发证券", "东财基金", "德邦基金"]},
        {"kind": "people", "filing": "000938-2021-05-07", "printed": "华商基金", "value": ["戴福"]},
        {"kind": "field", "filing": "688088-2024-007", "field": "institutions", "value": 70},
        {"kind": "distinct", "filing": "002415-2023-4-15", "value": ["东证资管", "东方证券资管"]},
        {"kind": "canonical", "value": ["华安基金", "华安证券"]},
        {"kind": "visited_by", "institution": "景顺长城", "value": ["002415"]},
        {"kind": "common", "value": ["300570-2021-003", "688775-2025-003"], "names": []},
    ]
    assert not any(check(f, visits) for f in wrong)


def test_arcsoft_counts_match_what_the_record_states(visits):
    """71家机构，共84人 (详见附件): the attached list, read entry by entry, gives both numbers."""
    v = visits["688088-2024-007"]
    assert (len(v.institutions), v.people_count) == (v.stated_institutions, v.stated_people) == (71, 84)


def test_see_attachment_without_a_list_is_unknown():
    p = parse_participants("共32家机构，详见附件")
    assert p.see_attachment and p.institutions == [] and p.stated_institutions == 32


def test_cell_shapes():
    p = parse_participants("Citigroup Karen Huang；Cloudwise Capital Sean；个人：张三、李四")
    assert [(a.printed, a.people) for a in p.institutions] == [
        ("Citigroup", ["Karen Huang"]),
        ("Cloudwise Capital", ["Sean"]),
    ]
    assert p.individuals == ["张三", "李四"]
    p = parse_participants("九泰基金：刘越\n华泰证券：唐志毅 、强玲\n（排名不分先后）")
    assert [(a.name, a.people) for a in p.institutions] == [
        ("九泰基金", ["刘越"]),
        ("华泰证券", ["唐志毅", "强玲"]),
    ]
    p = parse_participants("景顺长城基金管理有限公司 王五\n景顺长城 赵六")
    assert [(a.name, a.people) for a in p.institutions] == [("景顺长城基金", ["王五", "赵六"])]
    assert parse_participants("线上投资者").public


# ---------------------------------------------------------------- the CLI


def irqa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "irqa", *args],
        env={**os.environ, **env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory, sample_engine) -> dict[str, str]:
    index = tmp_path_factory.mktemp("visits") / "index"
    shutil.copytree(sample_engine.config.index, index)
    return {"IRQA_INDEX": str(index), "IRQA_CACHE_DIR": str(sample_engine.config.cache_dir)}


def test_cli_institution_companies(cli_env):
    r = irqa("visits", "--institution", "景顺长城基金管理有限公司", "--format", "json", env=cli_env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [c["code"] for c in data["companies"]] == ["002415", "688775"]
    assert sorted(c["printed"][0] for c in data["companies"]) == ["景顺长城", "景顺长城基金"]
    r = irqa("visits", "--institution", "景顺长城", env=cli_env)
    assert r.returncode == 0 and "2 companies visited" in r.stdout, r.stdout + r.stderr


def test_cli_company_period_and_counts(cli_env):
    r = irqa(
        "visits",
        "--company",
        "688088",
        "--from",
        "2024-08-01",
        "--to",
        "2024-08-31",
        "--format",
        "csv",
        env=cli_env,
    )
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.returncode == 0 and [x["filing_id"] for x in rows] == ["688088-2024-007"], r.stderr
    assert len(rows[0]["institutions"].split("；")) == 71
    r = irqa("visits", "--company", "688088", "--from", "2025-01-01", "--format", "json", env=cli_env)
    assert json.loads(r.stdout)["visits"] == []
    r = irqa("visits", "--counts", "type", "--format", "json", env=cli_env)
    counts = {c["activity_type"]: c["visits"] for c in json.loads(r.stdout)["counts"]}
    assert counts == {"业绩说明会": 2, "特定对象调研": 1, "一对一沟通": 1, "其他": 1, "未标明": 1}
    r = irqa("visits", "--counts", "month", "--format", "csv", env=cli_env)
    assert r.stdout.splitlines()[0].startswith("code,company,month") and "688775,影石创新,2025-07" in r.stdout


def test_cli_common_and_errors(cli_env):
    r = irqa("visits", "--common", "002415-2023-4-15", "688088-2024-007", "--format", "json", env=cli_env)
    names = [c["name"] for c in json.loads(r.stdout)["common"]]
    assert "华安基金" in names and "华安证券" in names and "申万宏源证券" in names
    r = irqa("visits", "--common", "002415-2023-4-15", "nope", env=cli_env)
    assert r.returncode == 1 and r.stderr.startswith("error:") and "nope" in r.stderr


# ---------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def server() -> Server:
    return shared_server()


def test_http_visits(server: Server):
    with server.client() as http:
        r = http.get("/v1/visits", params={"institution": "景顺长城"})
        assert r.status_code == 200, r.text
        assert [c["code"] for c in r.json()["companies"]] == ["002415", "688775"]
        r = http.get("/v1/visits", params={"company": "虹软", "format": "csv"})
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [x["filing_id"] for x in rows] == ["688088-2024-007"]
        r = http.get("/v1/visits", params={"common": ["000000-x", "688088-2024-007"]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = http.get("/v1/visits", params={"common": "688088-2024-007"})
        assert r.status_code == 422
        r = http.get(
            "/v1/visits", params={"counts": "month", "date_from": "2024-01-01", "date_to": "2024-12-31"}
        )
        assert [(c["code"], c["month"], c["visits"]) for c in r.json()["counts"]] == [
            ("688088", "2024-08", 1)
        ]
