"""The ACR login server: the token exchange az uses (`/v2/` challenge, `/oauth2/exchange`,
`/oauth2/token`), a streaming proxy of `/v2/*` to the real local registry, and the `/acr/v1/*`
metadata API (`acr repository show`, `acr manifest list-metadata`) derived from that registry.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse

from .core import Response, json_response
from .shapes import shape
from .world import now_iso

TOKEN_USER = "00000000-0000-0000-0000-000000000000"
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"])
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
               "authorization", "content-length", "proxy-authorization"}


def unauthorized(sim, scope: str | None = None) -> Response:
    """`acr_v2_ping_401_unauthorized.json` with the Bearer challenge az and docker follow."""
    host = sim.login_server
    challenge = f'Bearer realm="https://{host}/oauth2/token",service="{host}"'
    if scope:
        challenge += f',scope="{scope}"'
    body = (json.dumps(shape("acr_v2_ping_401_unauthorized")) + "\n").encode()
    return Response(401, body, {"WWW-Authenticate": challenge, "Docker-Distribution-Api-Version": "registry/2.0",
                                "Content-Type": "application/json; charset=utf-8"})


def _basic(req) -> tuple[str, str] | None:
    auth = req.header("Authorization")
    if not auth.lower().startswith("basic "):
        return None
    try:
        user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, pw


def _credentials_ok(sim, user: str, pw: str) -> bool:
    """An ACR refresh token (any user, as az's docker login uses the all-zero GUID) or the
    registry's admin user (name + password, `acr credential show`)."""
    if sim.tokens.check(pw, "acr-refresh"):
        return True
    return bool(sim.world.registry_by_name(user)) and pw == sim.upstream_password


def authorized(sim, req) -> bool:
    auth = req.header("Authorization")
    if auth.lower().startswith("bearer "):
        return sim.tokens.check(auth[7:].strip(), "acr-access") is not None
    basic = _basic(req)
    return bool(basic) and _credentials_ok(sim, *basic)


def v2_ping(sim, req):
    if not authorized(sim, req):
        return unauthorized(sim)
    return Response(200, b"{}", {"Docker-Distribution-Api-Version": "registry/2.0",
                                  "Content-Type": "application/json; charset=utf-8"})


def exchange(sim, req):
    """`POST /oauth2/exchange` (grant_type=access_token, service, tenant, access_token): an AAD
    token for this registry becomes an ACR refresh token (`acr_oauth2_exchange.json`)."""
    form = req.form()
    if form.get("grant_type") != "access_token" or not sim.tokens.check(form.get("access_token", ""), "aad"):
        return json_response(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": None}]})
    body = shape("acr_oauth2_exchange")
    body["refresh_token"] = sim.tokens.issue("acr-refresh", {
        "sub": sim.config["object_id"], "iss": "Azure Container Registry", "aud": sim.login_server, "version": "1.0",
        "grant_type": "refresh_token", "tenant": sim.world.tenant, "appid": sim.config["client_id"],
        "permissions": {"actions": ["read", "write", "delete", "metadata/read", "metadata/write", "deleted/read", "deleted/restore/action"]},
        "roles": []}, lifetime=11700)
    return json_response(200, body)


def token(sim, req):
    """`/oauth2/token`: GET with basic auth (docker) or POST grant_type=refresh_token|password
    (az, docker with an identity token) → `{"access_token": …}` for the asked scope."""
    if req.method == "GET":
        basic = _basic(req)
        ok = bool(basic) and _credentials_ok(sim, *basic)
        scope = req.query.get("scope", "")
    else:
        form = req.form()
        grant = form.get("grant_type")
        if grant == "refresh_token":
            ok = sim.tokens.check(form.get("refresh_token", ""), "acr-refresh") is not None
        elif grant == "password":
            ok = _credentials_ok(sim, form.get("username", ""), form.get("password", ""))
        else:
            ok = False
        scope = form.get("scope", "")
    if not ok:
        return json_response(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required, visit https://aka.ms/acr/authorization for more information.", "detail": None}]})
    access = sim.tokens.issue("acr-access", {"iss": "Azure Container Registry", "aud": sim.login_server,
                                             "access": scope, "version": "2.0"}, lifetime=4500)
    return json_response(200, {"access_token": access})


# ---------------------------------------------------------------------------------------------
# /v2/* proxy to the real registry
# ---------------------------------------------------------------------------------------------


def _upstream(sim) -> http.client.HTTPConnection:
    host, _, port = sim.upstream.partition(":")
    return http.client.HTTPConnection(host, int(port or 80), timeout=600)


def _upstream_auth(sim) -> str:
    raw = f"{sim.upstream_user}:{sim.upstream_password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def proxy(sim, req):
    """Any `/v2/<name>/…` request, streamed both ways, with the registry's own credentials;
    `Location` headers are rewritten to this login server."""
    repo_scope = None
    parts = req.path.split("/")
    if len(parts) > 3:
        repo_scope = f"repository:{'/'.join(parts[2:-2]) or parts[2]}:pull,push"
    if not authorized(sim, req) or sim.fault_acr_unauthorized():
        return unauthorized(sim, repo_scope)
    conn = _upstream(sim)
    headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_HEADERS}
    headers["Authorization"] = _upstream_auth(sim)
    headers["Host"] = sim.upstream
    target = req.path + (("?" + req.query_string) if req.query_string else "")
    if req.streams_body:
        conn.putrequest(req.method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for chunk in req.body_chunks():
            if chunk:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    else:
        length = req.header("Content-Length")
        conn.putrequest(req.method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if length:
            conn.putheader("Content-Length", length)
        conn.endheaders()
        for chunk in req.body_chunks():
            conn.send(chunk)
    up = conn.getresponse()
    out_headers = []
    for k, v in up.getheaders():
        if k.lower() in ("connection", "keep-alive", "transfer-encoding"):
            continue
        if k.lower() == "location":
            v = rewrite_location(sim, v)
        out_headers.append((k, v))

    def body():
        try:
            if req.method == "HEAD":
                return
            while True:
                chunk = up.read1(1 << 16) if hasattr(up, "read1") else up.read(1 << 16)
                if not chunk:
                    break
                yield chunk
        finally:
            conn.close()

    if req.method == "HEAD" or up.status in (204, 304):
        up.read()
        conn.close()
        return Response(up.status, b"", out_headers)
    return Response(up.status, headers=out_headers, stream=body())


def rewrite_location(sim, value: str) -> str:
    for prefix in (f"http://{sim.upstream}", f"https://{sim.upstream}"):
        if value.startswith(prefix):
            return f"https://{sim.login_server}" + value[len(prefix):]
    return value


# ---------------------------------------------------------------------------------------------
# /acr/v1/* metadata, read from the real registry
# ---------------------------------------------------------------------------------------------


def _get(sim, path: str, accept: str | None = None) -> tuple[int, dict, bytes]:
    conn = _upstream(sim)
    h = {"Authorization": _upstream_auth(sim)}
    if accept:
        h["Accept"] = accept
    conn.request("GET", path, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def _attrs() -> dict:
    return {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True, "listEnabled": True}


def _manifest(sim, repo: str, ref: str):
    status, h, data = _get(sim, f"/v2/{repo}/manifests/{ref}", MANIFEST_TYPES)
    if status != 200:
        return None
    return h.get("docker-content-digest"), h.get("content-type", ""), json.loads(data), len(data)


def _platform(sim, repo: str, manifest: dict) -> tuple[str | None, str | None]:
    cfg = (manifest.get("config") or {}).get("digest")
    if not cfg:
        return None, None
    status, _, data = _get(sim, f"/v2/{repo}/blobs/{cfg}")
    if status != 200:
        return None, None
    c = json.loads(data)
    return c.get("architecture"), c.get("os")


def _tags(sim, repo: str) -> list[str]:
    status, _, data = _get(sim, f"/v2/{repo}/tags/list")
    return (json.loads(data).get("tags") or []) if status == 200 else []


def _repo_missing(sim, repo: str) -> Response:
    return json_response(404, {"errors": [{"code": "NAME_UNKNOWN", "message": f"repository {repo} is not found", "detail": {"name": repo}}]})


def _acr_auth(sim, req) -> Response | None:
    if not authorized(sim, req):
        return unauthorized(sim)
    return None


def tag_show(sim, req):
    """`GET /acr/v1/{repo}/_tags/{tag}` (`acr repository show --image repo:tag`)."""
    if (e := _acr_auth(sim, req)):
        return e
    repo, tag = urllib.parse.unquote(req.params["repo"]), req.params["tag"]
    m = _manifest(sim, repo, tag)
    if not m:
        return json_response(404, {"errors": [{"code": "TAG_UNKNOWN", "message": f"the specified tag does not exist", "detail": {"name": repo, "tag": tag}}]})
    t = now_iso()
    return json_response(200, {"registry": sim.login_server, "imageName": repo, "tag": {
        "name": tag, "digest": m[0], "createdTime": t, "lastUpdateTime": t, "signed": False,
        "changeableAttributes": _attrs()}})


def tag_list(sim, req):
    if (e := _acr_auth(sim, req)):
        return e
    repo = urllib.parse.unquote(req.params["repo"])
    tags = []
    for tag in _tags(sim, repo):
        m = _manifest(sim, repo, tag)
        if m:
            t = now_iso()
            tags.append({"name": tag, "digest": m[0], "createdTime": t, "lastUpdateTime": t, "signed": False,
                         "changeableAttributes": _attrs()})
    if not tags:
        return _repo_missing(sim, repo)
    return json_response(200, {"registry": sim.login_server, "imageName": repo, "tags": tags})


def _manifest_entries(sim, repo: str) -> list[dict]:
    """Every manifest under the repo's tags; an index's children are listed too (with their
    platform), as ACR lists them."""
    by_digest: dict[str, dict] = {}
    t = now_iso()
    for tag in _tags(sim, repo):
        m = _manifest(sim, repo, tag)
        if not m:
            continue
        digest, ctype, body, size = m
        todo = [(digest, ctype, body, size, tag)]
        for child in body.get("manifests") or []:
            cm = _manifest(sim, repo, child["digest"])
            if cm:
                todo.append((cm[0], cm[1], cm[2], cm[3], None))
        for d, ct, b, sz, tg in todo:
            e = by_digest.setdefault(d, {"digest": d, "imageSize": sz, "createdTime": t, "lastUpdateTime": t,
                                         "mediaType": ct or b.get("mediaType"), "tags": [],
                                         "changeableAttributes": {**_attrs(), "quarantineState": "Passed"}})
            if "config" in b:
                e["configMediaType"] = b["config"].get("mediaType")
                arch, os_ = _platform(sim, repo, b)
                if arch:
                    e["architecture"], e["os"] = arch, os_
            if tg:
                e["tags"].append(tg)
    return list(by_digest.values())


def manifests_list(sim, req):
    """`GET /acr/v1/{repo}/_manifests` (`acr manifest list-metadata`). No recording was
    available: fields follow the ACR data-plane spec's ManifestAttributes."""
    if (e := _acr_auth(sim, req)):
        return e
    repo = urllib.parse.unquote(req.params["repo"])
    entries = _manifest_entries(sim, repo)
    if not entries:
        return _repo_missing(sim, repo)
    return json_response(200, {"registry": sim.login_server, "imageName": repo, "manifests": entries})


def manifest_show(sim, req):
    if (e := _acr_auth(sim, req)):
        return e
    repo, digest = urllib.parse.unquote(req.params["repo"]), req.params["digest"]
    for e in _manifest_entries(sim, repo):
        if e["digest"] == digest:
            return json_response(200, {"registry": sim.login_server, "imageName": repo, "manifest": e})
    return json_response(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"name": repo, "reference": digest}}]})


def repository_show(sim, req):
    if (e := _acr_auth(sim, req)):
        return e
    repo = urllib.parse.unquote(req.params["repo"])
    tags = _tags(sim, repo)
    if not tags:
        return _repo_missing(sim, repo)
    t = now_iso()
    return json_response(200, {"registry": sim.login_server, "imageName": repo, "createdTime": t, "lastUpdateTime": t,
                               "manifestCount": len(_manifest_entries(sim, repo)), "tagCount": len(tags),
                               "changeableAttributes": {**_attrs(), "teleportEnabled": False}})


def catalog(sim, req):
    if (e := _acr_auth(sim, req)):
        return e
    status, _, data = _get(sim, "/v2/_catalog")
    return json_response(200, {"repositories": json.loads(data).get("repositories", []) if status == 200 else []})
