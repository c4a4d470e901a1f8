"""A plain-Python web app (standard library server) using a compiled C extension."""
import json
import os
import platform
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import netifaces  # a C extension compiled in the image's build


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(
            {
                "app": "azdeploy sample: compiled",
                "netifaces": netifaces.version,
                "extension": os.path.basename(netifaces.__file__),
                "interfaces": netifaces.interfaces(),
                "machine": platform.machine(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8501"))
    print(f"listening on 0.0.0.0:{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
