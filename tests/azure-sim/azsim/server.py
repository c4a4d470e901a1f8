"""The simulator: the one handler table, scenarios (faults), the log stream, the control
endpoints and `main()`.

    python3 -m azsim.server --state DIR   (from tests/azure-sim; start.py does this for you)

Reads DIR/sim.json (written by start.py) and writes DIR/ready.json once listening.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import uuid

from . import aad, acr, arm, tasks
from .core import DualServer, RequestLog, Response, Router, ScenarioFile, apply_scenario, json_response
from .shapes import shape
from .world import World

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
APP = RG + r"/providers/Microsoft\.App/containerApps/(?P<app>[^/]+)"
ENV = RG + r"/providers/Microsoft\.App/managedEnvironments/(?P<env>[^/]+)"
ACR = RG + r"/providers/Microsoft\.ContainerRegistry/registries/(?P<name>[^/]+)"
OPS = SUB + r"/providers/Microsoft\.App/locations/(?P<loc>[^/]+)"
AUTHZ = r"(?P<scope>/subscriptions/.+?)/providers/Microsoft\.Authorization"

# Scenario name → what it does (see README.md). Faults answer instead of the handler.
SCENARIOS = {
    "healthy": "every revision becomes Healthy/Running after a few reads",
    "activation-failed": "new revisions end in ActivationFailed with a provisioningError",
    "activating-forever": "new revisions stay Activating",
    "app-missing": "every request on a container app answers 404 ResourceNotFound",
    "operation-in-progress": "PATCH/PUT/DELETE of a container app answer 409",
    "throttled": "ARM answers 429 with Retry-After (count, retry_after)",
    "token-expired": "ARM answers 401 ExpiredAuthenticationToken",
    "server-error": "ARM answers 500 InternalServerError (count)",
    "slow": "every answer waits delay_ms (default 2000) first",
    "registry-unauthorized": "the login server refuses /v2/* with 401 (count): an ACR token that expired mid-push",
    "logged-out": "the config dir has no account; AAD refuses the client secret",
    "wrong-subscription": "the config dir's subscription is one ARM does not know",
}


def routes():
    """(methods, path regex, tags, handler). Tags drive the faults and the request log."""
    return [
        # control (plain or TLS; not logged)
        ("GET", r"/_sim/health", {"control"}, control_health),
        ("GET|POST|PUT", r"/_sim/scenario", {"control"}, control_scenario),
        ("GET", r"/_sim/requests", {"control"}, control_requests),
        ("GET", r"/_sim/state", {"control"}, control_state),
        # cloud metadata and Entra ID
        ("GET", r"/metadata/endpoints", {"aad"}, aad.metadata_endpoints),
        ("GET", r"/common/discovery/instance", {"aad"}, aad.instance_discovery),
        ("GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration", {"aad"}, aad.openid_configuration),
        ("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", {"aad"}, aad.token),
        # ACR login server (data plane)
        ("GET", r"/v2/?", {"acr"}, acr.v2_ping),
        ("POST", r"/oauth2/exchange", {"acr"}, acr.exchange),
        ("GET|POST", r"/oauth2/token", {"acr"}, acr.token),
        ("GET|HEAD|PUT|PATCH|POST|DELETE", r"/v2/(?P<rest>.+)", {"acr", "acr-v2"}, acr.proxy),
        ("GET", r"/acr/v1/_catalog", {"acr"}, acr.catalog),
        ("GET", r"/acr/v1/(?P<repo>.+?)/_tags/(?P<tag>[^/]+)", {"acr"}, acr.tag_show),
        ("GET", r"/acr/v1/(?P<repo>.+?)/_tags", {"acr"}, acr.tag_list),
        ("GET", r"/acr/v1/(?P<repo>.+?)/_manifests/(?P<digest>sha256:[0-9a-f]+)", {"acr"}, acr.manifest_show),
        ("GET", r"/acr/v1/(?P<repo>.+?)/_manifests", {"acr"}, acr.manifests_list),
        ("GET", r"/acr/v1/(?P<repo>.+)", {"acr"}, acr.repository_show),
        # Container Apps log streams (the *.azurecontainerapps.dev host in Azure)
        ("GET", SUB + r"/resourceGroups/(?P<rg>[^/]+)/containerApps/(?P<app>[^/]+)/revisions/(?P<rev>[^/]+)/replicas/(?P<replica>[^/]+)/containers/(?P<container>[^/]+)/logstream",
         {"logstream"}, console_logstream),
        ("GET", SUB + r"/resourceGroups/(?P<rg>[^/]+)/containerApps/(?P<app>[^/]+)/eventstream", {"logstream"}, system_logstream),
        # ARM: subscriptions, providers, resources, groups
        ("GET", r"/subscriptions", {"arm"}, arm.list_subscriptions),
        ("GET", SUB, {"arm"}, arm.get_subscription),
        ("GET", SUB + r"/providers/(?P<ns>[^/]+)", {"arm"}, arm.get_provider),
        ("POST", SUB + r"/providers/(?P<ns>[^/]+)/register", {"arm"}, arm.register_provider),
        ("GET", SUB + r"/resources", {"arm"}, arm.list_resources),
        ("GET", SUB + r"/resourcegroups", {"arm"}, arm.list_groups),
        ("GET|PUT|HEAD|DELETE", RG, {"arm"}, arm.group),
        # Container Apps
        ("GET", OPS + r"/containerappOperationStatuses/(?P<op>[^/]+)", {"arm", "operation"}, arm.op_status),
        ("GET", OPS + r"/containerappOperationResults/(?P<op>[^/]+)", {"arm", "operation"}, arm.op_result),
        ("GET", OPS + r"/managedEnvironmentOperationStatuses/(?P<op>[^/]+)", {"arm", "operation"}, arm.env_op_status),
        ("GET", SUB + r"/providers/Microsoft\.App/containerApps", {"arm"}, arm.list_apps),
        ("GET", RG + r"/providers/Microsoft\.App/containerApps", {"arm"}, arm.list_apps),
        ("GET", APP, {"arm", "app"}, arm.app_get),
        ("PATCH", APP, {"arm", "app", "app-write"}, arm.app_patch),
        ("PUT", APP, {"arm", "app-create", "app-write"}, arm.app_put),
        ("DELETE", APP, {"arm", "app", "app-write"}, arm.app_delete),
        ("GET", APP + r"/revisions", {"arm", "app"}, arm.revisions_list),
        ("GET", APP + r"/revisions/(?P<rev>[^/]+)", {"arm", "app"}, arm.revision_get),
        ("GET", APP + r"/revisions/(?P<rev>[^/]+)/replicas", {"arm", "app"}, arm.replicas_list),
        ("GET", APP + r"/revisions/(?P<rev>[^/]+)/replicas/(?P<replica>[^/]+)/?", {"arm", "app"}, arm.replica_get),
        ("POST", APP + r"/getAuthToken", {"arm", "app"}, arm.get_auth_token),
        ("POST", APP + r"/listSecrets", {"arm", "app"}, arm.list_secrets),
        # managed environments
        ("GET", SUB + r"/providers/Microsoft\.App/managedEnvironments", {"arm"}, arm.list_envs),
        ("GET", RG + r"/providers/Microsoft\.App/managedEnvironments", {"arm"}, arm.list_envs),
        ("GET", ENV, {"arm"}, arm.env_get),
        ("PUT", ENV, {"arm"}, arm.env_put),
        # registries (control plane)
        ("GET", SUB + r"/providers/Microsoft\.ContainerRegistry/registries", {"arm"}, arm.list_registries),
        ("GET", RG + r"/providers/Microsoft\.ContainerRegistry/registries", {"arm"}, arm.list_registries),
        ("GET", ACR, {"arm"}, arm.registry_get),
        ("PUT", ACR, {"arm"}, arm.registry_put),
        ("GET", ACR + r"/operationStatuses/(?P<op>[^/]+)", {"arm", "operation"}, arm.registry_op_status),
        ("POST", ACR + r"/listCredentials", {"arm"}, arm.registry_list_credentials),
        # ACR Tasks (`az acr build`) and the blob storage its uploads and logs live in
        ("POST", ACR + r"/listBuildSourceUploadUrl", {"arm"}, tasks.source_upload_url),
        ("POST", ACR + r"/scheduleRun", {"arm"}, tasks.schedule_run),
        ("GET", ACR + r"/runs", {"arm"}, tasks.runs_list),
        ("GET", ACR + r"/runs/(?P<run>[^/]+)", {"arm"}, tasks.run_get),
        ("POST", ACR + r"/runs/(?P<run>[^/]+)/listLogSasUrl", {"arm"}, tasks.log_sas_url),
        ("POST", ACR + r"/runs/(?P<run>[^/]+)/cancel", {"arm"}, tasks.run_cancel),
        ("PUT|GET|HEAD", "/" + tasks.ACCOUNT + r"/(?P<container>[^/]+)/(?P<blob>.+)", {"blob"}, tasks.blob),
        # identities and roles
        ("GET|PUT", RG + r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/(?P<name>[^/]+)", {"arm"}, arm.identity),
        ("GET", AUTHZ + r"/roleDefinitions", {"arm"}, arm.role_definitions),
        ("GET", AUTHZ + r"/roleDefinitions/(?P<id>[^/]+)", {"arm"}, arm.role_definition_get),
        ("GET", AUTHZ + r"/roleAssignments", {"arm"}, arm.role_assignments_list),
        ("GET|PUT|DELETE", AUTHZ + r"/roleAssignments/(?P<id>[^/]+)", {"arm"}, arm.role_assignment),
        # metrics
        ("GET", r"(?P<resource>/subscriptions/.+?)/providers/Microsoft\.Insights/metrics", {"arm"}, arm.metrics),
    ]


# ---------------------------------------------------------------------------------------------
# Log streams
# ---------------------------------------------------------------------------------------------


def _logstream_auth(sim, req) -> Response | None:
    auth = req.header("Authorization")
    if not auth.startswith("Bearer ") or not sim.tokens.check(auth[7:], "logstream"):
        return Response(401, b"", {"WWW-Authenticate": "Bearer"})
    return None


def _stream(lines: list[str], follow: bool, hold: float):
    def gen():
        for line in lines:
            yield (line + "\n").encode()
        if follow:  # keep the stream open as the service does; the client hangs up
            end = time.time() + hold
            while time.time() < end:
                time.sleep(0.2)
                yield b""
    return gen()


def console_logstream(sim, req):
    """`…/containers/{c}/logstream?follow=&output=json|text&tailLines=N`: NDJSON
    `{"TimeStamp","Log"}` lines as recorded (text: `TimeStamp Log`, not recorded)."""
    if (e := _logstream_auth(sim, req)):
        return e
    app = sim.world.app(req.params["rg"], req.params["app"])
    rev = app.revision(req.params["rev"]) if app else None
    if not rev:
        return Response(404, b"")
    now = time.strftime("%Y-%m-%dT%H:%M:%S.00000", time.gmtime())
    records = shape("containerapp_logstream_body.ndjson")[:1]
    records[0].update(TimeStamp=now, Log=f"Connecting to the container '{req.params['container']}'...")
    records.append({"TimeStamp": now, "Log": f"Successfully Connected to container: '{req.params['container']}' [Revision: '{rev.name}', Replica: '{req.params['replica']}']"})
    lines = sim.world.console_logs or default_console_logs(rev)
    records += [{"TimeStamp": now, "Log": line} for line in lines]
    tail = int(req.query.get("tailLines") or 20)
    records = records[:2] + records[2:][-tail:] if tail else records[:2]
    fmt = req.query.get("output", "json")
    out = [json.dumps(r, separators=(",", ":")) if fmt == "json" else f"{r['TimeStamp']} {r['Log']}" for r in records]
    return Response(200, stream=_stream(out, req.query.get("follow") == "true", sim.follow_hold()),
                    content_type="text/plain; charset=utf-8" if fmt == "text" else "application/x-ndjson")


def default_console_logs(rev) -> list[str]:
    if rev.final == "failed" or rev.outcome == "failed":
        return ["Traceback (most recent call last):", '  File "/app/app.py", line 1, in <module>',
                "ModuleNotFoundError: No module named 'streamlit'"]
    return ["", "Collecting usage statistics. To deactivate, set browser.gatherUsageStats to false.", "",
            "  You can now view your Streamlit app in your browser.", "", "  URL: http://0.0.0.0:8501", ""]


def system_logstream(sim, req):
    """`…/containerApps/{app}/eventstream`: system events, one JSON object a line. No recording
    was available; the fields follow ContainerAppSystemLogs (TimeStamp, Type, ContainerAppName,
    RevisionName, ReplicaName, Msg, Reason, EventSource, Count)."""
    if (e := _logstream_auth(sim, req)):
        return e
    app = sim.world.app(req.params["rg"], req.params["app"])
    if not app:
        return Response(404, b"")
    events = sim.world.system_logs or default_system_logs(app)
    tail = int(req.query.get("tailLines") or 20)
    out = [json.dumps(e) for e in events[-tail:]] if tail else []
    return Response(200, stream=_stream(out, req.query.get("follow") == "true", sim.follow_hold()),
                    content_type="application/x-ndjson")


def default_system_logs(app) -> list[dict]:
    out = []
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for r in app.revisions:
        base = {"TimeStamp": t, "ContainerAppName": app.name, "RevisionName": r.name, "EventSource": "ContainerAppController", "Count": 1}
        out.append({**base, "Type": "Normal", "ReplicaName": "", "Msg": f"Successfully provisioned revision '{r.name}'", "Reason": "RevisionReady"})
        if r.final == "failed":
            out.append({**base, "Type": "Warning", "ReplicaName": f"{r.name}-0", "Msg": r.error or "Container crashing", "Reason": "ContainerCrashing"})
    return out


# ---------------------------------------------------------------------------------------------
# Control endpoints
# ---------------------------------------------------------------------------------------------


def control_health(sim, req):
    return json_response(200, {"ok": True, "port": sim.port})


def control_scenario(sim, req):
    if req.method in ("POST", "PUT"):
        value = req.json() or {}
        if value.get("name") not in SCENARIOS:
            return json_response(400, {"error": f"unknown scenario; known: {sorted(SCENARIOS)}"})
        apply_scenario(sim.state_dir, value)
    return json_response(200, sim.scenario())


def control_requests(sim, req):
    with open(sim.log.path) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    return json_response(200, entries)


def control_state(sim, req):
    w = sim.world
    with w.lock:
        return json_response(200, {
            "apps": {a.name: {"fqdn": ((a.body["properties"]["configuration"] or {}).get("ingress") or {}).get("fqdn"),
                              "latestRevisionName": a.body["properties"].get("latestRevisionName"),
                              "latestReadyRevisionName": a.body["properties"].get("latestReadyRevisionName"),
                              "image": a.body["properties"]["template"]["containers"][0].get("image"),
                              "revisions": [r.body()["properties"] | {"name": r.name} for r in a.revisions]}
                     for a in w.apps.values()},
            "groups": sorted(g["name"] for g in w.groups.values()),
            "registries": sorted(r["name"] for r in w.registries.values()),
            "environments": sorted(e["name"] for e in w.envs.values()),
            "identities": sorted(i["name"] for i in w.identities.values()),
            "role_assignments": list(w.role_assignments.values()),
            "runs": {r.id: {"status": r.status, "error": r.error, "images": r.output_images,
                            "request": r.request} for r in w.runs.values()},
        })


# ---------------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------------


class Sim:
    def __init__(self, state_dir: str, config: dict):
        self.state_dir = state_dir
        self.config = config
        self.port = 0
        self.base_url = ""
        self.login_server = ""
        self.router = Router(routes())
        self.tokens = aad.Tokens()
        self.log = RequestLog(os.path.join(state_dir, "requests.jsonl"))
        self.delayed = RequestLog(os.path.join(state_dir, "delayed.jsonl"))
        self.scenario_file = ScenarioFile(os.path.join(state_dir, "scenario.json"))
        self.provider_state: dict[str, str] = {}
        reg = config.get("upstream") or {}
        self.upstream = reg.get("host", "127.0.0.1:5000")
        self.upstream_user = reg.get("user", "")
        self.upstream_password = reg.get("password", "")
        self.world: World | None = None
        self.storage = tasks.Storage()

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def scenario(self) -> dict:
        return self.scenario_file.get()

    def revision_outcome(self, image: str | None = None) -> str:
        """How a new revision ends under the scenario; with `"image": "<substring>"` only
        revisions whose image contains it are affected (so a rollback can succeed)."""
        s = self.scenario()
        want = s.get("image")
        if want and image is not None and want not in image:
            return "healthy"
        return {"activation-failed": "failed", "activating-forever": "forever"}.get(s["name"], "healthy")

    def follow_hold(self) -> float:
        return float(self.scenario().get("follow_seconds", 30))

    def fault_acr_unauthorized(self) -> bool:
        s = self.scenario()
        return s["name"] == "registry-unauthorized" and self.scenario_file.take("acr401", s.get("count"))

    # -- one request ---------------------------------------------------------------------------

    def handle(self, req) -> Response:
        route, params = self.router.match(req.method, req.path)
        if route is None:
            req.tags = frozenset({"unmatched"})
            if params:
                return json_response(405, {"error": {"code": "MethodNotAllowed", "message": f"{req.method} is not allowed on {req.path}"}})
            return arm.arm_error(404, "NoRegisteredProviderFound" if "/providers/" in req.path else "NotFound",
                                 f"azure-sim has no handler for {req.method} {req.path}")
        req.params = params
        req.tags = route.tags
        if "control" not in route.tags:
            fault = self.fault(req)
            if fault is not None:
                return fault
        if "blob" in route.tags:  # may wait for a log to grow: not under the world's lock
            return route.fn(self, req)
        with self.world.lock:
            return route.fn(self, req)

    def targeted(self, s: dict, req) -> bool:
        """Whether the scenario applies to this request: every request, or with `"match":
        "<regex>"` only those whose `METHOD /path` it finds (case-insensitive)."""
        pattern = s.get("match")
        return not pattern or re.search(pattern, f"{req.method} {req.path}", re.IGNORECASE) is not None

    def fault(self, req) -> Response | None:
        s = self.scenario()
        name = s["name"]
        targeted = self.targeted(s, req)
        delay = float(s.get("delay_ms", 2000 if name == "slow" else 0)) if targeted else 0
        if delay:
            # Written before the wait, so a test can tell a client is inside this call.
            self.delayed.add(req, 0, None)
            time.sleep(delay / 1000)
        tags = req.tags
        if "arm" not in tags:
            return None
        count = s.get("count")
        if not targeted:
            name = "healthy"
        if name == "app-missing" and "app" in tags:
            return arm.resource_not_found("Microsoft.App/containerApps", req.params["app"], req.params["rg"])
        if name == "operation-in-progress" and "app-write" in tags and self.scenario_file.take("409", count):
            app = req.params.get("app")
            return arm.arm_error(409, "ContainerAppOperationInProgress",
                                 f"Cannot modify a container app '{app}' because there is an operation in progress. Please try again later.")
        if name == "throttled" and self.scenario_file.take("429", count):
            ra = str(s.get("retry_after", 1))
            return arm.arm_error(429, "TooManyRequests",
                                 f"Number of 'read' requests for subscription '{self.world.sub}' actually exceeded the limit of '12000' for time interval '01:00:00'. Please try again after '{ra}' seconds.",
                                 {"Retry-After": ra})
        if name == "token-expired" and self.scenario_file.take("401", count):
            t = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime())
            return arm.arm_error(401, "ExpiredAuthenticationToken",
                                 f"The access token expiry UTC time '{t}' is earlier than current UTC time '{t}'.",
                                 {"WWW-Authenticate": f'Bearer authorization_uri="{self.base_url}/{self.world.tenant}", error="invalid_token", error_description="The access token has expired."'})
        if name == "server-error" and self.scenario_file.take("500", count):
            return arm.arm_error(500, "InternalServerError", "Encountered internal server error. Please try again.")
        if "aad" not in tags and not req.header("Authorization").startswith("Bearer "):
            return arm.arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        return None


def seed(sim: Sim, world_cfg: dict) -> None:
    """The world a test starts in: everything for deploy/status/logs/rollback/push, or only the
    subscription (`"empty": true`) for the from-zero create paths."""
    w = sim.world
    if world_cfg.get("empty"):
        return
    loc = world_cfg["location"]
    rg = world_cfg["resource_group"]
    w.put_group(rg, loc)
    env = w.put_env(rg, world_cfg["environment"], loc)
    reg = w.put_registry(rg, world_cfg["registry"], loc)
    ident = w.put_identity(rg, world_cfg["identity"], loc)
    acrpull = arm.role_definition(sim, "AcrPull")
    rid = str(uuid.uuid4())
    body = shape("role_assignment_create_put_201_2020")
    body["properties"].update(roleDefinitionId=acrpull["id"], principalId=ident["properties"]["principalId"],
                              principalType="ServicePrincipal", scope=reg["id"])
    body["id"] = f"{reg['id']}/providers/Microsoft.Authorization/roleAssignments/{rid}"
    body["name"] = rid
    w.role_assignments[body["id"].lower()] = body
    image = world_cfg.get("image") or "mcr.microsoft.com/k8se/quickstart:latest"
    if world_cfg.get("app"):
        app_body = w.app_body(rg, world_cfg["app"], loc, env["id"], image, reg["properties"]["loginServer"],
                              ident["id"], world_cfg.get("target_port", 8501))
        w.add_app(rg, app_body, ready=True)
    w.console_logs = list(world_cfg.get("console_logs") or [])
    w.metrics = dict(world_cfg.get("metrics") or {})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="azure-sim server (use start.py)")
    ap.add_argument("--state", required=True)
    args = ap.parse_args(argv)
    with open(os.path.join(args.state, "sim.json")) as f:
        config = json.load(f)
    sim = Sim(args.state, config)
    server = DualServer(("127.0.0.1", config.get("port", 0)), sim, os.path.join(args.state, "server.pem"),
                        os.path.join(args.state, "server.key"))
    sim.port = server.server_address[1]
    sim.base_url = f"https://127.0.0.1:{sim.port}"
    sim.login_server = f"127.0.0.1:{sim.port}"
    sim.world = World(base_url=sim.base_url, login_server=sim.login_server, sub=config["subscription_id"],
                      tenant=config["tenant_id"], tag=config.get("tag", "sim00001"))
    seed(sim, config["world"])
    open(sim.log.path, "a").close()
    signal.signal(signal.SIGTERM, lambda *_: (server.server_close(), os._exit(0)))
    ready = os.path.join(args.state, "ready.json")
    with open(ready + ".tmp", "w") as f:
        json.dump({"port": sim.port, "pid": os.getpid()}, f)
    os.replace(ready + ".tmp", ready)
    threading.current_thread().name = "azure-sim"
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
