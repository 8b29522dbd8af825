"""Real headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: NUL-separated JSON on fds 3 and 4, no port, no extra library).

Opens a page, waits until it says it rendered, and records what a reviewer would care about:
console errors, uncaught exceptions, every network request, plus a screenshot."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(
    os.environ.get("QUORUMWATCH_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts")
)
"""Screenshots stay here after the run (CI keeps the directory as an artifact)."""


class BrowserError(Exception):
    pass


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    """URLs the page asked for beyond the file itself (file:, data:, blob: and about: excluded)."""


class Chromium:
    def __init__(self, proc: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.proc = proc
        self._out = to_browser
        self._in = from_browser
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             within: float = 30.0) -> dict[str, Any]:  # fmt: skip
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + within
        while True:
            for m in self._read(deadline):
                if m.get("id") == self._next:
                    if "error" in m:
                        raise BrowserError(f"{method}: {m['error']}")
                    result: dict[str, Any] = m.get("result", {})
                    return result
                self.events.append(m)

    def _read(self, deadline: float) -> list[dict[str, Any]]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrowserError("no answer from chromium in time")
        ready, _, _ = select.select([self._in], [], [], left)
        if not ready:
            raise BrowserError("no answer from chromium in time")
        chunk = os.read(self._in, 1 << 20)
        if not chunk:
            raise BrowserError(f"chromium exited (code {self.proc.poll()})")
        self._buf += chunk
        *whole, self._buf = self._buf.split(b"\0")
        return [json.loads(x) for x in whole if x]

    def pump(self, seconds: float) -> None:
        """Collect events for a while (requests and console messages that come late)."""
        deadline = time.monotonic() + seconds
        with contextlib.suppress(BrowserError):
            while time.monotonic() < deadline:
                self.events += self._read(deadline)

    def visit(
        self, url: str, screenshot: Path, rendered_js: str, within: float = 60.0
    ) -> tuple[PageVisit, Any]:
        """Open `url`, wait until `rendered_js` is truthy, then evaluate it once more and return its value."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable", session=session)
        size = {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", size, session)
        # the page also records its own errors and requests, whatever the timing of the events above
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": _WATCH_PAGE}, session)
        self.send("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + within
        value: Any = None
        while time.monotonic() < deadline:
            got = self.send("Runtime.evaluate", {"expression": rendered_js, "returnByValue": True}, session)
            value = got.get("result", {}).get("value")
            if value:
                break
            self.pump(0.2)
        else:
            raise BrowserError(f"{url} did not finish rendering within {within:g} s")
        self.pump(1.0)
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        seen = self.send("Runtime.evaluate", {"expression": _PAGE_SAW, "returnByValue": True}, session).get(
            "result", {}
        ).get("value") or {"errors": [], "requests": []}
        visit = self._visit(session)
        visit.console_errors += [e for e in seen["errors"] if e not in visit.console_errors]
        visit.requests += [r for r in seen["requests"] if _remote(r) and r not in visit.requests]
        return visit, value

    def _visit(self, session: str) -> PageVisit:
        v = PageVisit()
        for e in self.events:
            if e.get("sessionId") != session:
                continue
            p = e.get("params", {})
            method = e.get("method")
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                v.console_errors.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))
                )
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                v.console_errors.append(p["entry"].get("text", ""))
            elif method == "Runtime.exceptionThrown":
                v.exceptions.append(json.dumps(p.get("exceptionDetails", {}))[:500])
            elif method == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                if _remote(url):
                    v.requests.append(url)
        return v


_WATCH_PAGE = """
window.__qw = {errors: [], requests: []};
(function () {
  const error = console.error.bind(console);
  console.error = (...args) => { window.__qw.errors.push(args.map(String).join(" ")); error(...args); };
  window.addEventListener("error", e => window.__qw.errors.push("uncaught: " + e.message));
  window.addEventListener("unhandledrejection", e => window.__qw.errors.push("rejection: " + e.reason));
  document.addEventListener("securitypolicyviolation", e => window.__qw.requests.push(e.blockedURI));
})();
"""
_PAGE_SAW = """(() => {
  const own = window.__qw || {errors: [], requests: []};
  const fetched = performance.getEntriesByType("resource").map(e => e.name);
  return {errors: own.errors, requests: fetched.concat(own.requests)};
})()"""


def _remote(url: str) -> bool:
    return bool(url) and not url.startswith(("file:", "data:", "blob:", "about:"))


def _high(fd: int) -> int:
    """The same pipe end above the fds the child will be given (3 and 4), so dup2 cannot clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 100)
    os.close(fd)
    return high


@contextlib.contextmanager
def chromium() -> Iterator[Chromium]:
    """A headless Chromium for the test, ended by pid (and its profile removed) whatever happens."""
    cmd_r, cmd_w = (_high(fd) for fd in os.pipe())
    out_r, out_w = (_high(fd) for fd in os.pipe())
    profile = Path(tempfile.mkdtemp(prefix="qw-chromium-"))

    def child() -> None:
        os.dup2(cmd_r, 3)
        os.dup2(out_w, 4)

    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
         f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
         # anything that still tried the network would meet a closed port, and show up as a request
         "--proxy-server=127.0.0.1:9", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--metrics-recording-only", "about:blank"],
        pass_fds=(3, 4), preexec_fn=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(cmd_r)
    os.close(out_w)
    browser = Chromium(proc, cmd_w, out_r)
    try:
        yield browser
    finally:
        with contextlib.suppress(BrowserError, OSError):
            os.write(cmd_w, json.dumps({"id": 10**6, "method": "Browser.close"}).encode() + b"\0")
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        os.close(cmd_w)
        os.close(out_r)
        shutil.rmtree(profile, ignore_errors=True)


REPORT_CHECK = """(() => {
  if (document.body.getAttribute("data-rendered") !== "yes") return null;
  const gd = document.getElementById("timeline");
  const lanes = Array.from(gd.querySelectorAll(".ytick text")).map(e => e.textContent);
  const shapes = (gd._fullLayout.shapes || []).map(s => ({name: s.name, fill: s.fillcolor}));
  const drawn = gd.querySelectorAll(".shapelayer path").length;
  const traces = Array.from(gd.querySelectorAll(".trace.bars"))
    .map(t => t.querySelectorAll(".point path").length);
  const names = gd._fullData.map(t => t.name);
  const hatched = gd.querySelectorAll("pattern").length;
  return {lanes: Array.from(new Set(lanes)), shapes, drawn, traces, names, hatched,
          verdict: document.getElementById("verdict").textContent.trim(),
          harm: document.getElementById("harm").textContent.trim()};
})()"""
"""What the page rendered: lane labels as drawn on the y axis, bands, bars per trace, the verdict line."""

OPS_CHECK = """(() => {
  if (document.body.getAttribute("data-rendered") !== "yes") return null;
  const gd = document.getElementById("operations");
  if (!gd) return {missing: true};
  const lanes = Array.from(gd.querySelectorAll(".ytick text")).map(e => e.textContent);
  const labels = Array.from(gd.querySelectorAll(".bartext")).map(e => e.textContent);
  return {lanes: Array.from(new Set(lanes)), names: gd._fullData.map(t => t.name), labels,
          harm: document.getElementById("harm").textContent.trim()};
})()"""
"""What the operations view of a violated key rendered: its lanes, trace names, bar labels, the harm line."""
