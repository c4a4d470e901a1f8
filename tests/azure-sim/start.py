#!/usr/bin/env python3
"""Start the simulated Azure for one test, in the background, and print what the test needs.

    start.py [--state DIR] [--scenario NAME|JSON] [--world JSON] [--login files|az]
        → one JSON object on stdout: {"env": {...}, "pid", "port", "state_dir", "config_dir",
          "login_server", "subscription_id", "tenant_id", "world", "timings_ms"}
    start.py scenario --state DIR NAME|JSON     switch the scenario of a running simulator
    start.py stop --state DIR                   stop it (the state dir is left for the caller)

The state dir holds the CA and server certificate, sim.json (the server's settings),
scenario.json, requests.jsonl (the request log), server.log, ready.json and azure-config/ (a
private AZURE_CONFIG_DIR already pointing at the simulated cloud and logged in).

Standard library only, plus the openssl CLI for the certificates.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from azsim.core import apply_scenario  # noqa: E402
from azsim.server import SCENARIOS  # noqa: E402
CI_DIR = os.environ.get("AZDEPLOY_CI_DIR", "/opt/azdeploy-ci")

SUBSCRIPTION_ID = "3b5a1f0e-7c2d-4e8a-9f61-2d4c8b7a9e10"
OTHER_SUBSCRIPTION_ID = "9d2e4c6a-1b3f-4a5d-8e7c-6f0a2b4d6e81"
TENANT_ID = "8c3d1e2f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
CLIENT_ID = "5f0c2a7e-3d1b-4c9a-8e6f-1a2b3c4d5e6f"
OBJECT_ID = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
CLOUD_NAME = "AzureSim"
ARM_AUDIENCE = "https://management.core.windows.net/"

DEFAULT_WORLD = {
    "location": "eastus",
    "resource_group": "rg-sim",
    "environment": "env-sim",
    "registry": "simacr",
    "identity": "id-sim",
    "app": "simapp",
    "image": None,
    "target_port": 8501,
}


def ms_since(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def make_tls(state: str) -> None:
    """A CA for this run and a server certificate for 127.0.0.1 and localhost (EC P-256)."""
    p = lambda n: os.path.join(state, n)  # noqa: E731
    run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ca.key")])
    run(["openssl", "req", "-x509", "-new", "-key", p("ca.key"), "-subj", "/CN=azure-sim test CA", "-days", "7",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-out", p("ca.pem")])
    run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("server.key")])
    run(["openssl", "req", "-new", "-key", p("server.key"), "-subj", "/CN=127.0.0.1", "-out", p("server.csr")])
    with open(p("server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
         "-CAcreateserial", "-days", "7", "-extfile", p("server.ext"), "-out", p("server.pem")])
    # A bundle of the machine's CAs plus ours, for clients that must still reach other hosts.
    system = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
    with open(p("ca-bundle.pem"), "w") as out:
        if os.path.exists(system):
            with open(system) as f:
                out.write(f.read().rstrip("\n") + "\n")
        with open(p("ca.pem")) as f:
            out.write(f.read())


def registry_facts() -> dict:
    """The real registry behind the login server, from $AZDEPLOY_CI_DIR/env (ci/engine-up.sh)."""
    facts = {k: v for k, v in os.environ.items() if k.startswith("AZDEPLOY_CI_REGISTRY")}
    env_file = os.path.join(CI_DIR, "env")
    if os.path.exists(env_file):
        with open(env_file) as f:
            for line in f:
                line = line.strip()
                if line.startswith("export ") and "=" in line:
                    k, v = line[7:].split("=", 1)
                    facts.setdefault(k, v.strip("'\""))
    return {"host": facts.get("AZDEPLOY_CI_REGISTRY", "127.0.0.1:5000"),
            "user": facts.get("AZDEPLOY_CI_REGISTRY_USER", ""),
            "password": facts.get("AZDEPLOY_CI_REGISTRY_PASSWORD", "")}


def find_az() -> str | None:
    if os.environ.get("AZDEPLOY_CI_AZ"):
        return os.environ["AZDEPLOY_CI_AZ"]
    env_file = os.path.join(CI_DIR, "az.env")
    if os.path.exists(env_file):
        with open(env_file) as f:
            for line in f:
                if line.startswith("export AZDEPLOY_CI_AZ="):
                    return line.split("=", 1)[1].strip()
    return shutil.which("az")


def parse_scenario(text: str) -> dict:
    text = text.strip()
    return json.loads(text) if text.startswith("{") else {"name": text}


# ---------------------------------------------------------------------------------------------
# AZURE_CONFIG_DIR
# ---------------------------------------------------------------------------------------------


def test_env(state: str, config_dir: str) -> dict:
    return {
        "AZURE_CONFIG_DIR": config_dir,
        "REQUESTS_CA_BUNDLE": os.path.join(state, "ca-bundle.pem"),
        # Go clients (docker buildx imagetools) read SSL_CERT_FILE: the same bundle.
        "SSL_CERT_FILE": os.path.join(state, "ca-bundle.pem"),
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
        "AZURE_CORE_INSTANCE_DISCOVERY": "false",
        "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
        "AZURE_CORE_ONLY_SHOW_ERRORS": "false",
        "AZURE_CORE_NO_COLOR": "true",
        "AZURE_CORE_SURVEY_MESSAGE": "false",
        "AZURE_CORE_LOGIN_EXPERIENCE_V2": "off",
        "AZURE_CLI_DISABLE_CONNECTION_VERIFICATION": "",
    }


def profile_json(sub: str, name: str) -> str:
    """azureProfile.json as `az login --service-principal` writes it (UTF-8 with BOM)."""
    return json.dumps({"subscriptions": [{
        "id": sub, "name": name, "state": "Enabled", "user": {"name": CLIENT_ID, "type": "servicePrincipal"},
        "isDefault": True, "tenantId": TENANT_ID, "environmentName": CLOUD_NAME, "homeTenantId": TENANT_ID,
        "managedByTenants": []}]})


def write_config_files(config_dir: str, base: str) -> None:
    """What `az cloud register` + `az cloud set` + `az login --service-principal` leave behind
    (measured with azure-cli 2.91), written directly: no az process, no token until first use.
    versionCheck.json is fresh so az does not probe for a newer version."""
    os.makedirs(config_dir, exist_ok=True)
    with open(os.path.join(config_dir, "config"), "w") as f:
        f.write(f"[cloud]\nname = {CLOUD_NAME}\n\n[core]\ncollect_telemetry = false\n\n")
    clouds = configparser.ConfigParser()
    clouds[CLOUD_NAME] = {
        "endpoint_active_directory": base + "/",
        "endpoint_active_directory_data_lake_resource_id": base + "/datalake/",
        "endpoint_active_directory_graph_resource_id": base + "/graph/",
        "endpoint_active_directory_resource_id": ARM_AUDIENCE,
        "endpoint_log_analytics_resource_id": base + "/loganalytics/",
        "endpoint_management": ARM_AUDIENCE,
        "endpoint_microsoft_graph_resource_id": base + "/msgraph/",
        "endpoint_portal": base + "/portal",
        "endpoint_resource_manager": base + "/",
        "suffix_acr_login_server_endpoint": ".azurecr.io",
        "suffix_keyvault_dns": ".vault.azure.net",
        "suffix_storage_endpoint": "core.windows.net",
        "subscription": SUBSCRIPTION_ID,
    }
    with open(os.path.join(config_dir, "clouds.config"), "w") as f:
        clouds.write(f)
    with open(os.path.join(config_dir, "azureProfile.json"), "w", encoding="utf-8-sig") as f:
        f.write(profile_json(SUBSCRIPTION_ID, "Azure Sim Subscription"))
    with open(os.path.join(config_dir, "service_principal_entries.json"), "w") as f:
        json.dump([{"client_id": CLIENT_ID, "tenant": TENANT_ID, "client_secret": "azure-sim-secret"}], f)
    with open(os.path.join(config_dir, "versionCheck.json"), "w", encoding="utf-8-sig") as f:
        now = time.strftime("%Y-%m-%d %H:%M:%S.000000")
        json.dump({"versions": {}, "update_time": now}, f)


def login_with_az(az: str, env: dict, base: str) -> None:
    """The slow, authoritative way: the real az registers the cloud and logs in."""
    e = {**os.environ, **env}
    run([az, "cloud", "register", "--name", CLOUD_NAME, "--endpoint-resource-manager", base + "/"], env=e)
    run([az, "cloud", "set", "--name", CLOUD_NAME], env=e)
    run([az, "login", "--service-principal", "-u", CLIENT_ID, "-p", "azure-sim-secret", "--tenant", TENANT_ID,
         "--output", "none"], env=e)


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def start(args) -> int:
    t0 = time.monotonic()
    timings = {}
    state = os.path.abspath(args.state or tempfile.mkdtemp(prefix="azure-sim-"))
    os.makedirs(state, exist_ok=True)
    make_tls(state)
    timings["tls"] = ms_since(t0)

    world = dict(DEFAULT_WORLD)
    if args.world:
        world.update(json.loads(args.world))
    config = {"subscription_id": SUBSCRIPTION_ID, "tenant_id": TENANT_ID, "client_id": CLIENT_ID,
              "object_id": OBJECT_ID, "cloud_name": CLOUD_NAME, "arm_audience": ARM_AUDIENCE,
              "subscription_name": "Azure Sim Subscription", "tag": uuid.uuid4().hex[:8],
              "upstream": registry_facts(), "world": world}
    with open(os.path.join(state, "sim.json"), "w") as f:
        json.dump(config, f, indent=1)
    scenario = parse_scenario(args.scenario)
    if scenario.get("name") not in SCENARIOS:
        print(f"unknown scenario {scenario.get('name')!r}; known: {', '.join(sorted(SCENARIOS))}", file=sys.stderr)
        return 2
    with open(os.path.join(state, "scenario.json"), "w") as f:
        json.dump(scenario, f)

    t1 = time.monotonic()
    with open(os.path.join(state, "server.log"), "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "azsim.server", "--state", state], cwd=HERE,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    ready = os.path.join(state, "ready.json")
    deadline = time.monotonic() + 15
    while not os.path.exists(ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(os.path.join(state, "server.log")) as f:
                sys.stderr.write(f.read())
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            print(f"azure-sim did not start (see {state}/server.log)", file=sys.stderr)
            return 1
        time.sleep(0.01)
    with open(ready) as f:
        port = json.load(f)["port"]
    timings["server"] = ms_since(t1)
    base = f"https://127.0.0.1:{port}"

    t2 = time.monotonic()
    config_dir = os.path.join(state, "azure-config")
    env = test_env(state, config_dir)
    if args.login == "az":
        az = args.az or find_az()
        if not az:
            print("no az found (AZDEPLOY_CI_AZ, $AZDEPLOY_CI_DIR/az.env or PATH)", file=sys.stderr)
            return 1
        os.makedirs(config_dir, exist_ok=True)
        login_with_az(az, env, base)
    else:
        write_config_files(config_dir, base)
    with open(os.path.join(config_dir, "azureProfile.json"), encoding="utf-8-sig") as f:
        normal = f.read()
    profiles = {"config_dir": config_dir, "normal": normal,
                "logged_out": json.dumps({"subscriptions": []}),
                "wrong_subscription": normal.replace(SUBSCRIPTION_ID, OTHER_SUBSCRIPTION_ID)}
    with open(os.path.join(state, "profiles.json"), "w") as f:
        json.dump(profiles, f)
    apply_scenario(state, scenario)
    timings["config_dir"] = ms_since(t2)
    timings["total"] = ms_since(t0)

    out = {"env": env, "pid": proc.pid, "port": port, "base_url": base, "state_dir": state, "config_dir": config_dir,
           "login_server": f"127.0.0.1:{port}", "subscription_id": SUBSCRIPTION_ID, "tenant_id": TENANT_ID,
           "client_id": CLIENT_ID, "ca": os.path.join(state, "ca.pem"), "az": find_az(), "world": world,
           "scenario": scenario, "timings_ms": timings}
    with open(os.path.join(state, "started.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out))
    return 0


def set_scenario(args) -> int:
    value = parse_scenario(args.value)
    if value.get("name") not in SCENARIOS:
        print(f"unknown scenario {value.get('name')!r}; known: {', '.join(sorted(SCENARIOS))}", file=sys.stderr)
        return 2
    apply_scenario(args.state, value)
    return 0


def stop(args) -> int:
    with open(os.path.join(args.state, "ready.json")) as f:
        pid = json.load(f)["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["scenario"]:
        ap = argparse.ArgumentParser(prog="start.py scenario")
        ap.add_argument("--state", required=True)
        ap.add_argument("value")
        return set_scenario(ap.parse_args(argv[1:]))
    if argv[:1] == ["stop"]:
        ap = argparse.ArgumentParser(prog="start.py stop")
        ap.add_argument("--state", required=True)
        return stop(ap.parse_args(argv[1:]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", help="state dir (default: a new temp dir)")
    ap.add_argument("--scenario", default="healthy", help="a name, or JSON like {\"name\": \"throttled\", \"count\": 2}")
    ap.add_argument("--world", help="JSON overriding the seeded world (names, image, {\"empty\": true})")
    ap.add_argument("--login", choices=["files", "az"], default="files",
                    help="prepare AZURE_CONFIG_DIR by writing its files (fast) or with az cloud register + az login")
    ap.add_argument("--az", help="the az to use with --login az")
    return start(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
