"""Azure Resource Manager handlers: subscriptions, providers, resource groups, Container Apps
(apps, revisions, replicas, operations, auth token), managed environments, registries (control
plane), identities, role assignments/definitions and metrics. Each is `fn(sim, req) -> Response`.
"""

from __future__ import annotations

import copy
import datetime
import json
import urllib.parse
import uuid

from .core import Response, json_response
from .shapes import shape
from .world import App, Op, deep_merge, display_location, now_iso, short_location

LOCATIONS = ["East US", "East US 2", "West US", "West US 2", "West Europe", "North Europe",
             "UK South", "Sweden Central", "Central US"]

# Built-in role definitions az resolves by name (ids are Azure's real built-in ids).
ROLES = {
    "acrpull": ("AcrPull", "7f951dda-4ed3-4680-a7ca-43fe172d538d", "acr pull",
                ["Microsoft.ContainerRegistry/registries/pull/read"]),
    "acrpush": ("AcrPush", "8311e382-0749-4cb8-b61a-304f252e45ec", "acr push",
                ["Microsoft.ContainerRegistry/registries/pull/read", "Microsoft.ContainerRegistry/registries/push/write"]),
    "reader": ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7",
               "View all resources, but does not allow you to make any changes.", ["*/read"]),
    "contributor": ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c",
                    "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.", ["*"]),
}

# ---------------------------------------------------------------------------------------------
# Errors (ARM shapes: error_404_*.json; the others follow the same envelope)
# ---------------------------------------------------------------------------------------------


def arm_error(status: int, code: str, message: str, headers=None) -> Response:
    h = {"x-ms-failure-cause": "gateway"} if status == 404 else {}
    h.update(headers or {})
    return json_response(status, {"error": {"code": code, "message": message}}, h)


def resource_not_found(rtype: str, name: str, rg: str) -> Response:
    body = shape("error_404_containerapp_not_found")
    body["error"]["message"] = (f"The Resource '{rtype}/{name}' under resource group '{rg}' was not found. "
                                "For more details please go to https://aka.ms/ARMResourceNotFoundFix")
    return json_response(404, body, {"x-ms-failure-cause": "gateway"})


def rg_not_found(rg: str) -> Response:
    return arm_error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")


def check_scope(sim, req) -> Response | None:
    """Subscription and resource group must exist (in that order, as ARM checks)."""
    sub = req.params.get("sub")
    if sub and sub.lower() != sim.world.sub.lower():
        return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    rg = req.params.get("rg")
    if rg and not sim.world.group(rg):
        return rg_not_found(rg)
    return None


def api_version(req) -> str:
    return req.query.get("api-version", "2025-07-01")


# ---------------------------------------------------------------------------------------------
# Subscriptions, providers, generic resources, resource groups
# ---------------------------------------------------------------------------------------------


def subscription_body(sim) -> dict:
    w = sim.world
    return {"id": f"/subscriptions/{w.sub}", "authorizationSource": "RoleBased", "managedByTenants": [],
            "subscriptionId": w.sub, "tenantId": w.tenant, "displayName": sim.config["subscription_name"],
            "state": "Enabled", "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                         "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}


def list_subscriptions(sim, req):
    return json_response(200, {"value": [subscription_body(sim)], "count": {"type": "Total", "value": 1}})


def get_subscription(sim, req):
    return check_scope(sim, req) or json_response(200, subscription_body(sim))


def provider_body(sim, ns: str) -> dict:
    types = {"microsoft.app": ["containerApps", "managedEnvironments", "locations", "operations",
                               "locations/containerappOperationStatuses", "locations/containerappOperationResults"],
             "microsoft.containerregistry": ["registries", "registries/runs", "registries/scheduleRun"],
             "microsoft.managedidentity": ["userAssignedIdentities"],
             "microsoft.operationalinsights": ["workspaces"]}.get(ns.lower(), [])
    state = sim.provider_state.get(ns.lower(), "Registered")
    return {"id": f"/subscriptions/{sim.world.sub}/providers/{ns}", "namespace": ns,
            "authorizations": [], "resourceTypes": [
                {"resourceType": t, "locations": LOCATIONS, "apiVersions": ["2025-07-01", "2025-01-01", "2024-03-01"],
                 "capabilities": "None"} for t in types],
            "registrationState": state, "registrationPolicy": "RegistrationRequired"}


def get_provider(sim, req):
    return check_scope(sim, req) or json_response(200, provider_body(sim, req.params["ns"]))


def register_provider(sim, req):
    sim.provider_state[req.params["ns"].lower()] = "Registered"
    return json_response(200, provider_body(sim, req.params["ns"]))


def list_resources(sim, req):
    """`GET /subscriptions/{sub}/resources?$filter=resourceType eq '…'` (what `acr show` uses)."""
    if (e := check_scope(sim, req)):
        return e
    flt = urllib.parse.unquote(req.query.get("$filter", "")).lower()
    out = []
    w = sim.world
    for r in w.registries.values():
        out.append({"id": r["id"], "name": r["name"], "type": r["type"], "sku": r["sku"],
                    "location": r["location"], "tags": r.get("tags", {})})
    for app in w.apps.values():
        out.append({"id": app.body["id"], "name": app.name, "type": "Microsoft.App/containerApps",
                    "location": short_location(app.body["location"]), "tags": {}})
    if "resourcetype eq" in flt:
        want = flt.split("resourcetype eq", 1)[1].strip().split("'")[1]
        out = [r for r in out if r["type"].lower() == want]
    return json_response(200, {"value": out})


def group(sim, req):
    sub = req.params["sub"]
    if sub.lower() != sim.world.sub.lower():
        return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    name = req.params["rg"]
    w = sim.world
    if req.method == "PUT":
        body = req.json() or {}
        existed = w.group(name) is not None
        g = w.put_group(name, body.get("location", "eastus"), body.get("tags"))
        return json_response(200 if existed else 201, g)
    g = w.group(name)
    if req.method == "HEAD":
        return Response(204 if g else 404)
    if req.method == "DELETE":
        if not g:
            return rg_not_found(name)
        del w.groups[name.lower()]
        return Response(202, headers={"Location": f"{sim.base_url}/subscriptions/{sub}/operationresults/{uuid.uuid4()}?api-version={api_version(req)}", "Retry-After": "0"})
    return json_response(200, g) if g else rg_not_found(name)


def list_groups(sim, req):
    return check_scope(sim, req) or json_response(200, {"value": list(sim.world.groups.values())})


# ---------------------------------------------------------------------------------------------
# Container Apps
# ---------------------------------------------------------------------------------------------


def _app(sim, req) -> tuple[App | None, Response | None]:
    if (e := check_scope(sim, req)):
        return None, e
    app = sim.world.app(req.params["rg"], req.params["app"])
    if not app:
        return None, resource_not_found("Microsoft.App/containerApps", req.params["app"], req.params["rg"])
    return app, None


def _read(sim, app: App, render):
    """Renders, then lets the app's revisions advance one read."""
    out = render()
    app.tick(sim.revision_outcome, int(sim.scenario().get("reads_per_step", 1)))
    return out


def app_get(sim, req):
    app, err = _app(sim, req)
    if err:
        return err
    return json_response(200, _read(sim, app, lambda: copy.deepcopy(app.body)))


def _new_op(sim, req, app: App, kind: str) -> Op:
    op_id = str(uuid.uuid4())
    loc = short_location(app.body["location"])
    base = f"{sim.base_url}/subscriptions/{sim.world.sub}/providers/Microsoft.App/locations/{loc}"
    sig = f"t={638000000000000000 + len(sim.world.ops)}&c=sim&s=sim&h=sim"
    op = Op(op_id, app, kind, int(sim.scenario().get("operation_polls", 1)),
            f"{base}/containerappOperationResults/{op_id}?api-version={api_version(req)}&{sig}")
    op.status_url = f"{base}/containerappOperationStatuses/{op_id}?api-version={api_version(req)}&azureAsyncOperation=true&{sig}"
    sim.world.ops[op_id] = op
    app.busy_op = op_id
    app.body["properties"]["provisioningState"] = "InProgress"
    return op


def _template_changed(before: dict, after: dict) -> bool:
    keys = ("containers", "initContainers", "scale", "volumes", "revisionSuffix", "serviceBinds",
            "terminationGracePeriodSeconds")
    return any(json.dumps(before.get(k), sort_keys=True) != json.dumps(after.get(k), sort_keys=True) for k in keys)


def app_patch(sim, req):
    """`containerapp update`: 202, empty body, Azure-AsyncOperation + Location, Retry-After 0; a
    changed template makes a new revision."""
    app, err = _app(sim, req)
    if err:
        return err
    patch = req.json() or {}
    before = copy.deepcopy(app.body["properties"]["template"])
    deep_merge(app.body, {k: v for k, v in patch.items() if k in ("properties", "tags", "identity")})
    # Ingress switched on (again): Azure gives it the app's FQDN, which az prints.
    ingress = app.body["properties"].get("configuration", {}).get("ingress")
    if ingress and not ingress.get("fqdn"):
        ingress["fqdn"] = f"{app.name}.{app.env_domain}"
    after = app.body["properties"]["template"]
    if _template_changed(before, after):
        app.new_revision(sim.revision_outcome(after["containers"][0].get("image")), sim.scenario().get("provisioning_error"))
    op = _new_op(sim, req, app, "update")
    return Response(202, headers={"Azure-AsyncOperation": op.status_url, "Location": op.location,
                                  "Retry-After": "0", "x-ms-async-operation-timeout": "PT15M"})


def app_put(sim, req):
    """`containerapp create`: 201 with the object InProgress and Azure-AsyncOperation."""
    if (e := check_scope(sim, req)):
        return e
    w = sim.world
    rg, name = req.params["rg"], req.params["app"]
    body = req.json() or {}
    props = body.get("properties") or {}
    env_id = props.get("managedEnvironmentId") or props.get("environmentId") or ""
    if not w.env_by_id(env_id):
        parts = env_id.split("/")
        return resource_not_found("Microsoft.App/managedEnvironments", parts[-1] if parts else env_id,
                                  parts[4] if len(parts) > 4 else rg)
    existing = w.app(rg, name)
    containers = (props.get("template") or {}).get("containers") or [{}]
    ingress = (props.get("configuration") or {}).get("ingress")
    regs = (props.get("configuration") or {}).get("registries") or []
    app_body = w.app_body(rg, name, body.get("location") or "eastus", env_id, containers[0].get("image", ""),
                          regs[0].get("server") if regs else None, None,
                          ingress.get("targetPort") if ingress else None)
    deep_merge(app_body, {"properties": props, "identity": body.get("identity"), "tags": body.get("tags")})
    app_body["location"] = display_location(body.get("location") or "eastus")
    if app_body["properties"]["configuration"].get("ingress"):
        app_body["properties"]["configuration"]["ingress"].setdefault("fqdn", None)
    if existing:
        existing.body = app_body
        app = existing
    else:
        app = w.add_app(rg, app_body, ready=False)
    if app_body["properties"]["configuration"].get("ingress"):
        app_body["properties"]["configuration"]["ingress"]["fqdn"] = f"{name}.{app.env_domain}"
    app.new_revision(sim.revision_outcome(containers[0].get("image")), sim.scenario().get("provisioning_error"))
    op = _new_op(sim, req, app, "create")
    first = shape("containerapp_create_put_201")
    first.update({k: copy.deepcopy(app.body[k]) for k in ("id", "name", "location", "systemData")})
    first["properties"] = copy.deepcopy(app.body["properties"])
    for k in ("latestRevisionName", "latestReadyRevisionName", "latestRevisionFqdn", "runningStatus", "eventStreamEndpoint"):
        first["properties"].pop(k, None)
    first["properties"]["provisioningState"] = "InProgress"
    return json_response(201 if not existing else 200, first,
                         {"Azure-AsyncOperation": op.status_url, "x-ms-async-operation-timeout": "PT15M"})


def app_delete(sim, req):
    app, err = _app(sim, req)
    if err:
        return Response(204) if err.status == 404 else err
    del sim.world.apps[(app.rg.lower(), app.name.lower())]
    op = _new_op(sim, req, app, "delete")
    return Response(202, headers={"Location": op.location, "Retry-After": "0"})


def list_apps(sim, req):
    if (e := check_scope(sim, req)):
        return e
    rg = req.params.get("rg")
    apps = [a for a in sim.world.apps.values() if not rg or a.rg.lower() == rg.lower()]
    return json_response(200, {"value": [copy.deepcopy(a.body) for a in apps]})


def op_status(sim, req):
    """`…/containerappOperationStatuses/{id}`: InProgress, then Succeeded (recorded bodies)."""
    op = sim.world.ops.get(req.params["op"])
    if not op:
        return arm_error(404, "NotFound", "Operation not found")
    status = op.poll()
    body = shape("containerapp_operationstatus_inprogress" if status == "InProgress" else "containerapp_operationstatus_succeeded")
    body.update(id=f"/subscriptions/{sim.world.sub}/providers/Microsoft.App/locations/{req.params['loc']}/containerappOperationStatuses/{op.id}",
                name=op.id, status=status, startTime=op.start)
    if status == "Failed":
        body["error"] = op.failed
    return json_response(200, body, {"Retry-After": "0"})


def op_result(sim, req):
    """`…/containerappOperationResults/{id}`: 202 empty while running, then 200 with the app
    (204 for a delete)."""
    op = sim.world.ops.get(req.params["op"])
    if not op:
        return arm_error(404, "NotFound", "Operation not found")
    if op.poll() == "InProgress":
        return Response(202, headers={"Location": op.location, "Retry-After": "0"})
    if op.kind == "delete":
        return Response(204)
    return json_response(200, copy.deepcopy(op.app.body))


def revisions_list(sim, req):
    app, err = _app(sim, req)
    if err:
        return err
    return json_response(200, _read(sim, app, lambda: {"value": [r.body() for r in app.revisions]}))


def revision_get(sim, req):
    """One revision; a missing one is ARM's 404 for a nested resource
    (`'Microsoft.App/containerApps/{app}/revisions/{rev}'`): the service's own answer for a missing
    revision was not recorded."""
    app, err = _app(sim, req)
    if err:
        return err
    rev = app.revision(req.params["rev"])
    if not rev:
        return resource_not_found("Microsoft.App/containerApps", f"{app.name}/revisions/{req.params['rev']}", app.rg)
    return json_response(200, _read(sim, app, rev.body))


def _replica(sim, app: App, rev, n: int) -> dict:
    """One entry of `containerapp_replica_list.json`, pointing at this simulator's log stream."""
    item = copy.deepcopy(shape("containerapp_replica_list")["value"][0])
    name = f"{rev.name}-{abs(hash(rev.name)) % 10**10:010d}-{n:05d}"[:63]
    item["id"] = f"{app.rid_upper}/revisions/{rev.name}/replicas/{name}"
    item["name"] = name
    p = item["properties"]
    p["createdTime"] = rev.created.replace("+00:00", "Z")
    prov, health, running, replicas = rev.state()
    p["runningState"] = "Running" if running == "Running" else "NotRunning"
    p["runningStateDetails"] = "" if running == "Running" else f"Revision {rev.name} is {running}."
    base = f"{sim.base_url}/subscriptions/{sim.world.sub}/resourceGroups/{app.rg}/containerApps/{app.name}/revisions/{rev.name}/replicas/{name}"
    containers = []
    for c in rev.template.get("containers") or []:
        entry = copy.deepcopy(p["containers"][0])
        entry.update(name=c["name"], ready=running == "Running", started=replicas > 0,
                     restartCount=0 if running != "ActivationFailed" else 5,
                     runningState="Running" if running == "Running" else "Waiting",
                     logStreamEndpoint=f"{base}/containers/{c['name']}/logstream",
                     execEndpoint=f"{base.replace('https://', 'wss://')}/containers/{c['name']}/exec")
        containers.append(entry)
    p["containers"] = containers
    return item


def replicas_list(sim, req):
    app, err = _app(sim, req)
    if err:
        return err
    rev = app.revision(req.params["rev"])
    if not rev:
        return resource_not_found("Microsoft.App/containerApps", f"{app.name}/revisions/{req.params['rev']}", app.rg)
    _, _, running, replicas = rev.state()
    return json_response(200, _read(sim, app, lambda: {"value": [_replica(sim, app, rev, i) for i in range(replicas or (1 if running == "ActivationFailed" else 0))]}))


def replica_get(sim, req):
    app, err = _app(sim, req)
    if err:
        return err
    rev = app.revision(req.params["rev"])
    if rev:
        for i in range(3):
            r = _replica(sim, app, rev, i)
            if r["name"] == req.params["replica"]:
                return json_response(200, r)
    return resource_not_found("Microsoft.App/containerApps", f"{app.name}/revisions/{req.params['rev']}/replicas/{req.params['replica']}", req.params["rg"])


def get_auth_token(sim, req):
    """`containerapp_getauthtoken.json`: a token for the log stream (1 hour)."""
    app, err = _app(sim, req)
    if err:
        return err
    b = shape("containerapp_getauthtoken")
    b["location"] = app.body["location"]
    b["id"] = app.body["id"]
    b["name"] = app.name
    token = sim.tokens.issue("logstream", {"iss": "AzureContainerApps", "capp_name": app.name, "capp_rg": app.rg})
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    b["properties"] = {"token": token, "expires": expires.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")}
    return json_response(200, b)


def list_secrets(sim, req):
    """No recording: `{"value": [{"name", "value"}]}` as the REST spec's ContainerAppSecret list
    (az calls it before any update that rewrites `configuration`: ingress enable/disable,
    registry set). The sim's apps keep their secrets in `configuration.secrets`."""
    app, err = _app(sim, req)
    if err:
        return err
    secrets = app.body["properties"].get("configuration", {}).get("secrets") or []
    return json_response(200, {"value": [{"name": s.get("name"), "value": s.get("value")} for s in secrets]})


# ---------------------------------------------------------------------------------------------
# Managed environments
# ---------------------------------------------------------------------------------------------


def env_get(sim, req):
    if (e := check_scope(sim, req)):
        return e
    env = sim.world.envs.get((req.params["rg"].lower(), req.params["env"].lower()))
    if not env:
        body = shape("error_404_managedenvironment_not_found")
        body["error"]["message"] = (f"The Resource 'Microsoft.App/managedEnvironments/{req.params['env']}' under resource group "
                                    f"'{req.params['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")
        return json_response(404, body, {"x-ms-failure-cause": "gateway"})
    return json_response(200, copy.deepcopy(env))


def env_put(sim, req):
    """`containerapp env create`: 201 + Azure-AsyncOperation (az refuses a 201 without it), as
    for apps; the status answers Succeeded (the environment is ready at once)."""
    if (e := check_scope(sim, req)):
        return e
    body = req.json() or {}
    existed = (req.params["rg"].lower(), req.params["env"].lower()) in sim.world.envs
    loc = body.get("location") or "eastus"
    env = sim.world.put_env(req.params["rg"], req.params["env"], loc)
    first = copy.deepcopy(env)
    first["properties"]["provisioningState"] = "InProgress"
    op_id = str(uuid.uuid4())
    url = (f"{sim.base_url}/subscriptions/{sim.world.sub}/providers/Microsoft.App/locations/{short_location(loc)}"
           f"/managedEnvironmentOperationStatuses/{op_id}?api-version={api_version(req)}&azureAsyncOperation=true")
    return json_response(200 if existed else 201, first, {"Azure-AsyncOperation": url, "Retry-After": "0"})


def env_op_status(sim, req):
    """`…/managedEnvironmentOperationStatuses/{id}`: the container-app status body, Succeeded."""
    body = shape("containerapp_operationstatus_succeeded")
    body.update(id=req.path, name=req.params["op"], status="Succeeded", startTime=now_iso())
    return json_response(200, body, {"Retry-After": "0"})


def list_envs(sim, req):
    if (e := check_scope(sim, req)):
        return e
    rg = req.params.get("rg")
    envs = [v for (g, _), v in sim.world.envs.items() if not rg or g == rg.lower()]
    return json_response(200, {"value": copy.deepcopy(envs)})


# ---------------------------------------------------------------------------------------------
# Registries (control plane)
# ---------------------------------------------------------------------------------------------


def registry_get(sim, req):
    if (e := check_scope(sim, req)):
        return e
    r = sim.world.registries.get((req.params["rg"].lower(), req.params["name"].lower()))
    if not r:
        return resource_not_found("Microsoft.ContainerRegistry/registries", req.params["name"], req.params["rg"])
    return json_response(200, copy.deepcopy(r))


def registry_put(sim, req):
    """`acr create`: 201 Creating + Azure-AsyncOperation; the status answers Succeeded."""
    if (e := check_scope(sim, req)):
        return e
    body = req.json() or {}
    rg, name = req.params["rg"], req.params["name"]
    r = sim.world.put_registry(rg, name, body.get("location") or "eastus",
                               (body.get("sku") or {}).get("name", "Basic"),
                               (body.get("properties") or {}).get("adminUserEnabled", False))
    first = copy.deepcopy(r)
    first["properties"]["provisioningState"] = "Creating"
    op = f"registries-{uuid.uuid4()}"
    url = f"{sim.base_url}{r['id']}/operationStatuses/{op}?api-version={api_version(req)}&t=638000000000000000&c=sim&s=sim&h=sim"
    return json_response(201, first, {"Azure-AsyncOperation": url, "Retry-After": "0"})


def registry_op_status(sim, req):
    return json_response(200, shape("acr_registry_create_operationstatus"))


def registry_list_credentials(sim, req):
    r = sim.world.registries.get((req.params["rg"].lower(), req.params["name"].lower()))
    if not r:
        return resource_not_found("Microsoft.ContainerRegistry/registries", req.params["name"], req.params["rg"])
    if not r["properties"].get("adminUserEnabled"):
        return arm_error(400, "AdminUserDisabled", "Admin user is disabled.")
    b = shape("acr_listcredentials")
    b["username"] = r["name"]
    for p in b.get("passwords", []):
        p["value"] = sim.upstream_password
    return json_response(200, b)


def list_registries(sim, req):
    if (e := check_scope(sim, req)):
        return e
    rg = req.params.get("rg")
    regs = [v for (g, _), v in sim.world.registries.items() if not rg or g == rg.lower()]
    return json_response(200, {"value": copy.deepcopy(regs)})


# ---------------------------------------------------------------------------------------------
# Identities, role assignments, role definitions
# ---------------------------------------------------------------------------------------------


def identity(sim, req):
    if (e := check_scope(sim, req)):
        return e
    key = (req.params["rg"].lower(), req.params["name"].lower())
    if req.method == "PUT":
        existed = key in sim.world.identities
        body = req.json() or {}
        ident = sim.world.identities.get(key) or sim.world.put_identity(req.params["rg"], req.params["name"], body.get("location") or "eastus")
        return json_response(200 if existed else 201, ident, {"Location": ident["id"]})
    ident = sim.world.identities.get(key)
    if not ident:
        return resource_not_found("Microsoft.ManagedIdentity/userAssignedIdentities", req.params["name"], req.params["rg"])
    return json_response(200, ident)


def role_definition(sim, name: str) -> dict | None:
    role = ROLES.get(name.lower()) or next((r for r in ROLES.values() if r[1] == name.lower()), None)
    if not role:
        return None
    b = copy.deepcopy(shape("role_definitions_list_by_name_2020")["value"][0])
    b["properties"].update(roleName=role[0], description=role[2])
    b["properties"]["permissions"][0]["actions"] = role[3]
    b["id"] = f"/subscriptions/{sim.world.sub}/providers/Microsoft.Authorization/roleDefinitions/{role[1]}"
    b["name"] = role[1]
    return b


def role_definitions(sim, req):
    flt = urllib.parse.unquote(req.query.get("$filter", ""))
    if "roleName eq" in flt:
        d = role_definition(sim, flt.split("'")[1])
        return json_response(200, {"value": [d] if d else []})
    return json_response(200, {"value": [role_definition(sim, k) for k in ROLES]})


def role_definition_get(sim, req):
    d = role_definition(sim, req.params["id"])
    return json_response(200, d) if d else arm_error(404, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist." % req.params["id"])


def role_assignment(sim, req):
    scope, rid = req.params["scope"], req.params["id"]
    key = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{rid}".lower()
    if req.method == "PUT":
        props = (req.json() or {}).get("properties") or {}
        for existing in sim.world.role_assignments.values():
            p = existing["properties"]
            if (p["principalId"], p["roleDefinitionId"].lower(), p["scope"].lower()) == (props.get("principalId"), (props.get("roleDefinitionId") or "").lower(), scope.lower()):
                return arm_error(409, "RoleAssignmentExists", "The role assignment already exists.")
        b = shape("role_assignment_create_put_201_2020")
        t = now_iso()
        b["properties"].update(roleDefinitionId=props.get("roleDefinitionId"), principalId=props.get("principalId"),
                               principalType=props.get("principalType", "ServicePrincipal"), scope=scope,
                               createdOn=t, updatedOn=t, updatedBy=sim.config["client_id"])
        b["id"] = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{rid}"
        b["name"] = rid
        sim.world.role_assignments[key] = b
        return json_response(201, b)
    if req.method == "DELETE":
        b = sim.world.role_assignments.pop(key, None)
        return json_response(200, b) if b else Response(204)
    b = sim.world.role_assignments.get(key)
    return json_response(200, b) if b else arm_error(404, "RoleAssignmentNotFound", f"The role assignment '{rid}' is not found.")


def role_assignments_list(sim, req):
    scope = req.params.get("scope") or f"/subscriptions/{sim.world.sub}"
    flt = urllib.parse.unquote(req.query.get("$filter", ""))
    out = [b for b in sim.world.role_assignments.values()
           if b["properties"]["scope"].lower().startswith(scope.lower()) or scope.lower().startswith(b["properties"]["scope"].lower())]
    if "principalId eq" in flt:
        pid = flt.split("principalId eq", 1)[1].split("'")[1]
        out = [b for b in out if b["properties"]["principalId"] == pid]
    return json_response(200, {"value": out})


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

METRIC_UNITS = {"UsageNanoCores": "NanoCores", "WorkingSetBytes": "Bytes", "RestartCount": "Count",
                "Requests": "Count", "Replicas": "Count", "CpuPercentage": "Percent",
                "MemoryPercentage": "Percent", "RxBytes": "Bytes", "TxBytes": "Bytes"}


def _unquote_fully(s: str) -> str:
    for _ in range(3):
        if "%" not in s:
            break
        s = urllib.parse.unquote(s)
    return s


def metrics(sim, req):
    """`monitor metrics list`: the recorded envelope; each metric's `timeseries` from the world's
    metrics (`[]` when none, as in every recording). Aggregation keys only where asked for."""
    resource = req.params["resource"]
    names = [n for n in _unquote_fully(req.query.get("metricnames", "")).split(",") if n]
    aggs = [a.strip().lower() for a in _unquote_fully(req.query.get("aggregation", "Average")).split(",") if a.strip()]
    timespan = _unquote_fully(req.query.get("timespan", ""))
    env = shape("monitor_metrics_list_empty_timeseries")
    template = env["value"][0]
    env.update(cost=0, timespan=timespan or env["timespan"], interval=req.query.get("interval", "PT1M"),
               namespace=req.query.get("metricnamespace", "Microsoft.App/containerApps"),
               resourceregion="eastus")
    out = []
    for n in names:
        m = copy.deepcopy(template)
        m.update(id=f"{resource}/providers/Microsoft.Insights/metrics/{n}", name={"value": n, "localizedValue": n},
                 displayDescription=f"{n} of the container app", unit=METRIC_UNITS.get(n, "Count"))
        points = sim.world.metrics.get(n)
        if points:
            data = [{"timeStamp": p.get("timeStamp") or p.get("t"), **{k: v for k, v in p.items() if k in aggs}} for p in points]
            m["timeseries"] = [{"metadatavalues": [], "data": data}]
        out.append(m)
    env["value"] = out
    return json_response(200, env)
