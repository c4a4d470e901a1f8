"""The simulated Azure's state: resource groups, container apps with their revisions, managed
environments, registries, identities, role assignments and long-running operations.

Revision states advance on reads: every read of an app (app GET, revision show/list, replica
list) renders the current state and then moves each unfinished revision one step on (or one step
per `reads_per_step` reads). So right after `containerapp update` returns, `latestRevisionName`
is the new revision and `latestReadyRevisionName` the old one, as in the recordings, and a
caller polling `revision show` sees Provisioning → Activating → Healthy/Running.
"""

from __future__ import annotations

import copy
import datetime
import random
import string
import threading
import uuid

from .shapes import shape

# (provisioningState, healthState, runningState, replicas) per step of a new revision. Only
# Provisioned/Healthy/Running is recorded; the in-between values follow azure-and-peers.md §5
# ("Activating" is what the portal and users report while a revision starts).
STEPS = {
    "healthy": [
        ("Provisioning", "None", "Activating", 0),
        ("Provisioned", "None", "Activating", 1),
        ("Provisioned", "Healthy", "Running", 1),
    ],
    "failed": [
        ("Provisioning", "None", "Activating", 0),
        ("Provisioned", "None", "Activating", 1),
        ("Provisioned", "Unhealthy", "ActivationFailed", 0),
    ],
    "forever": [
        ("Provisioning", "None", "Activating", 0),
        ("Provisioned", "None", "Activating", 1),
    ],
}
DEFAULT_PROVISIONING_ERROR = (
    "Activation failed: Deployment Progress Deadline Exceeded. 0/1 replicas ready. "
    "The TargetPort 8501 does not match the listening port 80."
)


def now_iso(micro=True) -> str:
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f0Z" if micro else "%Y-%m-%dT%H:%M:%S+00:00")


def suffix(n=7) -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def strip_none(v):
    """Drops null members of objects (the service omits what az sent as null, e.g. `env`)."""
    if isinstance(v, dict):
        return {k: strip_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [strip_none(x) for x in v]
    return v


def deep_merge(base: dict, patch: dict) -> dict:
    """ARM PATCH as az uses it: objects merge, lists and scalars replace, nulls leave a value."""
    for k, v in patch.items():
        if v is None:
            base.setdefault(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        elif isinstance(v, list):
            base[k] = strip_none(v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def display_location(loc: str) -> str:
    """`eastus` → `East US` (Container Apps answer with display names)."""
    names = {"eastus": "East US", "eastus2": "East US 2", "westus": "West US", "westus2": "West US 2",
             "westeurope": "West Europe", "northeurope": "North Europe", "uksouth": "UK South",
             "swedencentral": "Sweden Central", "centralus": "Central US"}
    return names.get(loc.replace(" ", "").lower(), loc)


def short_location(loc: str) -> str:
    return loc.replace(" ", "").lower()


class Revision:
    def __init__(self, app: "App", name: str, template: dict, outcome: str, error: str | None = None):
        self.app = app
        self.name = name
        self.created = now_iso(micro=False)
        self.template = template
        self.pos = 0
        self.reads = 0
        self.outcome = outcome  # healthy | failed | forever, followed while not final
        self.final: str | None = None
        self.error = error
        self.active = True
        self.traffic = 0
        self.retired = False

    @classmethod
    def ready(cls, app: "App", name: str, template: dict) -> "Revision":
        r = cls(app, name, template, "healthy")
        r.pos, r.final, r.traffic = len(STEPS["healthy"]) - 1, "healthy", 100
        return r

    def state(self):
        if self.retired:
            return ("Provisioned", "None", "Stopped" if not self.active else "Deprovisioning", 0)
        steps = STEPS[self.final or self.outcome]
        return steps[min(self.pos, len(steps) - 1)]

    def step(self, outcome_now: str, reads_per_step: int):
        if self.final or self.retired:
            return
        self.outcome = outcome_now
        self.reads += 1
        if self.reads % max(1, reads_per_step):
            return
        steps = STEPS[self.outcome]
        self.pos = min(self.pos + 1, len(steps) - 1)
        if self.pos == len(steps) - 1 and self.outcome != "forever":
            self.final = self.outcome

    @property
    def healthy(self) -> bool:
        return self.final == "healthy" and not self.retired

    @property
    def image(self) -> str:
        return ((self.template.get("containers") or [{}])[0]).get("image", "")

    def body(self) -> dict:
        """`containerapp_revision_show.json` with this revision's values."""
        b = shape("containerapp_revision_show")
        b["id"] = f"{self.app.rid_upper}/revisions/{self.name}"
        b["name"] = self.name
        p = b["properties"]
        p["createdTime"] = self.created
        p["fqdn"] = f"{self.name}.{self.app.env_domain}"
        p["template"] = copy.deepcopy(self.template)
        prov, health, running, replicas = self.state()
        p.update(active=self.active, replicas=replicas, trafficWeight=self.traffic,
                 healthState=health, provisioningState=prov, runningState=running)
        if self.final == "failed" or (self.outcome == "failed" and running == "ActivationFailed"):
            p["provisioningError"] = self.error or DEFAULT_PROVISIONING_ERROR
        return b


class App:
    def __init__(self, world: "World", rg: str, body: dict):
        self.world = world
        self.rg = rg
        self.name = body["name"]
        self.body = body
        self.revisions: list[Revision] = []
        self.busy_op: str | None = None

    @property
    def rid_upper(self) -> str:
        return f"/subscriptions/{self.world.sub}/resourceGroups/{self.rg}/providers/Microsoft.App/containerApps/{self.name}"

    @property
    def env_domain(self) -> str:
        env = self.world.env_by_id(self.body["properties"].get("managedEnvironmentId") or "")
        if env:
            return env["properties"]["defaultDomain"]
        return f"sim-{self.world.tag}.{short_location(self.body['location'])}.azurecontainerapps.io"

    def revision(self, name: str) -> Revision | None:
        return next((r for r in self.revisions if r.name.lower() == name.lower()), None)

    def revision_template(self) -> dict:
        """The app's template as a revision shows it: revisionSuffix null, containers with
        `resources {cpu, memory}` and `probes: []`."""
        t = copy.deepcopy(self.body["properties"]["template"])
        t["revisionSuffix"] = None
        for c in t.get("containers") or []:
            res = c.get("resources") or {}
            c["resources"] = {"cpu": res.get("cpu", 0.5), "memory": res.get("memory", "1Gi")}
            c.setdefault("probes", [])
        for k in ("cooldownPeriod", "pollingInterval"):
            (t.get("scale") or {}).pop(k, None)
        return t

    def new_revision(self, outcome: str, error: str | None) -> Revision:
        sfx = self.body["properties"]["template"].get("revisionSuffix") or suffix()
        name = f"{self.name}--{sfx}"
        if self.revision(name):
            name = f"{self.name}--{suffix()}"
        r = Revision(self, name, self.revision_template(), outcome, error)
        self.revisions.append(r)
        self.body["properties"]["latestRevisionName"] = name
        self.body["properties"]["latestRevisionFqdn"] = f"{name}.{self.env_domain}"
        return r

    def tick(self, outcome_for, reads_per_step: int):
        """One read happened: move unfinished revisions on (`outcome_for(image)` says how each
        ends under the current scenario); a newly healthy latest revision takes the traffic
        (single revision mode) and becomes latestReadyRevisionName."""
        for r in self.revisions:
            was = r.healthy
            r.step(outcome_for(r.image), reads_per_step)
            if r.healthy and not was:
                self.promote(r)

    def promote(self, ready: Revision):
        p = self.body["properties"]
        if (p.get("latestRevisionName") or "").lower() != ready.name.lower():
            return
        p["latestReadyRevisionName"] = ready.name
        single = (p["configuration"].get("activeRevisionsMode") or "Single").lower() == "single"
        for r in self.revisions:
            if r is ready:
                r.traffic = 100
            elif single:
                r.traffic, r.active, r.retired = 0, False, True

    def set_image(self, image: str):
        c = self.body["properties"]["template"]["containers"]
        c[0]["image"] = image


class Op:
    """A long-running operation on an app: InProgress for `polls` status/result reads."""

    def __init__(self, op_id: str, app: App, kind: str, polls: int, location: str):
        self.id = op_id
        self.app = app
        self.kind = kind
        self.polls = polls
        self.location = location
        self.start = now_iso()
        self.failed: dict | None = None

    def poll(self) -> str:
        if self.polls > 0:
            self.polls -= 1
            return "InProgress"
        if self.app.busy_op == self.id:
            self.app.busy_op = None
            self.app.body["properties"]["provisioningState"] = "Failed" if self.failed else "Succeeded"
        return "Failed" if self.failed else "Succeeded"


class World:
    def __init__(self, *, base_url: str, login_server: str, sub: str, tenant: str, tag: str):
        self.lock = threading.RLock()
        self.base_url = base_url
        self.login_server = login_server
        self.sub = sub
        self.tenant = tenant
        self.tag = tag
        self.groups: dict[str, dict] = {}
        self.apps: dict[tuple[str, str], App] = {}
        self.envs: dict[tuple[str, str], dict] = {}
        self.registries: dict[tuple[str, str], dict] = {}
        self.identities: dict[tuple[str, str], dict] = {}
        self.role_assignments: dict[str, dict] = {}
        self.ops: dict[str, Op] = {}
        self.console_logs: list[str] = []
        self.system_logs: list[dict] = []
        self.metrics: dict[str, list[dict]] = {}
        self.runs: dict = {}  # ACR Tasks runs by id (tasks.Run)
        self.run_counter = 0

    # -- lookups ------------------------------------------------------------------------------

    def group(self, rg: str) -> dict | None:
        return self.groups.get(rg.lower())

    def app(self, rg: str, name: str) -> App | None:
        return self.apps.get((rg.lower(), name.lower()))

    def env_by_id(self, rid: str) -> dict | None:
        parts = rid.split("/")
        if len(parts) < 9:
            return None
        return self.envs.get((parts[4].lower(), parts[8].lower()))

    def registry_by_name(self, name: str) -> dict | None:
        return next((r for r in self.registries.values() if r["name"].lower() == name.lower()), None)

    # -- builders from the recorded shapes ------------------------------------------------------

    def put_group(self, name: str, location: str, tags=None) -> dict:
        g = {"id": f"/subscriptions/{self.sub}/resourceGroups/{name}", "name": name,
             "type": "Microsoft.Resources/resourceGroups", "location": short_location(location),
             "tags": tags or {}, "properties": {"provisioningState": "Succeeded"}}
        self.groups[name.lower()] = g
        return g

    def put_env(self, rg: str, name: str, location: str) -> dict:
        b = shape("managedenvironment_show")
        b["id"] = f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/Microsoft.App/managedEnvironments/{name}"
        b["name"] = name
        b["location"] = display_location(location)
        b["systemData"] = self.system_data()
        p = b["properties"]
        p["defaultDomain"] = f"{name.lower()}-{self.tag}.{short_location(location)}.azurecontainerapps.io"
        p["eventStreamEndpoint"] = f"{self.base_url}/subscriptions/{self.sub}/resourceGroups/{rg}/managedEnvironments/{name}/eventstream"
        self.envs[(rg.lower(), name.lower())] = b
        return b

    def put_registry(self, rg: str, name: str, location: str, sku="Basic", admin=False, state="Succeeded") -> dict:
        b = shape("acr_registry_show")
        b["id"] = f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}"
        b["name"] = name
        b["location"] = short_location(location)
        b["sku"] = {"name": sku, "tier": sku}
        b["systemData"] = self.system_data()
        p = b["properties"]
        p["loginServer"] = self.login_server
        p["creationDate"] = now_iso()
        p["provisioningState"] = state
        p["adminUserEnabled"] = bool(admin)
        self.registries[(rg.lower(), name.lower())] = b
        return b

    def put_identity(self, rg: str, name: str, location: str) -> dict:
        b = shape("identity_create_put_201")
        b["id"] = f"/subscriptions/{self.sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
        b["name"] = name
        b["location"] = short_location(location)
        b["properties"].update(tenantId=self.tenant, principalId=str(uuid.uuid4()), clientId=str(uuid.uuid4()))
        self.identities[(rg.lower(), name.lower())] = b
        return b

    def system_data(self) -> dict:
        t = now_iso()
        return {"createdBy": "sim@example.com", "createdByType": "User", "createdAt": t,
                "lastModifiedBy": "sim@example.com", "lastModifiedByType": "User", "lastModifiedAt": t}

    def app_body(self, rg: str, name: str, location: str, env_id: str, image: str,
                 registry_server: str | None, identity_id: str | None, target_port: int | None) -> dict:
        """`containerapp_show.json` with this app's values."""
        b = shape("containerapp_show")
        b["id"] = f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/Microsoft.App/containerapps/{name}"
        b["name"] = name
        b["location"] = display_location(location)
        b["systemData"] = self.system_data()
        p = b["properties"]
        p["managedEnvironmentId"] = p["environmentId"] = env_id
        p["latestRevisionName"] = p["latestReadyRevisionName"] = None
        p["eventStreamEndpoint"] = f"{self.base_url}/subscriptions/{self.sub}/resourceGroups/{rg}/containerApps/{name}/eventstream"
        cfg = p["configuration"]
        if target_port is None:
            cfg["ingress"] = None
        else:
            cfg["ingress"]["targetPort"] = target_port
        if registry_server:
            cfg["registries"] = [{"server": registry_server, "username": "", "passwordSecretRef": "",
                                  "identity": identity_id or "system"}]
        else:
            cfg["registries"] = None
        t = p["template"]
        t["revisionSuffix"] = ""
        t["containers"] = [{"image": image, "name": name, "resources": {"cpu": 0.5, "memory": "1Gi", "ephemeralStorage": "2Gi"}}]
        if identity_id:
            ident = self.identities.get((identity_id.split("/")[4].lower(), identity_id.split("/")[-1].lower()))
            props = (ident or {}).get("properties", {})
            b["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {
                identity_id: {"principalId": props.get("principalId", str(uuid.uuid4())),
                              "clientId": props.get("clientId", str(uuid.uuid4()))}}}
        else:
            b["identity"] = {"type": "None"}
        return b

    def add_app(self, rg: str, body: dict, ready: bool) -> App:
        app = App(self, rg, body)
        self.apps[(rg.lower(), app.name.lower())] = app
        if ready:
            r = Revision.ready(app, f"{app.name}--{suffix()}", app.revision_template())
            app.revisions.append(r)
            p = body["properties"]
            p["latestRevisionName"] = p["latestReadyRevisionName"] = r.name
            p["latestRevisionFqdn"] = f"{r.name}.{app.env_domain}"
            if p["configuration"].get("ingress"):
                p["configuration"]["ingress"]["fqdn"] = f"{app.name}.{app.env_domain}"
        return app
