#!/usr/bin/env bash
# Captures what the real az (ci/az-install.sh) prints against the simulated Azure
# (tests/azure-sim) into tests/fixtures/az/: the not-found answers `provision` creates on, the
# failures it must not create on, and the JSON of every resource it creates and reads.
# Ports, ids and times vary between runs; the files are for parsers and matchers, not diffs.
#
# Usage: bash ci/capture-az-fixtures.sh        (needs /opt/azdeploy-ci/az.env or AZDEPLOY_CI_AZ)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/tests/fixtures/az"
# shellcheck disable=SC1091
[ -r /opt/azdeploy-ci/az.env ] && . /opt/azdeploy-ci/az.env
AZ="${AZDEPLOY_CI_AZ:?run ci/az-install.sh first}"
STATE=$(mktemp -d /tmp/azdeploy-az-fixtures.XXXXXX)
trap 'python3 "$ROOT/tests/azure-sim/start.py" stop --state "$STATE" >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT

python3 "$ROOT/tests/azure-sim/start.py" --state "$STATE" --world '{"empty": true}' >"$STATE/sim.out"
eval "$(python3 -c 'import json,shlex,sys;[print(f"export {k}={shlex.quote(v)}") for k,v in json.load(open(sys.argv[1]))["env"].items()]' "$STATE/sim.out")"
SUB=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["subscription_id"])' "$STATE/sim.out")
mkdir -p "$OUT"

# capture NAME az-args…: stdout to NAME.json (success) or stderr to NAME.stderr (failure)
capture() {
    local name=$1; shift
    if "$AZ" "$@" >"$STATE/out" 2>"$STATE/err"; then
        cp "$STATE/out" "$OUT/$name.json"
    else
        # az's spinner and colour codes are not part of the message
        sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/.*\r//' "$STATE/err" >"$OUT/$name.stderr"
    fi
}
scenario() { python3 "$ROOT/tests/azure-sim/start.py" scenario --state "$STATE" "$1" >/dev/null; }

capture not-found-group group show --name rg1 --output json
capture not-found-env-group-missing containerapp env show --name env1 --resource-group rg1 --output json
capture not-found-acr acr show --name myacr1 --output json
capture group-create group create --name rg1 --location eastus --output json
capture not-found-containerapp containerapp show --name web --resource-group rg1 --output json
capture env-list-empty containerapp env list --resource-group rg1 --output json
capture acr-create acr create --name myacr1 --resource-group rg1 --location eastus --sku Basic --output json
capture env-create containerapp env create --name web-env --resource-group rg1 --location eastus --logs-destination none --output json
capture identity-create identity create --name web-pull --resource-group rg1 --location eastus --output json
PRINCIPAL=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["principalId"])' "$OUT/identity-create.json")
SCOPE="/subscriptions/$SUB/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/myacr1"
capture role-assignment-create "role" assignment create --assignee-object-id "$PRINCIPAL" \
    --assignee-principal-type ServicePrincipal --role AcrPull --scope "$SCOPE" --output json
capture role-assignment-list-acrpull "role" assignment list --scope "$SCOPE" --role AcrPull \
    --fill-principal-name false --output json

# The app as `deploy` creates it: the spec src/azure/spec.rs writes (app_spec), filled in here.
python3 - "$OUT" "$STATE/app.yaml" "$SUB" <<'PY'
import json, sys
out, path, sub = sys.argv[1:4]
env = json.load(open(f"{out}/env-create.json"))["id"]
ident = json.load(open(f"{out}/identity-create.json"))["id"]
server = json.load(open(f"{out}/acr-create.json"))["loginServer"]
get = {"path": "/_stcore/health", "port": 8501}
spec = {
    "location": "eastus",
    "identity": {"type": "UserAssigned", "userAssignedIdentities": {ident: {}}},
    "properties": {
        "environmentId": env,
        "configuration": {
            "activeRevisionsMode": "Single",
            "ingress": {"external": True, "targetPort": 8501, "transport": "auto", "allowInsecure": False,
                        "stickySessions": {"affinity": "sticky"}},
            "registries": [{"server": server, "identity": ident}],
        },
        "template": {
            "containers": [{
                "name": "web", "image": f"{server}/web@sha256:{'0' * 64}",
                "resources": {"cpu": 0.5, "memory": "1Gi"},
                "probes": [
                    {"type": "Startup", "httpGet": get, "initialDelaySeconds": 2, "periodSeconds": 2,
                     "failureThreshold": 10, "timeoutSeconds": 5},
                    {"type": "Readiness", "httpGet": get, "periodSeconds": 5, "failureThreshold": 3, "timeoutSeconds": 5},
                    {"type": "Liveness", "httpGet": get, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 5},
                ],
            }],
            "scale": {"minReplicas": 1, "maxReplicas": 3},
        },
    },
}
json.dump(spec, open(path, "w"), indent=2)
PY
capture containerapp-create containerapp create --name web --resource-group rg1 --yaml "$STATE/app.yaml" --output json
capture containerapp-show-created containerapp show --name web --resource-group rg1 --output json

scenario '{"name": "throttled", "count": 100, "retry_after": 0}'
capture throttled group show --name rg1 --output json
scenario '{"name": "server-error", "count": 100}'
capture server-error group show --name rg1 --output json
scenario logged-out
capture logged-out group show --name rg1 --output json
scenario wrong-subscription
capture wrong-subscription group show --name rg1 --output json
scenario healthy
echo "captured into $OUT:" >&2
ls "$OUT" >&2
