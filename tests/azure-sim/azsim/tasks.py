"""ACR Tasks (`az acr build`) and the blob storage it talks to.

What `az acr build CONTEXT` does (azure-cli 2.91, `acr/build.py`, `_archive_utils.py`,
`_stream_utils.py`), and what answers it here:

1. packs the context into a tar.gz (the Dockerfile added at the root as `<uuid>_<name>`) and
   `POST …/registries/{name}/listBuildSourceUploadUrl` → `{uploadUrl, relativePath}` (the REST
   spec's example shape: no recording had it);
2. uploads the archive to `uploadUrl` with the storage SDK (`BlobClient.upload_blob`: one
   `PUT` with `x-ms-blob-type: BlockBlob`, or staged blocks for large archives);
3. `POST …/scheduleRun` with a `DockerBuildRequest` (imageNames, isPushEnabled, platform,
   dockerFilePath, arguments, sourceLocation = relativePath) → 200 with the run, `Queued`
   (recorded: `acr_schedulerun_200.json`);
4. `POST …/runs/{runId}/listLogSasUrl` → `{logLink}` (spec example shape) and streams that
   blob: `HEAD` (size and metadata), `GET` with `x-ms-range` for what is new, again and again
   until the blob's metadata has `Complete` (its value is the run's status; `Failed` makes az
   say `ERROR: Run failed` and exit 1). az sleeps 1–3 s between `HEAD`s that bring nothing new,
   so a `HEAD` here waits (up to `LOG_HOLD` s) for new log text or the end: the same bytes
   reach az, without the sleeps.

The run really builds: the uploaded context is unpacked and built with the local
`docker buildx build --platform <requested> --provenance=false --sbom=false --push` into the
real registry behind the login server (so `acr repository show` and `acr manifest
list-metadata` answer from what was built). buildx's output is the run's log, between the lines
ACR Tasks writes around a build (their wording follows Microsoft's published run logs:
"Executing step ID: build", "Run ID: ca1 was successful after 3s", "Run ID: ca1 failed after
3s. Error: failed during run, err: exit status 1"). `GET …/runs/{runId}` answers the recorded
Run shapes (`acr_run_get_*.json`): Queued, Running, then Succeeded with `outputImages` (the
registry's digests) or Failed with `runErrorMessage`. Local tags buildx leaves in the engine's
image store are removed when the run ends; the registry keeps what was pushed, as ACR does.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import threading
import time
import urllib.parse
import uuid

from . import acr
from .core import Response, json_response
from .shapes import shape
from .world import now_iso

ACCOUNT = "azsimstore"
CONTAINER = "registrycontainer"
# How long a HEAD of a log blob waits for new text before answering with what there is.
LOG_HOLD = 5.0


# ---------------------------------------------------------------------------------------------
# Blob storage (the parts of the Blob service REST API the storage SDK uses here)
# ---------------------------------------------------------------------------------------------


class Blob:
    def __init__(self, kind: str = "BlockBlob"):
        self.data = bytearray()
        self.kind = kind
        self.metadata: dict[str, str] = {}
        self.blocks: dict[str, bytes] = {}
        self.created = time.time()
        self.modified = time.time()
        self.served = 0  # the furthest byte a ranged GET handed out (for the HEAD hold)
        self.etag = self._etag()

    def _etag(self) -> str:
        return '"0x8D%s"' % hashlib.sha1(f"{id(self)}{len(self.data)}{self.modified}".encode()).hexdigest()[:13].upper()

    def touch(self):
        self.modified = time.time()
        self.etag = self._etag()

    @property
    def complete(self) -> bool:
        return any(k.lower() == "complete" for k in self.metadata)


class Storage:
    """Blobs by `container/name`, SAS signatures it issued, one condition for waiting readers."""

    def __init__(self):
        self.cond = threading.Condition()
        self.blobs: dict[str, Blob] = {}
        self.sigs: set[str] = set()

    def sas_url(self, sim, container: str, name: str, perms: str) -> str:
        sig = base64.b64encode(secrets.token_bytes(32)).decode()
        with self.cond:
            self.sigs.add(sig)
        now = time.time()
        q = urllib.parse.urlencode({"sv": "2023-11-03", "st": _iso(now - 300), "se": _iso(now + 3600), "sr": "b",
                                    "sp": perms, "spr": "https", "sig": sig})
        return f"{sim.base_url}/{ACCOUNT}/{container}/{name}?{q}"

    def append(self, key: str, text: str) -> None:
        with self.cond:
            b = self.blobs.setdefault(key, Blob("AppendBlob"))
            b.data += text.encode()
            b.touch()
            self.cond.notify_all()

    def finish(self, key: str, status: str) -> None:
        with self.cond:
            b = self.blobs.setdefault(key, Blob("AppendBlob"))
            b.metadata["Complete"] = status
            b.touch()
            self.cond.notify_all()

    def read(self, key: str) -> bytes:
        with self.cond:
            b = self.blobs.get(key)
            return bytes(b.data) if b else b""


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _storage_error(status: int, code: str, message: str) -> Response:
    rid = str(uuid.uuid4())
    body = (f'\ufeff<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
            f'RequestId:{rid}\nTime:{now_iso()}</Message></Error>')
    return Response(status, body.encode(), {"x-ms-error-code": code, "x-ms-request-id": rid,
                                            "x-ms-version": "2023-11-03", "Content-Type": "application/xml"})


def _blob_headers(b: Blob) -> dict:
    h = {"ETag": b.etag, "Last-Modified": email.utils.formatdate(b.modified, usegmt=True),
         "x-ms-creation-time": email.utils.formatdate(b.created, usegmt=True),
         "x-ms-blob-type": b.kind, "x-ms-lease-status": "unlocked", "x-ms-lease-state": "available",
         "x-ms-server-encrypted": "true", "x-ms-version": "2023-11-03", "Accept-Ranges": "bytes",
         "Date": email.utils.formatdate(usegmt=True)}
    for k, v in b.metadata.items():
        h[f"x-ms-meta-{k}"] = v
    return h


def blob(sim, req):
    """`PUT` (whole blob, a block, a block list), `HEAD`, `GET` (ranged) of
    `/{ACCOUNT}/{container}/{blob}?<SAS>`. Runs outside the world's lock: a HEAD may wait."""
    st: Storage = sim.storage
    if req.query.get("sig") not in st.sigs:
        return _storage_error(403, "AuthenticationFailed",
                              "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
    key = f"{req.params['container']}/{urllib.parse.unquote(req.params['blob'])}"
    comp = req.query.get("comp")
    if req.method == "PUT":
        data = req.body()
        with st.cond:
            if comp == "block":
                b = st.blobs.setdefault(key, Blob())
                b.blocks[req.query.get("blockid", "")] = bytes(data)
                return Response(201, b"", {"x-ms-request-server-encrypted": "true", "x-ms-version": "2023-11-03"})
            if comp == "blocklist":
                b = st.blobs.setdefault(key, Blob())
                ids = re.findall(r"<(?:Latest|Committed|Uncommitted)>([^<]+)</", data.decode())
                b.data = bytearray(b"".join(b.blocks.get(i, b"") for i in ids))
                b.blocks = {}
            else:
                b = Blob()
                b.data = bytearray(data)
                st.blobs[key] = b
            b.touch()
            st.cond.notify_all()
            md5 = base64.b64encode(hashlib.md5(bytes(b.data)).digest()).decode()
            return Response(201, b"", {"ETag": b.etag, "Last-Modified": email.utils.formatdate(b.modified, usegmt=True),
                                       "Content-MD5": md5, "x-ms-request-server-encrypted": "true",
                                       "x-ms-version": "2023-11-03"})
    with st.cond:
        b = st.blobs.get(key)
        if b is None:
            return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        if req.method == "HEAD":
            st.cond.wait_for(lambda: b.complete or len(b.data) > b.served, timeout=LOG_HOLD)
            return Response(200, b"", {**_blob_headers(b), "Content-Length": str(len(b.data)),
                                       "Content-Type": "application/octet-stream"})
        size = len(b.data)
        rng = req.header("x-ms-range") or req.header("Range")
        m = re.match(r"bytes=(\d+)-(\d*)", rng or "")
        if not m:
            return Response(200, bytes(b.data), {**_blob_headers(b), "Content-Type": "application/octet-stream"})
        start = int(m.group(1))
        end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        if start >= size:
            return _storage_error(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
        b.served = max(b.served, end + 1)
        chunk = bytes(b.data[start:end + 1])
        return Response(206, chunk, {**_blob_headers(b), "Content-Range": f"bytes {start}-{end}/{size}",
                                     "Content-Type": "application/octet-stream"})


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


class Run:
    def __init__(self, run_id: str, registry: dict, request: dict):
        self.id = run_id
        self.registry = registry
        self.request = request
        self.status = "Queued"
        self.created = now_iso()
        self.started: str | None = None
        self.finished: str | None = None
        self.error: str | None = None
        self.output_images: list[dict] = []
        self.log_key = f"{CONTAINER}/logs/{run_id}/rawtext.log"
        self.proc: subprocess.Popen | None = None

    def body(self) -> dict:
        """The recorded Run for this run's status."""
        name = {"Queued": "acr_run_get_queued", "Failed": "acr_run_get_failed"}.get(self.status, "acr_run_get_succeeded")
        b = shape(name)
        b["id"] = f"{self.registry['id']}/runs/{self.id}"
        b["name"] = self.id
        p = b["properties"]
        plat = self.request.get("platform") or {"os": "linux", "architecture": "amd64"}
        p.update(runId=self.id, status=self.status, lastUpdatedTime=now_iso(micro=False), createTime=self.created,
                 platform={k: v for k, v in plat.items() if v})
        for k, v in (("startTime", self.started), ("finishTime", self.finished)):
            if v:
                p[k] = v
            else:
                p.pop(k, None)
        if self.status == "Succeeded":
            p["outputImages"] = copy.deepcopy(self.output_images)
        else:
            p.pop("outputImages", None)
        if self.error:
            p["runErrorMessage"] = self.error
        else:
            p.pop("runErrorMessage", None)
        b["systemData"]["lastModifiedAt"] = self.created
        return b


def _registry(sim, req):
    r = sim.world.registries.get((req.params["rg"].lower(), req.params["name"].lower()))
    if not r:
        from .arm import resource_not_found
        return None, resource_not_found("Microsoft.ContainerRegistry/registries", req.params["name"], req.params["rg"])
    return r, None


def source_upload_url(sim, req):
    """`POST …/registries/{name}/listBuildSourceUploadUrl` (the spec example's shape)."""
    from .arm import check_scope
    if (e := check_scope(sim, req)):
        return e
    r, err = _registry(sim, req)
    if err:
        return err
    b = shape("acr_build_source_upload_url.SPEC_EXAMPLE.json")
    rel = f"source/{time.strftime('%Y%m%d%H00', time.gmtime())}/{uuid.uuid4()}.tar.gz"
    b["relativePath"] = rel
    b["uploadUrl"] = sim.storage.sas_url(sim, CONTAINER, rel, "cw")
    return json_response(200, b)


def schedule_run(sim, req):
    """`POST …/registries/{name}/scheduleRun` with a DockerBuildRequest: the run is queued (200,
    `acr_schedulerun_200.json`) and starts at once in a thread of its own."""
    from .arm import arm_error, check_scope
    if (e := check_scope(sim, req)):
        return e
    r, err = _registry(sim, req)
    if err:
        return err
    body = req.json() or {}
    if body.get("type") != "DockerBuildRequest":
        return arm_error(400, "InvalidRequest", f"azure-sim runs DockerBuildRequest only, not {body.get('type')!r}")
    key = f"{CONTAINER}/{body.get('sourceLocation', '')}"
    with sim.storage.cond:
        src = sim.storage.blobs.get(key)
        data = bytes(src.data) if src else None
    if data is None:
        return arm_error(400, "InvalidSourceLocation", f"The source location '{body.get('sourceLocation')}' does not exist.")
    w = sim.world
    w.run_counter += 1
    run = Run(f"ca{w.run_counter}", r, body)
    w.runs[run.id] = run
    threading.Thread(target=_build, args=(sim, run, data), name=f"run-{run.id}", daemon=True).start()
    out = shape("acr_schedulerun_200")
    out["id"] = f"{r['id']}/runs/{run.id}"
    out["name"] = run.id
    out["properties"].update(runId=run.id, lastUpdatedTime=now_iso(micro=False))
    out["systemData"]["lastModifiedAt"] = run.created
    return json_response(200, out)


def _run(sim, req):
    from .arm import arm_error, check_scope
    if (e := check_scope(sim, req)):
        return None, e
    run = sim.world.runs.get(req.params["run"])
    if not run or run.registry["name"].lower() != req.params["name"].lower():
        return None, arm_error(404, "RunNotFound", f"The run '{req.params['run']}' could not be found.")
    return run, None


def run_get(sim, req):
    run, err = _run(sim, req)
    return err or json_response(200, run.body())


def runs_list(sim, req):
    from .arm import check_scope
    if (e := check_scope(sim, req)):
        return e
    runs = [r for r in sim.world.runs.values() if r.registry["name"].lower() == req.params["name"].lower()]
    runs.reverse()
    top = int(req.query.get("$top") or 0)
    return json_response(200, {"value": [r.body() for r in (runs[:top] if top else runs)]})


def log_sas_url(sim, req):
    """`POST …/runs/{runId}/listLogSasUrl` → `{logLink}` (the spec example's shape)."""
    run, err = _run(sim, req)
    if err:
        return err
    b = shape("acr_run_log_sas_url.SPEC_EXAMPLE.json")
    b["logLink"] = sim.storage.sas_url(sim, CONTAINER, run.log_key.split("/", 1)[1], "r")
    return json_response(200, b)


def run_cancel(sim, req):
    """`POST …/runs/{runId}/cancel` (`az acr task cancel-run`): the build is stopped."""
    run, err = _run(sim, req)
    if err:
        return err
    if run.proc and run.proc.poll() is None:
        run.status = "Canceled"
        run.proc.terminate()
    return Response(202, b"")


# ---------------------------------------------------------------------------------------------
# The build itself
# ---------------------------------------------------------------------------------------------


def _stamp() -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())


def _elapsed(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}m{s % 60}s" if s >= 60 else f"{s}s"


def _docker_config(sim) -> str:
    """A private DOCKER_CONFIG whose only credential is the real registry's (the agent's)."""
    d = os.path.join(sim.state_dir, "agent-docker-config")
    os.makedirs(d, exist_ok=True)
    auth = base64.b64encode(f"{sim.upstream_user}:{sim.upstream_password}".encode()).decode()
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"auths": {sim.upstream: {"auth": auth}}}, f)
    return d


def _image_names(sim, run: Run) -> list[str]:
    """`repo:tag` per requested name (`{{.Run.ID}}` substituted, the login server dropped)."""
    out = []
    ls = sim.login_server
    for n in run.request.get("imageNames") or []:
        n = n.replace("{{.Run.ID}}", run.id).replace("{{ .Run.ID }}", run.id)
        for prefix in (f"{ls}/", f"{run.registry['name'].lower()}.azurecr.io/"):
            if n.lower().startswith(prefix.lower()):
                n = n[len(prefix):]
        if ":" not in n.rsplit("/", 1)[-1]:
            n += ":latest"
        out.append(n)
    return out


def _build(sim, run: Run, archive: bytes) -> None:
    st: Storage = sim.storage
    log = lambda text: st.append(run.log_key, text.replace("\n", "\r\n"))  # noqa: E731
    ls = sim.login_server
    t0 = time.time()
    run.status, run.started = "Running", now_iso()
    log(f"{_stamp()} Downloading source code...\n")
    ctx = os.path.join(sim.state_dir, "runs", run.id, "context")
    os.makedirs(ctx, exist_ok=True)
    tar_path = os.path.join(sim.state_dir, "runs", run.id, "source.tar.gz")
    with open(tar_path, "wb") as f:
        f.write(archive)
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            tar.extractall(ctx, filter="data")
    except (tarfile.TarError, OSError) as e:
        return _finish(sim, run, t0, f"failed to download the source code: {e}")
    log(f"{_stamp()} Finished downloading source code\n")
    log(f"{_stamp()} Using acb_vol_{uuid.uuid4()} as the home volume\n")
    log(f"{_stamp()} Setting up Docker configuration...\n")
    log(f"{_stamp()} Successfully set up Docker configuration\n")
    log(f"{_stamp()} Logging in to registry: {ls}\n")
    log(f"{_stamp()} Successfully logged into {ls}\n")
    log(f"{_stamp()} Executing step ID: build. Timeout(sec): 28800, Working directory: '', Network: ''\n")
    log(f"{_stamp()} Scanning for dependencies...\n")
    log(f"{_stamp()} Successfully scanned dependencies\n")
    log(f"{_stamp()} Launching container with name: build\n")

    req = run.request
    plat = req.get("platform") or {}
    platform = "/".join(x for x in (plat.get("os") or "linux", plat.get("architecture") or "amd64", plat.get("variant")) if x)
    scenario = sim.scenario()
    # What-ifs a test can ask for: an agent that builds another platform than asked, and a push
    # of an image index (as BuildKit-based builders push) instead of a single manifest.
    platform = scenario.get("acr_build_platform") or platform
    as_index = bool(scenario.get("acr_index"))
    images = _image_names(sim, run)
    push = bool(req.get("isPushEnabled")) and bool(images)
    dockerfile = os.path.join(ctx, req.get("dockerFilePath") or "Dockerfile")
    cmd = [shutil.which("docker") or "docker", "buildx", "build", "--progress", "plain", "--platform", platform,
           "--provenance=false", "--sbom=false", "--file", dockerfile]
    for a in req.get("arguments") or []:
        cmd += ["--build-arg", f"{a.get('name')}={a.get('value', '')}"]
    if req.get("target"):
        cmd += ["--target", req["target"]]
    if req.get("noCache"):
        cmd.append("--no-cache")
    for i in images:
        cmd += ["--tag", f"{sim.upstream}/{i}"]
    cmd += ["--push"] if push else ["--output", "type=cacheonly"]
    cmd.append(ctx)
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONFIG", "BUILDX_BUILDER")}
    env["DOCKER_CONFIG"] = _docker_config(sim)
    env["BUILDKIT_PROGRESS"] = "plain"
    try:
        run.proc = subprocess.Popen(cmd, cwd=ctx, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
    except OSError as e:
        return _finish(sim, run, t0, f"failed to start the build: {e}")
    for raw in iter(run.proc.stdout.readline, b""):
        log(raw.decode("utf-8", "replace").replace(f"{sim.upstream}/", f"{ls}/"))
    code = run.proc.wait()
    if push and code == 0 and as_index:
        for i in images:
            ref = f"{sim.upstream}/{i}"
            subprocess.run([shutil.which("docker") or "docker", "buildx", "imagetools", "create", "--tag", ref, ref],
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False)
    if push:
        _untag(sim, images)
    if run.status == "Canceled":
        return _finish(sim, run, t0, "run canceled")
    if code != 0:
        log(f"{_stamp()} Container failed during run: build. No retries remaining.\n")
        log(f"failed to run step ID: build: exit status {code}\n")
        return _finish(sim, run, t0, "failed during run, err: exit status 1")
    log(f"{_stamp()} Successfully executed container: build\n")
    step = time.time() - t0
    digests = {}
    for i in images if push else []:
        repo, _, tag = i.rpartition(":")
        m = acr._manifest(sim, repo, tag)
        digests[i] = m[0] if m else ""
        log(f"{_stamp()} Successfully pushed image: {ls}/{i}\n")
    log(f"{_stamp()} Step ID: build marked as successful (elapsed time in seconds: {step:.6f})\n")
    log(f"{_stamp()} Populating digests for step ID: build...\n")
    log(f"{_stamp()} Successfully populated digests for step ID: build\n")
    if digests:
        log("The following dependencies were found:\n")
        for i, d in digests.items():
            repo, _, tag = i.rpartition(":")
            run.output_images.append({"registry": ls, "repository": repo, "tag": tag, "digest": d})
            log(f"- image:\n    registry: {ls}\n    repository: {repo}\n    tag: {tag}\n    digest: {d}\n  git: {{}}\n")
        log("\n")
    _finish(sim, run, t0, None)


def _untag(sim, images: list[str]) -> None:
    """The docker driver also leaves the pushed tags in the engine: they are ours, so they go."""
    refs = [f"{sim.upstream}/{i}" for i in images]
    subprocess.run([shutil.which("docker") or "docker", "image", "rm", *refs], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _finish(sim, run: Run, t0: float, error: str | None) -> None:
    took = _elapsed(time.time() - t0)
    if error is None:
        run.status = "Succeeded"
        sim.storage.append(run.log_key, f"\r\nRun ID: {run.id} was successful after {took}\r\n")
    else:
        if run.status != "Canceled":
            run.status = "Failed"
        run.error = error
        sim.storage.append(run.log_key, f"\r\nRun ID: {run.id} failed after {took}. Error: {error}\r\n")
    run.finished = now_iso()
    sim.storage.finish(run.log_key, run.status)
