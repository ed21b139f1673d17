"""Headless Chromium for report checks: rendered DOM, console messages, every network request.

Uses Debian's ``chromium`` package (``apt-get install chromium``); the tests skip with that hint
where it is missing. Flags follow ../shared/field-notes.md: without the resolver rule and the
background-networking switches Chromium phones home on start, which would read as page requests.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL_HINT = ("headless Chromium not found: install it with `apt-get install chromium fonts-dejavu-core` "
                "(.ci/run does this) to run the browser checks of the rendered report")


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def require_chromium() -> str:
    p = chromium_path()
    if p is None:
        pytest.skip(INSTALL_HINT)
    return p


@dataclass
class PageVisit:
    dom: str
    console: list[str]
    requests: list[str]
    screenshot: Path | None


def _flags(profile: str) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}", "--window-size=1280,1800"]


def visit(html_file: Path, screenshot: Path | None = None, timeout: int = 90) -> PageVisit:
    exe = require_chromium()
    url = Path(html_file).resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        netlog = Path(profile) / "net.json"
        dom = subprocess.run(
            [exe, *_flags(profile), "--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}",
             "--virtual-time-budget=5000", "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout,
        )
        console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or ":CONSOLE(" in ln]
        requests = _requested_urls(netlog)
        if screenshot is not None:
            subprocess.run([exe, *_flags(profile + "-shot"), f"--screenshot={screenshot}", url],
                           capture_output=True, text=True, timeout=timeout)
    return PageVisit(dom=dom.stdout, console=console, requests=requests,
                     screenshot=screenshot if screenshot and Path(screenshot).exists() else None)


def print_pdf(html_file: Path, pdf: Path, timeout: int = 90) -> Path:
    """Print a page to PDF the way a manager's "Print to PDF" would (A4/Letter, no header/footer)."""
    exe = require_chromium()
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([exe, *_flags(profile), "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                        Path(html_file).resolve().as_uri()], capture_output=True, text=True, timeout=timeout)
    return Path(pdf)


def pdf_pages(pdf: Path) -> int:
    import re

    return len(re.findall(rb"/Type\s*/Page[^s]", Path(pdf).read_bytes()))


def _requested_urls(netlog: Path) -> list[str]:
    """Every URL the page asked Chromium's network stack for.

    Chromium's own background traffic (time sync, update checks, account look-ups) is left out: its
    requests carry the initiator "not an origin", whereas anything a file:// page loads carries the
    page's opaque origin "null".
    """
    if not netlog.exists():
        return []
    text = netlog.read_text(errors="replace")
    try:
        log = json.loads(text)
    except ValueError:  # Chromium may leave the log unterminated when it exits fast
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    urls: dict[int, str] = {}
    initiators: dict[int, str] = {}
    for ev in log.get("events", []):
        params = ev.get("params") or {}
        source = ev.get("source", {}).get("id")
        if isinstance(params.get("url"), str):
            urls.setdefault(source, params["url"])
        if isinstance(params.get("initiator"), str):
            initiators[source] = params["initiator"]
    # every URL request has a start-job event naming its initiator; other sources (sockets, stream
    # jobs) only repeat URLs of those requests
    return [urls[s] for s, who in initiators.items() if who != "not an origin" and s in urls]


def network_requests(visit_: PageVisit) -> list[str]:
    """Requests that left the machine: anything but file: and data: URLs."""
    return sorted({u for u in visit_.requests if not u.startswith(("file:", "data:", "about:", "chrome"))})
