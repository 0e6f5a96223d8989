"""A small WebDriver BiDi client for the web tests: Debian's ``firefox-esr``, headless, driven over its own BiDi
WebSocket (no geckodriver, no Playwright, nothing downloaded).

:class:`Firefox` starts the browser on a free loopback port (``--remote-debugging-port=0``: Firefox picks the port
and prints ``WebDriver BiDi listening on ws://127.0.0.1:PORT``) with a fresh temporary profile whose ``user.js``
turns off first-run pages, updates, telemetry, remote settings, add-on and safe-browsing fetches, and sends every
request not for 127.0.0.1 / localhost to a closed proxy port; it opens a BiDi session (``ws://…/session``) and one
tab, and subscribes to ``log.entryAdded`` (console errors, uncaught exceptions and CSP violations are collected in
:attr:`Firefox.errors`) and to the network's completed / failed requests (4xx / 5xx answers and failed fetches in
:attr:`Firefox.http_errors`). The WebSocket (RFC 6455, client side: masked text frames, no extensions) is
:class:`WebSocket`, on the standard library, since ``websockets`` is not among the project's dependencies.

Every wait is bounded (:data:`TIMEOUT_S` unless told); :meth:`Firefox.close` closes the browser (``browser.close``),
stops what is left of its process group (SIGTERM, then SIGKILL) and removes the profile, also when starting failed
half-way. Times are in seconds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BidiError", "Firefox", "WebSocket", "firefox_executable"]

TIMEOUT_S = 30.0
START_TIMEOUT_S = 60.0
_LISTENING = re.compile(r"WebDriver BiDi listening on (ws://[\w.:\[\]-]+)")
#: user.js of the temporary profile: quiet, no updates or telemetry, no network except the loopback
PREFS: dict[str, bool | int | str] = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.startup.homepage_override.mstone": "ignore",
    "startup.homepage_welcome_url": "about:blank",
    "startup.homepage_welcome_url.additional": "",
    "browser.aboutwelcome.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.tabs.warnOnClose": False,
    "trailhead.firstrun.didSeeAboutWelcome": True,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.policy.firstRunURL": "",
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "services.settings.server": "data:,#remote-settings-disabled/v1",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.search.update": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "geo.provider.network.url": "",
    "identity.fxaccounts.enabled": False,
    "media.gmp-manager.url": "",
    "media.gmp-gmpopenh264.autoupdate": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.trr.mode": 5,
    # everything else goes to a closed port on the loopback; 127.0.0.1 / localhost never use a proxy
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.share_proxy_settings": True,
    "network.proxy.no_proxies_on": "127.0.0.1,localhost",
    "network.proxy.allow_hijacking_localhost": False,
    "media.autoplay.default": 0,
}


class BidiError(AssertionError):
    """A BiDi command answered an error, the browser went away, or a wait ran out (a test failure)."""


def firefox_executable() -> str:
    """Debian's ``firefox-esr`` (``bash .ci/firefox`` installs it); fails the test without it."""
    path = shutil.which("firefox-esr") or shutil.which("firefox")
    if path is None:
        raise BidiError("firefox-esr is not installed: run `bash .ci/firefox` (as root) for the Firefox web test")
    return path


class WebSocket:
    """A blocking WebSocket client (RFC 6455): text frames out (masked), text frames in (fragments joined), pings
    answered, no extensions; enough for a BiDi connection on the loopback."""

    def __init__(self, url: str, timeout_s: float = TIMEOUT_S) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
            raise BidiError(f"unsupported WebSocket URL {url!r}")
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout_s)
        self._buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self._sock.sendall(request.encode())
        head = self._read_until(b"\r\n\r\n", time.monotonic() + timeout_s).decode("latin-1")
        if not head.startswith("HTTP/1.1 101"):
            self._sock.close()
            raise BidiError(f"WebSocket handshake refused: {head.splitlines()[0] if head else 'no answer'}")

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("WebSocket read timed out")
        self._sock.settimeout(left)
        chunk = self._sock.recv(65536)
        if not chunk:
            raise BidiError("the browser closed its WebSocket")
        self._buf += chunk

    def _read_until(self, marker: bytes, deadline: float) -> bytes:
        while marker not in self._buf:
            self._fill(deadline)
        head, self._buf = self._buf.split(marker, 1)
        return head

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            self._fill(deadline)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(head + mask + masked)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def recv(self, deadline: float) -> str:
        """The next text message; TimeoutError when none came before ``deadline`` (time.monotonic())."""
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2, deadline)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._read(2, deadline))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._read(8, deadline))
            mask = self._read(4, deadline) if b1 & 0x80 else b""
            payload = self._read(n, deadline)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise BidiError("the browser closed its WebSocket")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x1, 0x0, 0x2):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self._send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self._sock.close()


def _user_js(prefs: dict[str, bool | int | str]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


#: the error texts of a request the page itself gave up (an AbortController: the web app aborts a superseded
#: suggestion request and a page's requests when it leaves it): not a failure of the server or the page
ABORTED = frozenset({"NS_BINDING_ABORTED"})


class Firefox:
    """A headless firefox-esr with one BiDi session and one tab (:attr:`context`); use as a context manager or call
    :meth:`close`. :attr:`errors` collects ``"console: …"`` / ``"javascript: …"`` lines for every log entry of
    level ``error`` (console.error calls, uncaught exceptions, unhandled rejections, Content-Security-Policy
    violations) of any page; :attr:`http_errors` every request answered 4xx / 5xx or failed (network.fetchError),
    except those the page aborted itself (:data:`ABORTED`)."""

    def __init__(self, *, width: int = 1280, height: int = 800, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.errors: list[str] = []
        self.http_errors: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._ws: WebSocket | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="vidstruct-firefox-"))
        profile = self._dir / "profile"
        profile.mkdir()
        (profile / "user.js").write_text(_user_js(PREFS))
        self.log = self._dir / "firefox.log"
        argv = [firefox_executable(), "--headless", "--no-remote", "--remote-debugging-port=0",
                "--profile", str(profile), f"--width={width}", f"--height={height}", "about:blank"]  # fmt: skip
        env = {**os.environ, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1", "MOZ_DISABLE_AUTO_SAFE_MODE": "1"}
        with open(self.log, "wb") as sink:
            self.proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            self._ws = WebSocket(f"{self._listening()}/session", timeout_s)
            self.command("session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": False}}})
            events = ["log.entryAdded", "network.responseCompleted", "network.fetchError"]
            self.command("session.subscribe", {"events": events})
            self.context = self.command("browsingContext.create", {"type": "tab"})["context"]
            self.command("browsingContext.setViewport", {"context": self.context,
                                                         "viewport": {"width": width, "height": height}})  # fmt: skip
        except BaseException:
            self.close()
            raise

    def _listening(self) -> str:
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            found = _LISTENING.search(self.log_text())
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                raise BidiError(f"firefox-esr exited ({self.proc.returncode}): {self.log_text()[-2000:]}")
            time.sleep(0.05)
        raise BidiError(
            f"firefox-esr did not open WebDriver BiDi within {START_TIMEOUT_S} s: {self.log_text()[-2000:]}"
        )

    def log_text(self) -> str:
        """What the browser printed (stdout and stderr) so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Firefox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- protocol ------------------------------------------------------------------------------------------------
    def _event(self, message: dict[str, Any]) -> None:
        self.events.append(message)
        params = message.get("params", {})
        if message.get("method") == "log.entryAdded" and params.get("level") == "error":
            frames = (params.get("stackTrace") or {}).get("callFrames") or []
            at = f" at {frames[0].get('url')}:{frames[0].get('lineNumber')}" if frames else ""
            self.errors.append(f"{params.get('type')}: {params.get('text')}{at}")
        elif message.get("method") == "network.responseCompleted" and params["response"]["status"] >= 400:
            self.http_errors.append(f"HTTP {params['response']['status']}: {params['request']['url']}")
        elif message.get("method") == "network.fetchError" and params.get("errorText") not in ABORTED:
            self.http_errors.append(f"{params.get('errorText')}: {params['request']['url']}")

    def command(self, method: str, params: dict[str, Any] | None = None, timeout_s: float | None = None) -> Any:
        """Send one BiDi command and wait (bounded) for its answer: the ``result``; BidiError for an error answer.
        Events arriving meanwhile are recorded."""
        if self._ws is None:
            raise BidiError("no BiDi connection")
        self._next_id += 1
        ident = self._next_id
        limit = timeout_s or self.timeout_s
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + limit
        while True:
            try:
                message = json.loads(self._ws.recv(deadline))
            except TimeoutError:
                raise BidiError(f"{method}: no answer within {limit} s") from None
            if message.get("type") == "event":
                self._event(message)
            elif message.get("id") == ident:
                if message.get("type") == "error":
                    raise BidiError(f"{method}: {message.get('error')}: {message.get('message')}")
                return message.get("result")

    def drain(self) -> None:
        """Take in the events the browser has sent so far (a no-op command's round trip)."""
        self.command("browsingContext.getTree", {"maxDepth": 0})

    # ---- pages ---------------------------------------------------------------------------------------------------
    def navigate(self, url: str) -> None:
        """Open ``url`` in the tab and wait until its document has loaded (``wait: complete``)."""
        self.command("browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"})

    def _evaluate(self, expression: str, timeout_s: float | None = None) -> dict[str, Any]:
        params = {"expression": expression, "target": {"context": self.context}, "awaitPromise": True,
                  "resultOwnership": "none"}  # fmt: skip
        result = self.command("script.evaluate", params, timeout_s)
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BidiError(f"script threw: {details.get('text')} (in {expression[:200]!r})")
        return result["result"]

    def js(self, function: str, *args: Any, timeout_s: float | None = None) -> Any:
        """Call the JS ``function`` (source text, may be async) with JSON ``args`` in the page; its awaited result
        through JSON (so JSON values only; ``undefined`` → None)."""
        call = f"(async () => JSON.stringify(await ({function})(...{json.dumps(list(args))})))()"
        value = self._evaluate(call, timeout_s)
        return None if value.get("type") != "string" else json.loads(value["value"])

    def wait_for(self, predicate: str, *args: Any, timeout_s: float | None = None, what: str = "") -> Any:
        """Poll the JS ``predicate`` (called with ``args``) every 50 ms until it returns something truthy in JS
        (returned; an element as True); BidiError when ``timeout_s`` (default :attr:`timeout_s`) runs out."""
        limit = timeout_s or self.timeout_s
        end = time.monotonic() + limit
        # a truthy JS value is truthy here too (a DOM node comes back as True; {} or [] count as true, as in JS)
        check = (
            f"async (...a) => {{ const v = await ({predicate})(...a); "
            "return {ok: !!v, value: v instanceof Node || v}; }"
        )
        while True:
            answer = self.js(check, *args)
            last = answer["value"]
            if answer["ok"]:
                return last
            if time.monotonic() > end:
                raise BidiError(f"not true within {limit} s: {what or predicate} (last value {last!r})")
            time.sleep(0.05)

    def element(self, selector: str) -> dict[str, Any]:
        """A shared reference ``{"sharedId": …}`` to the first element matching ``selector`` (scrolled into view)."""
        node = self._evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
            "if (e) e.scrollIntoView({block: 'center'}); return e; })()"
        )
        if node.get("type") != "node":
            raise BidiError(f"no element matches {selector!r}")
        return {"sharedId": node["sharedId"]}

    def click(self, selector: str) -> None:
        """A real mouse click (move to the element's centre, press, release) on the first match of ``selector``."""
        origin = {"type": "element", "element": self.element(selector)}
        moves = [
            {"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0},
        ]
        mouse = {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": moves}
        self.command("input.performActions", {"context": self.context, "actions": [mouse]})
        self.command("input.releaseActions", {"context": self.context})

    def type(self, text: str) -> None:
        """Key presses for each character of ``text`` into the focused element (``"\\ue007"`` is Enter)."""
        keys = [a for ch in text for a in ({"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch})]
        keyboard = {"type": "key", "id": "keyboard", "actions": keys}
        self.command("input.performActions", {"context": self.context, "actions": [keyboard]})
        self.command("input.releaseActions", {"context": self.context})

    def set_files(self, selector: str, *paths: Path) -> None:
        """Choose ``paths`` in the file input matching ``selector`` (as the file picker would; fires change)."""
        self.command("input.setFiles", {"context": self.context, "element": self.element(selector),
                                        "files": [str(p) for p in paths]})  # fmt: skip

    # ---- shutdown ------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """End the session and close the browser (``browser.close``), stop what is left of its process group
        (SIGTERM, SIGKILL after 10 s) and remove its profile; idempotent."""
        if self._ws is not None:
            try:
                self.command("browser.close", timeout_s=5)
            except (BidiError, OSError):
                pass
            self._ws.close()
            self._ws = None
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._signal_group(signal.SIGKILL)  # content processes that outlived the parent, if any
        shutil.rmtree(self._dir, ignore_errors=True)

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # its own process group (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass
