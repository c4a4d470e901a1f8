"""Entra ID (AAD) and cloud metadata: what MSAL and `az cloud register` ask for.

Tokens are JWT-shaped (az and MSAL read claims, never check signatures). The simulator keeps
every token it issued, so a data-plane call can tell its own tokens from anything else.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time

from .core import json_response


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Tokens:
    """Issued tokens by kind (`aad`, `acr-refresh`, `acr-access`, `logstream`)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.issued: dict[str, tuple[str, dict]] = {}

    def issue(self, kind: str, claims: dict, lifetime: int = 3600) -> str:
        now = int(time.time())
        body = {"jti": secrets.token_hex(8), "iat": now, "nbf": now, "exp": now + lifetime, **claims}
        head = {"alg": "RS256", "typ": "JWT", "kid": "azure-sim"}
        token = ".".join([b64url(json.dumps(head).encode()), b64url(json.dumps(body).encode()),
                          b64url(secrets.token_bytes(32))])
        with self.lock:
            self.issued[token] = (kind, body)
        return token

    def check(self, token: str, *kinds: str) -> dict | None:
        with self.lock:
            got = self.issued.get(token)
        if not got or got[0] not in kinds or got[1]["exp"] < time.time():
            return None
        return got[1]


def metadata_endpoints(sim, req):
    """`GET /metadata/endpoints?api-version=2022-09-01` (the ARM cloud metadata document that
    `az cloud register --endpoint-resource-manager` reads)."""
    b = sim.base_url
    return json_response(200, {
        "portal": f"{b}/portal",
        "authentication": {"loginEndpoint": f"{b}/", "audiences": [sim.config["arm_audience"], f"{b}/"],
                           "tenant": "common", "identityProvider": "AAD"},
        "media": f"{b}/media", "graphAudience": f"{b}/graph/", "graph": f"{b}/graph/",
        "name": sim.config["cloud_name"],
        "suffixes": {"azureDataLakeStoreFileSystem": "azuredatalakestore.net", "acrLoginServer": "azurecr.io",
                     "sqlServerHostname": "database.windows.net", "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
                     "keyVaultDns": "vault.azure.net", "storage": "core.windows.net", "azureFrontDoorEndpointSuffix": "azurefd.net",
                     "storageSyncEndpointSuffix": "afs.azure.net", "mhsmDns": "managedhsm.azure.net",
                     "mysqlServerEndpoint": "mysql.database.azure.com", "postgresqlServerEndpoint": "postgres.database.azure.com",
                     "mariadbServerEndpoint": "mariadb.database.azure.com", "synapseAnalytics": "dev.azuresynapse.net",
                     "attestationEndpoint": "attest.azure.net"},
        "batch": f"{b}/batch/", "resourceManager": f"{b}/", "vmImageAliasDoc": f"{b}/vmimagealiases.json",
        "activeDirectoryDataLake": f"{b}/datalake/", "sqlManagement": f"{b}/sql/",
        "microsoftGraphResourceId": f"{b}/msgraph/", "appInsightsResourceId": f"{b}/appinsights/",
        "appInsightsTelemetryChannelResourceId": f"{b}/appinsights-telemetry/",
        "attestationResourceId": f"{b}/attest/", "synapseAnalyticsResourceId": f"{b}/synapse/",
        "logAnalyticsResourceId": f"{b}/loganalytics/", "ossrDbmsResourceId": f"{b}/ossrdbms/",
        "gallery": f"{b}/gallery/",
    })


def openid_configuration(sim, req):
    """`GET /{tenant}/v2.0/.well-known/openid-configuration` (what MSAL reads first)."""
    b, t = sim.base_url, req.params["tenant"]
    return json_response(200, {
        "token_endpoint": f"{b}/{t}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{b}/{t}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{b}/{sim.world.tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{b}/oidc/userinfo",
        "authorization_endpoint": f"{b}/{t}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{b}/{t}/oauth2/v2.0/devicecode",
        "http_logout_supported": True, "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{b}/{t}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid"],
        "kerberos_endpoint": f"{b}/{t}/kerberos",
        "tenant_region_scope": "NA", "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net", "msgraph_host": "graph.microsoft.com", "rbac_url": "https://pas.windows.net",
    })


def token(sim, req):
    """`POST /{tenant}/oauth2/v2.0/token` (client credentials, refresh token or anything MSAL
    sends): a JWT-shaped access token for the requested scope."""
    form = req.form()
    scope = form.get("scope", "")
    resource = scope.split()[0].rsplit("/.default", 1)[0] if scope else sim.config["arm_audience"]
    client = form.get("client_id", sim.config["client_id"])
    if sim.scenario()["name"] == "logged-out":
        return json_response(400, {
            "error": "invalid_client",
            "error_description": "AADSTS7000222: The provided client secret keys for app '%s' are expired. "
                                 "Visit the Azure portal to create new keys for your app." % client,
            "error_codes": [7000222], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": "00000000-0000-0000-0000-000000000000", "correlation_id": "00000000-0000-0000-0000-000000000000"})
    lifetime = 3599
    access = sim.tokens.issue("aad", {
        "aud": resource, "iss": f"https://sts.windows.net/{sim.world.tenant}/", "appid": client,
        "appidacr": "1", "idp": f"https://sts.windows.net/{sim.world.tenant}/", "oid": sim.config["object_id"],
        "sub": sim.config["object_id"], "tid": sim.world.tenant, "ver": "1.0", "xms_tcdt": 1600000000,
    }, lifetime)
    return json_response(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                               "access_token": access})


def instance_discovery(sim, req):
    """`GET /common/discovery/instance` (only if instance discovery is left on)."""
    host = sim.base_url.split("://", 1)[1]
    return json_response(200, {"tenant_discovery_endpoint": f"{sim.base_url}/{req.query.get('tenant', 'common')}/v2.0/.well-known/openid-configuration",
                               "api-version": "1.1", "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]})
