#!/usr/bin/env bash
# Install the real Azure CLI (azure-cli from PyPI) into a private venv, once, for the tests
# that drive the real `az` against the simulated Azure in tests/azure-sim/.
#
# Idempotent: when the venv already holds the pinned version it only checks a stamp file and
# rewrites az.env (well under a second). Safe to run concurrently: a lock serialises runs.
#
# Writes ${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}/az.env:
#   export AZDEPLOY_CI_AZ=<absolute path of az>
#   export AZURE_CORE_COLLECT_TELEMETRY=false
#
# Environment knobs:
#   AZDEPLOY_CI_DIR         state dir (default /opt/azdeploy-ci)
#   AZDEPLOY_CI_AZ_VENV     venv dir (default $AZDEPLOY_CI_DIR/az-venv)
#   AZDEPLOY_CI_PYTHON      python to make the venv with (default python3; azure-cli needs >= 3.10)
#
# Measured on a 2-core machine: first install about 2-3 minutes (about 730 MB), re-run 0.01 s.
set -euo pipefail

AZ_CLI_VERSION="2.91.0"   # pinned; bump deliberately and re-run the azure-sim tests

CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"
VENV="${AZDEPLOY_CI_AZ_VENV:-$CI_DIR/az-venv}"
PY="${AZDEPLOY_CI_PYTHON:-python3}"
STAMP="$VENV/.azdeploy-azure-cli-version"
ENV_FILE="$CI_DIR/az.env"

T0=$(date +%s.%N)
log() { printf '[az-install %6.1fs] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Never phone home, whatever runs az below.
export AZURE_CORE_COLLECT_TELEMETRY=false
export AZURE_EXTENSION_USE_DYNAMIC_INSTALL=no

mkdir -p "$CI_DIR"
exec 9>"$CI_DIR/az-install.flock"
flock -w 900 9 || die "another ci/az-install.sh holds $CI_DIR/az-install.flock for over 900 s"

write_env() {
    local tmp="$ENV_FILE.tmp.$$"
    {
        echo "# written by ci/az-install.sh (azure-cli $AZ_CLI_VERSION); source it: . $ENV_FILE"
        echo "export AZDEPLOY_CI_AZ=$VENV/bin/az"
        echo "export AZURE_CORE_COLLECT_TELEMETRY=false"
    } >"$tmp"
    mv -f "$tmp" "$ENV_FILE"
}

if [ -x "$VENV/bin/az" ] && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$AZ_CLI_VERSION" ]; then
    write_env
    log "azure-cli $AZ_CLI_VERSION already in $VENV"
    exit 0
fi

command -v "$PY" >/dev/null || die "no $PY on PATH (set AZDEPLOY_CI_PYTHON)"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$PY is older than 3.10; azure-cli $AZ_CLI_VERSION needs 3.10+"

# A half-made venv (interrupted install, other version) is rebuilt from scratch.
if [ -d "$VENV" ]; then
    log "replacing $VENV (stamp says '$(cat "$STAMP" 2>/dev/null || echo none)', want $AZ_CLI_VERSION)"
    rm -rf "$VENV"
fi
log "creating venv $VENV with $("$PY" --version 2>&1)"
"$PY" -m venv "$VENV"
log "pip install azure-cli==$AZ_CLI_VERSION (PyPI; takes a few minutes)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "azure-cli==$AZ_CLI_VERSION"

# Smoke test: `az version` is offline. A throwaway config dir keeps the user's ~/.azure untouched.
cfg=$(mktemp -d)
trap 'rm -rf "$cfg"' EXIT
got=$(AZURE_CONFIG_DIR="$cfg" "$VENV/bin/az" version --query '"azure-cli"' -o tsv) \
    || die "az version failed after install"
[ "$got" = "$AZ_CLI_VERSION" ] || die "az version says '$got', expected $AZ_CLI_VERSION"

echo "$AZ_CLI_VERSION" >"$STAMP"
write_env
log "installed azure-cli $AZ_CLI_VERSION: $VENV/bin/az ($(du -sh "$VENV" | cut -f1))"
