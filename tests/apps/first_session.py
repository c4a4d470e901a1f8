"""Run a Streamlit app's script once, as a browser's first visit does, and report how it went.

Streamlit answers /_stcore/health before it has run the app's script: the script (and its
imports) runs only when a session opens the websocket /_stcore/stream and asks for a run.
This opens that session with Streamlit's own client pieces (tornado, the protobuf classes),
so it needs no browser, and must run where Streamlit is installed, e.g. in the app's container:

    docker exec -i CONTAINER python - [PORT] [TIMEOUT] < tests/apps/first_session.py

Prints one JSON line: {"ok", "status", "elements", "exceptions": [{"type", "message"}],
"texts", "ms"}. Exit 0 when the script ran to its end without an exception, 1 when it raised
(or did not finish), 2 when no session could be opened.
"""

import asyncio
import json
import sys
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


async def first_session(port: int, timeout: float) -> dict:
    t0 = time.monotonic()
    request = HTTPRequest(f"ws://127.0.0.1:{port}/_stcore/stream", connect_timeout=timeout)
    ws = await websocket_connect(request, subprotocols=["streamlit"])
    back = BackMsg()
    back.rerun_script.query_string = ""
    back.rerun_script.page_script_hash = ""
    await ws.write_message(back.SerializeToString(), binary=True)
    report = {"ok": False, "status": None, "elements": 0, "exceptions": [], "texts": []}
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            report["status"] = "timeout"
            break
        try:
            data = await asyncio.wait_for(ws.read_message(), left)
        except asyncio.TimeoutError:
            report["status"] = "timeout"
            break
        if data is None:
            report["status"] = "closed"
            break
        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            report["elements"] += 1
            which = element.WhichOneof("type")
            if which == "exception":
                report["exceptions"].append(
                    {"type": element.exception.type, "message": element.exception.message}
                )
            elif which == "text":
                report["texts"].append(element.text.body)
        elif kind == "script_finished":
            report["status"] = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            break
    ws.close()
    report["ok"] = report["status"] == "FINISHED_SUCCESSFULLY" and not report["exceptions"]
    report["ms"] = round((time.monotonic() - t0) * 1000)
    return report


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8501
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    try:
        report = asyncio.run(first_session(port, timeout))
    except Exception as e:  # no server, refused upgrade, ...
        print(json.dumps({"ok": False, "status": "no-session", "error": repr(e)}))
        return 2
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
