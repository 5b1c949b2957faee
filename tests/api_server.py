"""A real irqa server for the API, chat and web tests: one uvicorn subprocess per test session.

Not a conftest (that file is shared): test modules call ``shared_server()`` from a session
fixture. The server is started once, however many modules ask, and stopped at exit. It builds
the sample index into its own temporary ``IRQA_INDEX``; the vector cache lives in a temporary
``IRQA_CACHE_DIR`` that every server of the session shares, so passages are embedded once, and
the converted model comes from ``tests.helpers.SESSION_CACHE`` (never the user's cache).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers import free_port, fresh_cache, stop

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "test-key-7d3f"
MAX_UPLOAD = 1_000_000
READY_TIMEOUT = 300.0

_session_dir = Path(tempfile.mkdtemp(prefix="irqa-api-tests-"))
_cache_dir = _session_dir / "cache"
_servers: dict[str, Server] = {}


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    index: Path
    log: Path
    api_key: str | None
    env: dict[str, str] = field(default_factory=dict)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop(self.proc)


def start_server(name: str, api_key: str | None = None, **env: str) -> Server:
    """Start ``irqa.server.run`` in a subprocess and wait until /readyz says the index is loaded."""
    port = free_port()
    home = _session_dir / name
    home.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "IRQA_INDEX": str(home / "index"),
        "IRQA_CACHE_DIR": str(fresh_cache(_cache_dir)),  # converted models: the session's
        "IRQA_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    environment.pop("IRQA_API_KEY", None)
    if api_key:
        environment["IRQA_API_KEY"] = api_key
    code = (
        "from irqa.settings import Settings; from irqa.server import run; "
        f"run(Settings(), '127.0.0.1', {port})"
    )
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", proc, home / "index", log, api_key, env)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"irqa server exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"irqa server not ready after {READY_TIMEOUT:.0f} s:\n{server.log_tail()}")


CORS_ORIGIN = "http://chat.example.test"


def shared_server() -> Server:
    """The session's server: API key required for writes, 1 MB upload limit, one CORS origin."""
    if "shared" not in _servers:
        _servers["shared"] = start_server("shared", api_key=API_KEY, IRQA_CORS_ORIGINS=f'["{CORS_ORIGIN}"]')
    return _servers["shared"]


@atexit.register
def _stop_all() -> None:
    for s in _servers.values():
        s.stop()
    shutil.rmtree(_session_dir, ignore_errors=True)


# made-up filings --------------------------------------------------------------------------------


def make_filing(
    code: str,
    short_name: str,
    full_name: str,
    record_no: str,
    qa: list[tuple[str, str]],
    date: str = "2025年03月12日",
) -> bytes:
    """A 投资者关系活动记录表 in the layout of the sample filings, as UTF-8 bytes."""
    lines = [
        f"证券代码：{code}                                               证券简称：{short_name}",
        full_name,
        "投资者关系活动记录表",
        f"              编号：{record_no}",
        "\t投资者关系活动类别",
        "\t特定对象调研        □分析师会议",
        "□ 媒体采访            □业绩说明会",
        "\t参与单位名称及人员姓名",
        "\t12家机构，共15人",
        "",
        "\t时间",
        f"\t{date}",
        "",
        "\t地点",
        "\t公司会议室",
        "",
        "\t公司接待人员姓名",
        "\t董事会秘书  李明先生",
        "",
        "\t投资者关系活动主要内容介绍",
        "\t第一部分：公司经营情况",
        f"{short_name}介绍了公司近期的经营情况和发展战略。",
        "第二部分：提问与回答环节",
    ]
    for i, (q, a) in enumerate(qa, start=1):
        lines += [f"{i}、{q}", f"答：{a}"]
    lines += ["", "\t日期", f"\t{date}", ""]
    return "\n".join(lines).encode("utf-8")


def xinghe_filing() -> bytes:
    """星河光电 (688999): a made-up company with one distinctive fact (the 银河一号 lidar)."""
    return make_filing(
        "688999",
        "星河光电",
        "星河光电科技股份有限公司",
        "2025-001",
        [
            (
                "公司的量子点激光雷达进展如何？",
                "公司自主研发的量子点激光雷达“银河一号”已于2025年2月完成车规级认证，探测距离达到420米，"
                "预计2025年第三季度开始向两家新能源车企批量供货。",
            ),
            ("公司海外业务情况？", "海外收入占比约为18%，主要来自欧洲市场。"),
        ],
    )
