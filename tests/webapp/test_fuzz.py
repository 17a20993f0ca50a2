"""Seeded fuzzing of the real web app process with hostile uploads and links.

The web app runs under gunicorn (one worker) against the fake model server, whose ``mnist``
model really classifies digits. Cases come from ``hostile_uploads``: truncated, polyglot and
mislabelled files, decompression bombs, PNGs claiming 100,000² pixels, zero bytes, odd
filenames and fields, broken bodies and framing, odd links, and valid digits between them;
every ``BURST_EVERY`` cases, ``BURST`` of them are sent at once. For every case: no 5xx,
errors in the app's own format (JSON under ``/api/``, the error page otherwise), valid
digits predicted right; afterwards the app is alive and predicts each digit, and the
worker's resident memory is within 5% of what it was after warm-up.

The run prints its seed, cases, 5xx count and memory growth. Reproduce or explore with
``TENSORSERVE_FUZZ_SEED=<seed> TENSORSERVE_FUZZ_CASES=<n> pytest tests/webapp/test_fuzz.py -s``.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.webapp.fake_model_server import FakeModelServer
from tests.webapp.hostile_uploads import GENERATORS, Case, valid_digit
from tests.webapp.webapp_process import WebAppProcess, running_webapp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SEED = int(os.environ.get("TENSORSERVE_FUZZ_SEED", "20261202"))
CASES = int(os.environ.get("TENSORSERVE_FUZZ_CASES", "1000"))
WARMUP = 300
BURST_EVERY = 100
BURST = 16
MAX_RSS_GROWTH = 0.05
SAVED_IMAGE = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{32}\.(png|jpg|gif|webp|bmp)$")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def exchange(port: int, request: bytes) -> Answer:
    """Send one ``Connection: close`` request and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the app may answer and close before reading a body it refuses
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunked(body)
    return Answer(int(status_line.split()[1]), headers, body)


def dechunked(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


def unexpected_5xx(case: Case, answer: Answer) -> bool:
    """A 5xx the case does not call for (only a model with no AVAILABLE version does)."""
    return answer.status >= 500 and answer.status not in (case.statuses or ())


def problems_with(case: Case, answer: Answer, port: int) -> list[str]:
    """Everything wrong with ``answer`` to ``case``; empty when it is right."""
    problems = []
    if unexpected_5xx(case, answer):
        problems.append(f"{answer.status} (5xx)")
    if case.statuses is not None and answer.status not in case.statuses:
        problems.append(f"status {answer.status}, expected one of {sorted(case.statuses)}")
    if case.path.startswith("/api/"):
        problems += problems_with_json(case, answer, port)
    elif answer.status != 200:
        page = answer.body.decode("utf-8", "replace")
        if not answer.content_type.startswith("text/html"):
            problems.append(f"error page of type {answer.content_type!r}")
        if f'data-status="{answer.status}"' not in page or "What to do:" not in page:
            problems.append(f"error page without the app's error section: {page[:200]!r}")
    elif case.digit is not None:
        page = answer.body.decode("utf-8", "replace")
        label = re.search(r'id="top-label"[^>]*>([^<]*)<', page)
        if label is None or label.group(1).strip() != str(case.digit):
            problems.append(f"page predicts {label and label.group(1)!r}, not {case.digit}")
    return problems


def problems_with_json(case: Case, answer: Answer, port: int) -> list[str]:
    if answer.content_type != "application/json":
        return [f"API answer of type {answer.content_type!r}: {answer.body[:200]!r}"]
    body = json.loads(answer.body)
    if answer.status != 200:
        if set(body) != {"error", "hint"} or not all(isinstance(v, str) for v in body.values()):
            return [f"API error not in the app's format: {body!r}"]
        return []
    if "predictions" not in body:
        return []  # /api/models
    problems = []
    if case.digit is not None and body["predictions"][0]["label"] != str(case.digit):
        problems.append(f"predicted {body['predictions'][0]['label']}, not {case.digit}")
    if not SAVED_IMAGE.match(body["image"]):
        problems.append(f"saved under {body['image']!r}")
    elif case.kind in ("polyglot", "mislabelled", "odd filename"):
        request = f"GET /images/{body['image']} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        saved = exchange(port, request.encode())
        if not saved.content_type.startswith("image/"):
            problems.append(f"saved upload served as {saved.content_type!r}")
        if saved.headers.get("x-content-type-options") != "nosniff":
            problems.append("saved upload served without nosniff")
    return problems


@pytest.fixture(scope="module")
def webapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebAppProcess]:
    fake = FakeModelServer().start()
    images_dir = tmp_path_factory.mktemp("fuzz") / "predict_images"
    try:
        with running_webapp(fake.url, images_dir, "--threads", "4") as process:
            yield process
    finally:
        fake.stop()


def test_hostile_uploads_get_clear_errors_and_the_app_stays_well(webapp: WebAppProcess) -> None:
    rng = random.Random(SEED)
    worker = webapp.worker()
    failures: list[str] = []
    counts = {"cases": 0, "5xx": 0}
    counts_lock = threading.Lock()
    rss_after_warmup = 0
    samples: list[float] = []  # MiB every 100 cases

    def run(case: Case) -> None:
        answer = exchange(webapp.port, case.request)
        problems = problems_with(case, answer, webapp.port)
        with counts_lock:
            counts["cases"] += 1
            counts["5xx"] += unexpected_5xx(case, answer)
            if problems:
                failures.append(f"{case.kind} -> {case.path}: {'; '.join(problems)}")

    with ThreadPoolExecutor(BURST) as pool:
        for number in range(CASES):
            if number == WARMUP:
                rss_after_warmup = worker.memory_info().rss
            if number % 100 == 0:
                samples.append(round(worker.memory_info().rss / 2**20, 1))
            if number and number % BURST_EVERY == 0:
                burst = [rng.choice(GENERATORS)(rng) for _ in range(BURST)]
                list(pool.map(run, burst))
            run(rng.choice(GENERATORS)(rng))

    for _ in range(10):
        run(valid_digit(rng))
    rss_at_end = worker.memory_info().rss
    growth = rss_at_end / rss_after_warmup - 1
    summary = (
        f"web app fuzz: seed {SEED}, {counts['cases']} cases, {counts['5xx']} unexpected 5xx, "
        f"{len(failures)} wrong; worker RSS {rss_after_warmup / 2**20:.1f} -> "
        f"{rss_at_end / 2**20:.1f} MiB after warm-up ({growth:+.1%}; every 100 cases: {samples})"
    )
    print(summary)
    assert webapp.alive()
    assert "Traceback" not in webapp.log(), webapp.log()[-3000:]
    assert failures == [], summary + "\n" + "\n".join(failures[:30])
    assert growth < MAX_RSS_GROWTH, summary
