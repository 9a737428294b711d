"""Headless chromium driven over the DevTools protocol: open the view, read the page,
type into it, take a screenshot. Used by the browser test and the demo.

Why the DevTools protocol and not selenium: it needs nothing beyond chromium itself and
the ``websockets`` package viser already depends on (no chromedriver matching the
browser's version, no extra Python package).

The browser runs with a fresh profile in a temporary folder, binds its DevTools port to
127.0.0.1 (port chosen by chromium, read from ``DevToolsActivePort``), and with the
flags a root, GPU-less, offline machine needs: ``--headless --no-sandbox
--disable-gpu`` (WebGL falls back to SwiftShader on the CPU), no QUIC, no first-run,
background networking, component updates or sync.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

#: Browser executables tried in order (``SSR_CHROMIUM`` overrides).
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--hide-scrollbars", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0")


class BrowserError(RuntimeError):
    """The browser could not be started or driven; ``str()`` says why."""


def find_chromium() -> str | None:
    """Path of a chromium executable, or None when none is installed."""
    override = os.environ.get("SSR_CHROMIUM")
    if override:
        return shutil.which(override) or (override if os.access(override, os.X_OK) else None)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def websockets_available() -> bool:
    try:
        import websockets.sync.client  # noqa: F401
    except ImportError:
        return False
    return True


class HeadlessChromium:
    """One headless chromium with one page (a context manager).

    Args:
        width, height: window size [px] (also the screenshot size).
        executable: browser path (default :func:`find_chromium`).
        start_timeout_s: how long the browser may take to open its DevTools port.
    """

    def __init__(self, width: int = 1280, height: int = 800, executable: str | None = None,
                 start_timeout_s: float = 30.0) -> None:
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError("no chromium found (apt-get install chromium; or set "
                               "SSR_CHROMIUM to the browser's path)")
        if not websockets_available():
            raise BrowserError("the 'websockets' package is missing (it comes with viser)")
        self.width, self.height = int(width), int(height)
        self._profile = tempfile.mkdtemp(prefix="ssr_chromium_")
        self._log = open(Path(self._profile) / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self._ws = None
        try:
            self._connect(start_timeout_s)
        except BaseException:
            self.close()
            raise

    def _connect(self, timeout_s: float) -> None:
        from websockets.sync.client import connect

        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while not port_file.is_file() or not port_file.read_text().strip():
            if self.proc.poll() is not None:
                raise BrowserError(f"chromium exited with status {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise BrowserError(f"chromium opened no DevTools port in {timeout_s:.0f} s")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        if not pages:
            raise BrowserError("chromium has no page target")
        self._ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None,
                           open_timeout=10)
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": self.width, "height": self.height, "deviceScaleFactor": 1,
            "mobile": False})

    def log_tail(self, chars: int = 2000) -> str:
        self._log.flush()
        text = (Path(self._profile) / "chromium.log").read_bytes().decode("utf-8", "replace")
        return text[-chars:]

    # --- protocol ----------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None,
             timeout_s: float = 30.0) -> dict[str, Any]:
        """Send one DevTools command and return its result (events that arrive
        meanwhile are kept in :attr:`events`)."""
        if self._ws is None:
            raise BrowserError("the browser is closed")
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"{method}: no reply within {timeout_s:.0f} s")
            try:
                message = json.loads(self._ws.recv(timeout=remaining))
            except TimeoutError:
                continue
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def pump(self, timeout_s: float = 0.0) -> None:
        """Collect events that arrived (waiting up to ``timeout_s`` for the first)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                message = json.loads(self._ws.recv(timeout=max(0.0, deadline
                                                               - time.monotonic())))
            except TimeoutError:
                return
            if "method" in message:
                self.events.append(message)

    # --- page helpers ------------------------------------------------------------------
    def open(self, url: str, timeout_s: float = 30.0) -> None:
        """Navigate and wait for the document to load."""
        self.call("Page.navigate", {"url": url})
        if not self.wait_for("document.readyState === 'complete'", timeout_s):
            raise BrowserError(f"{url} did not load within {timeout_s:.0f} s")

    def evaluate(self, expression: str) -> Any:
        """Value of a JavaScript expression in the page (awaited when a promise);
        raises :class:`BrowserError` with the page's exception text."""
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"page script failed: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float, poll_s: float = 0.05) -> bool:
        """True once ``expression`` is truthy in the page; False after ``timeout_s``."""
        return self.wait_until(lambda: bool(self.evaluate(expression)), timeout_s, poll_s)

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float,
                   poll_s: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if predicate():
                return True
            if time.monotonic() > deadline:
                return False
            self.pump(poll_s)

    def insert_text(self, text: str) -> None:
        """Type ``text`` into the focused element (one input event, like a paste)."""
        self.call("Input.insertText", {"text": text})

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", {
                "type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13,
                "nativeVirtualKeyCode": 13, **({"text": "\r"} if kind == "keyDown" else {})})

    def screenshot(self, path: str | os.PathLike) -> Path:
        """Write a PNG of the page to ``path``."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries of the page so far."""
        self.pump()
        errors = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                                "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                       for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(details.get("exception", {}).get("description")
                              or details.get("text", "exception"))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append(f"{entry.get('source')}: {entry.get('text')} "
                              f"{entry.get('url', '')}".strip())
        return errors

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:  # noqa: BLE001 - the browser may be gone already
                pass
            self._ws = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "HeadlessChromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --- the view's page -------------------------------------------------------------------
#: JavaScript: names of the object boxes in the page's scene tree. The scene-tree table
#: (viser's "Scene tree" in the settings view, rendered even while hidden) has one row per
#: node, ``data-scene-node`` = its name; rows of children exist once the parent row is
#: expanded, so ``/objects`` is expanded first.
JS_OBJECT_NODES = r"""
(() => {
  const parent = document.querySelector('[data-scene-node="/objects"]');
  if (!parent) return [];
  if (!document.querySelector('[data-scene-node^="/objects/"]')) parent.click();
  return [...document.querySelectorAll('[data-scene-node^="/objects/"]')]
    .map(e => e.getAttribute('data-scene-node'))
    .filter(n => /^\/objects\/o\d+$/.test(n));
})()
"""

#: JavaScript: focus the text input labelled ``Question``; true when found.
JS_FOCUS_QUESTION = r"""
(() => {
  for (const input of document.querySelectorAll('input[type="text"], input:not([type])')) {
    let row = input;
    for (let k = 0; k < 6 && row; k++, row = row.parentElement) {
      const label = [...row.querySelectorAll('p, label, div')].find(
        e => e.children.length === 0 && e.textContent.trim() === 'Question');
      if (label) { input.focus(); input.select(); return true; }
    }
  }
  return false;
})()
"""

JS_BODY_TEXT = "document.body ? document.body.innerText : ''"

#: JavaScript: close the page's notifications (viser announces software WebGL with one);
#: returns how many were closed.
JS_CLOSE_NOTIFICATIONS = r"""
(() => {
  const buttons = [...document.querySelectorAll('.mantine-Notification-root button')];
  buttons.forEach(b => b.click());
  return buttons.length;
})()
"""


def object_nodes(browser: HeadlessChromium) -> list[str]:
    """Scene-tree names of the object boxes the page holds (``/objects/o<id>``)."""
    return list(browser.evaluate(JS_OBJECT_NODES) or [])


def ask_in_page(browser: HeadlessChromium, question: str) -> None:
    """Type ``question`` into the page's question box and press Enter."""
    if not browser.evaluate(JS_FOCUS_QUESTION):
        raise BrowserError("the page has no 'Question' input")
    browser.insert_text(question)
    browser.press_enter()


ANSWER_MARKS = ("Answer:", "ssr_node could not answer", "Not asked:", "No answer:",
                "The view failed to ask")


def answer_text(browser: HeadlessChromium) -> str:
    """The answer shown under the question box ("" when there is none yet)."""
    text = " ".join(str(browser.evaluate(JS_BODY_TEXT)).split())
    starts = [text.find(m) for m in ANSWER_MARKS if m in text]
    if not starts:
        return ""
    answer = text[min(starts):]
    return answer.split("ssr_node diagnostics")[0].strip()


def snapshot_view(url: str, png: str | os.PathLike, expected_objects: int | None = None,
                  question: str | None = None, timeout_s: float = 60.0,
                  settle_s: float = 1.0) -> dict[str, Any]:
    """Open the view at ``url`` in headless chromium, wait until the page's scene holds
    ``expected_objects`` boxes (any number > 0 when None), optionally ask ``question``
    and wait for its answer, let the renderer settle ``settle_s`` and write a
    screenshot to ``png``.

    Returns ``{"objects": n, "answer": str, "console_errors": [...], "seconds": s}``;
    raises :class:`BrowserError` when the page does not get there in ``timeout_s``.
    """
    started = time.monotonic()
    with HeadlessChromium() as browser:
        browser.open(url, timeout_s)

        def enough() -> bool:
            n = len(object_nodes(browser))
            return n == expected_objects if expected_objects is not None else n > 0
        if not browser.wait_until(enough, timeout_s):
            wanted = "> 0" if expected_objects is None else str(expected_objects)
            raise BrowserError(f"the page shows {len(object_nodes(browser))} objects, "
                               f"expected {wanted}")
        answer = ""
        if question:
            ask_in_page(browser, question)
            if not browser.wait_until(lambda: bool(answer_text(browser)), timeout_s):
                raise BrowserError(f"no answer to {question!r} in the page")
            answer = answer_text(browser)
        browser.evaluate(JS_CLOSE_NOTIFICATIONS)
        browser.pump(settle_s)
        browser.screenshot(png)
        return {"objects": len(object_nodes(browser)), "answer": answer,
                "console_errors": browser.console_errors(),
                "seconds": time.monotonic() - started}
