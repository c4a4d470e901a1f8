#!/usr/bin/env python3
"""A registry-shaped HTTP(S) server that answers with a fixed fault, for ci/capture-fault-fixtures.sh.

    registry_stub.py --bind HOST [--port N] --port-file FILE --status N [--ping N] [--tls CERT KEY]

`GET /v2/` (the ping every client sends first) answers `--ping` (default 200, `{}`); every other
request answers `--status` with the body a Docker Distribution registry (and ACR) sends for it:
  401 UNAUTHORIZED + `WWW-Authenticate: Basic`, 403 DENIED, 404 MANIFEST_UNKNOWN,
  429 TOOMANYREQUESTS + `Retry-After: 1`, 5xx a plain-text body like a load balancer's.
It listens on --port (default 0: a free one), writes the port to --port-file once listening,
and serves until killed.
Standard library only; each request is logged to stderr.
"""
import argparse
import http.server
import json
import os
import socket
import ssl
import sys

BODIES = {
    401: ("UNAUTHORIZED", "authentication required"),
    403: ("DENIED", "requested access to the resource is denied"),
    404: ("MANIFEST_UNKNOWN", "manifest unknown"),
    429: ("TOOMANYREQUESTS", "too many requests: retry later"),
}
PLAIN = {
    500: "Internal Server Error\n",
    502: "Bad Gateway\n",
    503: "Service Unavailable\n",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--status", type=int, required=True)
    ap.add_argument("--ping", type=int, default=200)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "registry-stub"
        sys_version = ""

        def answer(self):
            status = a.ping if self.path.rstrip("/") == "/v2" else a.status
            headers = {"Docker-Distribution-Api-Version": "registry/2.0"}
            if status == 200:
                body, ctype = b"{}", "application/json; charset=utf-8"
            elif status in BODIES:
                code, msg = BODIES[status]
                body = json.dumps({"errors": [{"code": code, "message": msg, "detail": None}]}).encode() + b"\n"
                ctype = "application/json; charset=utf-8"
                if status == 401:
                    headers["WWW-Authenticate"] = 'Basic realm="registry-stub"'
                if status == 429:
                    headers["Retry-After"] = "1"
            else:
                body = PLAIN.get(status, f"{status}\n").encode()
                ctype = "text/plain; charset=utf-8"
            # Drain a request body so the client sees our answer, not a reset.
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = answer

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET

    class Server(http.server.ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    srv = Server((a.bind, a.port), Handler)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*a.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
