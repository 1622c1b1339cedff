"""A minimal headless-Chromium driver for the report tests: the DevTools protocol over a pipe.

Chromium's ``--remote-debugging-pipe`` reads JSON commands on fd 3 and writes replies and
events on fd 4, each message ended by a NUL byte. That is all the browser test needs (open a
file, read the page, record its requests, take a screenshot), so there is no driver library,
no downloaded browser and no open port: the test runs Debian's ``chromium`` as it is.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio",
         "--hide-scrollbars", "--remote-debugging-pipe"]
#: how long one protocol command or one page load may take, in seconds
COMMAND_TIMEOUT = 30.0


def find_chromium() -> str | None:
    """``$GRADER_CHROMIUM``, else ``chromium`` on the PATH, else Debian's path."""
    for candidate in (os.environ.get("GRADER_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class Browser:
    def __init__(self, executable: str):
        self._profile = tempfile.TemporaryDirectory(prefix="grader-chromium-")
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()

        def wire() -> None:  # in the child: put the pipe ends on fds 3 and 4 (dup first, so
            # that neither end is overwritten before it is copied)
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            pass_fds=(3, 4),  # the numbers kept open in the child, after wire() ran
            preexec_fn=wire, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, close_fds=True)
        os.close(to_child)
        os.close(from_child)
        self._buffer, self._next_id, self.events = b"", 0, []

    def _post(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        return self._next_id

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        ident = self._post(method, params, session)
        reply = self._wait(lambda m: m.get("id") == ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _wait(self, wanted, timeout: float = COMMAND_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                    if message["method"] == "Page.javascriptDialogOpening":  # recorded, then
                        # closed, or the page would wait for a click forever
                        self._post("Page.handleJavaScriptDialog", {"accept": False},
                                   message.get("sessionId"))
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (did it crash?)")
            self._buffer += chunk

    def together(self, *evaluations: tuple[Page, str]) -> None:
        """Evaluate each ``(page, expression)`` at once: every command is sent before any reply
        is awaited (two tabs acting at the same moment)."""
        sent = [self._post("Runtime.evaluate", {"expression": expression}, page.session)
                for page, expression in evaluations]
        replies: dict[int, dict] = {}

        def all_in(message: dict) -> bool:  # any order: _wait drops what it does not return
            if message.get("id") in sent:
                replies[message["id"]] = message
            return len(replies) == len(sent)
        self._wait(all_in)
        for reply in replies.values():
            if "error" in reply or "exceptionDetails" in reply.get("result", {}):
                raise RuntimeError(f"Runtime.evaluate: {reply}")

    def open(self, url: str, width: int = 1200, height: int = 900, before: str = "") -> Page:
        """A new tab showing ``url`` once loaded; ``before``: JavaScript run in the document
        before any of its own scripts."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page", "Network", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        if before:
            page.send("Page.addScriptToEvaluateOnNewDocument", {"source": before})
        first = len(self.events)
        page.send("Page.navigate", {"url": url})
        self._wait(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
        page.first_event = first
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._out)
        os.close(self._in)
        self._profile.cleanup()


class Page:
    def __init__(self, browser: Browser, session: str, target: str):
        self.browser, self.session, self.target, self.first_event = browser, session, target, 0

    def close(self) -> None:
        """Close the tab (a tab in the background never answers a screenshot)."""
        self.browser.send("Target.closeTarget", {"targetId": self.target})

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, self.session)

    def _events(self, method: str) -> list[dict]:
        return [e["params"] for e in self.browser.events[self.first_event:]
                if e.get("method") == method and e.get("sessionId") == self.session]

    def eval(self, expression: str):
        """The value of a JavaScript expression in the page (DevTools evaluation, not the page's)."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def requests(self) -> list[str]:
        """Every URL the page asked for since it was opened (data: URLs included)."""
        return [e["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    def dialogs(self) -> list[str]:
        """Messages of alert()/confirm() dialogs the page opened."""
        return [e.get("message", "") for e in self._events("Page.javascriptDialogOpening")]

    def log(self) -> list[str]:
        """Browser log entries: CSP violations and console errors show up here."""
        return [f"{e['entry'].get('level')}: {e['entry'].get('text')}" for e in self._events("Log.entryAdded")]

    def follow(self, expression: str) -> str:
        """Run ``expression`` (a click on a link) and wait for the next page; its URL."""
        first = len(self.browser.events)

        def loaded(m: dict) -> bool:
            return m.get("method") == "Page.loadEventFired" and m.get("sessionId") == self.session
        self.eval(expression)
        if not any(loaded(m) for m in self.browser.events[first:]):  # not already seen
            self.browser._wait(loaded)
        return self.eval("location.href")

    def element_screenshot(self, selector: str, path: Path) -> Path:
        """A PNG of one element (its bounding box), e.g. a section for the documentation."""
        box = self.eval(f"""(() => {{ const r = document.querySelector({json.dumps(selector)})
            .getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width, r.height]; }})()""")
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1}})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def screenshot(self, path: Path) -> Path:
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
