"""HTTP plumbing: the server (TLS and plain HTTP on one port), requests and responses, the
request log and the scenario file. No Azure knowledge here.

Standard library only (Python 3.11).
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ---------------------------------------------------------------------------------------------
# Requests and responses
# ---------------------------------------------------------------------------------------------


class Request:
    """One request, its body already read (except for streamed proxy bodies)."""

    def __init__(self, handler: "Handler", method: str, raw_path: str):
        self.handler = handler
        self.method = method
        self.raw_path = raw_path
        parts = urllib.parse.urlsplit(raw_path)
        # az asks for `//metadata/endpoints`: collapse repeated slashes.
        self.path = re.sub(r"/{2,}", "/", parts.path)
        self.query_string = parts.query
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = handler.headers
        self.params: dict[str, str] = {}
        self.tags: frozenset[str] = frozenset()
        self._body: bytes | None = None

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    @property
    def streams_body(self) -> bool:
        return "chunked" in self.header("Transfer-Encoding").lower()

    def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join(self.body_chunks())
        return self._body

    def body_chunks(self):
        """The body as it arrives (Content-Length or chunked), for streaming to an upstream."""
        if self._body is not None:
            yield self._body
            return
        rfile = self.handler.rfile
        if self.streams_body:
            while True:
                size_line = rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = rfile.read(size)
                rfile.readline(8)
                yield chunk
        else:
            left = int(self.header("Content-Length") or 0)
            while left > 0:
                chunk = rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk
        self._body = b""

    def json(self):
        raw = self.body()
        return json.loads(raw) if raw.strip() else None

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in urllib.parse.parse_qs(self.body().decode(), keep_blank_values=True).items()}


class Response:
    """A whole response (status, headers, bytes), or a streamed one (`stream` yields bytes)."""

    def __init__(self, status=200, body=b"", headers=None, stream=None, content_type=None):
        self.status = status
        self.headers: list[tuple[str, str]] = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json; charset=utf-8"
        elif isinstance(body, str):
            body = body.encode()
        self.body: bytes = body
        self.stream = stream
        if content_type:
            self.headers.append(("Content-Type", content_type))

    def header(self, name: str, value: str) -> "Response":
        self.headers.append((name, value))
        return self


def json_response(status: int, obj, headers=None) -> Response:
    return Response(status, obj, headers)


# ---------------------------------------------------------------------------------------------
# Routing: one table of (method, path regex, tags, handler)
# ---------------------------------------------------------------------------------------------


class Route:
    def __init__(self, method: str, pattern: str, tags: set[str], fn):
        self.methods = set(method.split("|"))
        self.regex = re.compile("^" + pattern + "$", re.IGNORECASE)
        self.tags = frozenset(tags)
        self.fn = fn


class Router:
    def __init__(self, table):
        self.routes = [Route(*row) for row in table]

    def match(self, method: str, path: str):
        allowed = False
        for r in self.routes:
            m = r.regex.match(path)
            if not m:
                continue
            if method in r.methods or (method == "HEAD" and "GET" in r.methods and "HEAD" not in r.methods):
                return r, m.groupdict()
            allowed = True
        return None, allowed


# ---------------------------------------------------------------------------------------------
# Request log and scenario file (both in the state dir, readable by tests without HTTP)
# ---------------------------------------------------------------------------------------------


class RequestLog:
    """One JSON object per line: t, method, path, query, body, status, tags."""

    MAX_BODY = 64 * 1024

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()

    def add(self, req: Request, status: int, body_logged) -> None:
        entry = {
            "t": round(time.time(), 3),
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "body": body_logged,
            "status": status,
            "tags": sorted(req.tags),
        }
        line = json.dumps(entry) + "\n"
        with self.lock, open(self.path, "a") as f:
            f.write(line)


def loggable_body(req: Request):
    """The body as JSON, form, text or a byte count (binary layers are not logged)."""
    if req._body is None or not req._body:
        return None
    raw = req._body
    ctype = req.header("Content-Type").lower()
    if len(raw) > RequestLog.MAX_BODY or not (ctype.startswith("application/json") or ctype.startswith("application/x-www-form") or ctype.startswith("text/")):
        return {"bytes": len(raw)}
    try:
        if ctype.startswith("application/json"):
            return json.loads(raw)
        if ctype.startswith("application/x-www-form"):
            return {k: (v if "token" not in k and k != "password" else "<hidden>") for k, v in req.form().items()}
        return raw.decode()
    except (ValueError, UnicodeDecodeError):
        return {"bytes": len(raw)}


CONFIG_DIR_SCENARIOS = {"logged-out": "logged_out", "wrong-subscription": "wrong_subscription"}


def apply_scenario(state_dir: str, value: dict) -> None:
    """Switches the scenario: `scenario.json` (read by the server on its next request) and, for
    the scenarios that live in az's config dir, azureProfile.json (az reads it before any
    request). The one way to switch: start.py, the control endpoint and the Rust helper use it."""
    try:
        with open(os.path.join(state_dir, "profiles.json")) as f:
            profiles = json.load(f)
    except (OSError, ValueError):
        profiles = None
    if profiles and profiles.get("config_dir"):
        text = profiles[CONFIG_DIR_SCENARIOS.get(value.get("name"), "normal")]
        path = os.path.join(profiles["config_dir"], "azureProfile.json")
        with open(path + ".tmp", "w", encoding="utf-8-sig") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    path = os.path.join(state_dir, "scenario.json")
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


class ScenarioFile:
    """`scenario.json` in the state dir: `{"name": …, …params}`; re-read when it changes."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()
        self._mtime = None
        self._value = {"name": "healthy"}
        self.counters: dict[str, int] = {}

    def get(self) -> dict:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        with self.lock:
            if stamp != self._mtime:
                self._mtime = stamp
                try:
                    with open(self.path) as f:
                        self._value = json.load(f) if stamp else {"name": "healthy"}
                except (OSError, ValueError):
                    self._value = {"name": "healthy"}
                self.counters = {}
            return self._value

    def take(self, key: str, limit) -> bool:
        """Counts one use of fault `key`; False once `limit` uses are spent (None: no limit)."""
        with self.lock:
            n = self.counters.get(key, 0)
            if limit is not None and n >= int(limit):
                return False
            self.counters[key] = n + 1
            return True


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azure-sim"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError):
            self.close_connection = True

    def _dispatch(self):
        req = Request(self, self.command, self.path)
        app = self.server.app
        try:
            resp = app.handle(req)
        except Exception:  # a bug in a handler: a 500 the test can read in the log
            traceback.print_exc()
            resp = json_response(500, {"error": {"code": "SimulatorBug", "message": traceback.format_exc(limit=3)}})
        # Drain what the handler did not read, so keep-alive stays in step.
        if req._body is None:
            try:
                req.body()
            except (ValueError, ConnectionError):
                self.close_connection = True
        self._send(req, resp)
        if app.log and not req.tags & {"control"}:
            app.log.add(req, resp.status, loggable_body(req))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def _send(self, req: Request, resp: Response):
        self.send_response(resp.status)
        names = {k.lower() for k, _ in resp.headers}
        for k, v in resp.headers:
            self.send_header(k, v)
        if "x-ms-request-id" not in names:
            self.send_header("x-ms-request-id", self.server.app.new_id())
        if resp.stream is not None:
            if "content-length" in names:
                self.end_headers()
                if req.method != "HEAD":
                    for chunk in resp.stream:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if req.method == "HEAD":
                return
            for chunk in resp.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if req.method != "HEAD" and resp.body:
            self.wfile.write(resp.body)


class DualServer(ThreadingHTTPServer):
    """HTTPS, and plain HTTP on the same port (decided by the first byte: 0x16 starts a TLS
    handshake). Docker and buildx try HTTPS first on 127.0.0.0/8 and may fall back to HTTP."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, app, certfile: str, keyfile: str):
        self.app = app
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(certfile, keyfile)
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        request.settimeout(300)
        try:
            first = request.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first == b"\x16":
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):  # clients hanging up are not news
        pass
