//! Known failure text from docker, buildx and az, each mapped to the fix.
//!
//! Fed the captured stderr of a failed child. Each needle comes from real output of the tool
//! (see `tests/fixtures/captured/`), and each has a unit test.

/// (needles, hint): the first entry whose needles all appear in the text wins. A needle that
/// starts with `=` must be a whole line (trimmed): `=denied` is docker's bare 403, not
/// "permission denied". Needles and hints for outside faults come from
/// `tests/fixtures/captured/faults/` (its README's table; a unit test holds them to it).
const KNOWN: &[(&[&str], &str)] = &[
    // Azure resources that do not exist.
    (
        &["Microsoft.ContainerRegistry/registries", "could not be found"],
        "check the registry name (`az acr list --output table` lists yours), then set azure.registry or --registry",
    ),
    (
        &["(SubscriptionNotFound)"],
        "az is signed in to a subscription that does not exist or that you lost access to: check `az account show`, then `az account set --subscription <id>`",
    ),
    (
        &["ResourceGroupNotFound"],
        "check the resource group (`az group list --output table`), then set azure.resource_group or --resource-group",
    ),
    (
        &["(ResourceNotFound)", "/revisions/"],
        "check the revision name (`az containerapp revision list --name <app> --resource-group <rg> --all --output table` lists them), or pass --to a digest",
    ),
    (
        &["(ResourceNotFound)"],
        "check the app name (`az containerapp list --resource-group <rg> --output table`), then set azure.app or --app",
    ),
    // Azure answering, but not as wanted.
    (
        &["(ContainerAppOperationInProgress)"],
        "another operation on the app is still running (409): wait until it ends (`docker azdeploy status` shows the app), then try again",
    ),
    (
        &["(TooManyRequests)"],
        "Azure Resource Manager is throttling this subscription (429): wait a minute and retry",
    ),
    (
        &["(InternalServerError)"],
        "Azure Resource Manager answered a server error (500): retry later (https://status.azure.com)",
    ),
    (
        &["(ServiceUnavailable)"],
        "Azure Resource Manager answered a server error (500): retry later (https://status.azure.com)",
    ),
    (
        &["(ExpiredAuthenticationToken)"],
        "the Azure sign-in has expired: run `az login` again",
    ),
    (
        &["Please run 'az login'"],
        "run `az login` (and `az account set --subscription <id>`), then try again",
    ),
    // Azure not reachable.
    (
        &["CERTIFICATE_VERIFY_FAILED"],
        "az does not trust the certificate Azure answered with (a proxy that intercepts TLS?): point REQUESTS_CA_BUNDLE at a bundle that includes its CA",
    ),
    (
        &["Read timed out."],
        "Azure did not answer within az's own limit (300 s a try, 4 tries): retry later; if it keeps happening, check https://status.azure.com",
    ),
    (
        &["[Errno 111] Connection refused"],
        "Azure cannot be reached from this machine: check the network, VPN or proxy (HTTPS_PROXY), then retry",
    ),
    (
        &["Failed to resolve '"],
        "Azure cannot be reached from this machine: check the network, VPN or proxy (HTTPS_PROXY), then retry",
    ),
    // The Docker engine.
    (
        &["Cannot connect to the Docker daemon"],
        "start the Docker engine (Docker Desktop, `colima start`, or `dockerd`), then check it with `docker version`",
    ),
    (
        &["error during connect"],
        "start the Docker engine (Docker Desktop, `colima start`, or `dockerd`), then check it with `docker version`",
    ),
    (
        &["error waiting for container: unexpected EOF"],
        "the Docker engine stopped while this ran: start it again (Docker Desktop, `colima start`, or `dockerd`), check with `docker version`, then retry",
    ),
    (
        &["error reading from server: EOF"],
        "the Docker engine stopped while this ran: start it again (Docker Desktop, `colima start`, or `dockerd`), check with `docker version`, then retry",
    ),
    (
        &["=unexpected EOF"],
        "the Docker engine stopped while this ran: start it again (Docker Desktop, `colima start`, or `dockerd`), check with `docker version`, then retry",
    ),
    (
        &["'buildx' is not a docker command"],
        "install Docker Buildx (Docker Desktop ships it; on Linux the `docker-buildx` or `docker-buildx-plugin` package)",
    ),
    (
        &["unknown command: docker buildx"],
        "install Docker Buildx (Docker Desktop ships it; on Linux the `docker-buildx` or `docker-buildx-plugin` package)",
    ),
    // A full disk, whoever says it.
    (
        &["[Errno 28] No space left on device"],
        "the disk is full: free some space (`docker system df` shows what Docker holds; `docker builder prune`, `docker image prune`), then retry",
    ),
    (
        &["no space left on device"],
        "the disk is full: free some space (`docker system df` shows what Docker holds; `docker builder prune`, `docker image prune`), then retry",
    ),
    (
        &["No space left on device (os error 28)"],
        "the disk is full: free some space (`docker system df` shows what Docker holds; `docker builder prune`, `docker image prune`), then retry",
    ),
    (
        &["Error saving credentials"],
        "the disk is full: free some space (`docker system df` shows what Docker holds; `docker builder prune`, `docker image prune`), then retry",
    ),
    // Registries: not reachable, refusing, failing. The 401s before the 403's bare `denied`.
    (
        &["connect: connection refused"],
        "nothing listens at the registry's address: check the registry name and port, or start the local registry",
    ),
    (
        &["no such host"],
        "the registry's host name does not resolve: check the registry name (ACR: <name>.azurecr.io) and your DNS/VPN",
    ),
    (
        &["first record does not look like a TLS handshake"],
        "the registry speaks plain HTTP where docker expects HTTPS: use its HTTPS address, or list it in dockerd's \"insecure-registries\" (local registries only)",
    ),
    (
        &["x509: certificate signed by unknown authority"],
        "the registry's certificate is not trusted (a proxy that intercepts TLS, or a self-signed registry): add its CA to the system's trusted certificates (and /etc/docker/certs.d/<registry>/ca.crt), then restart Docker",
    ),
    (
        &["no basic auth credentials"],
        "log in to the registry first: `docker login <registry>`, or for ACR `az acr login --name <acr>`",
    ),
    (
        &["failed with status: 401 Unauthorized"],
        "the registry refused the user name or password: check them (ACR: `az acr login --name <acr>` logs in for you)",
    ),
    (
        &["unauthorized: authentication required"],
        "the saved registry login was refused (expired ACR token or changed password): log in again (`az acr login --name <acr>` or `docker login <registry>`)",
    ),
    (
        &["401 Unauthorized"],
        "the saved registry login was refused (expired ACR token or changed password): log in again (`az acr login --name <acr>` or `docker login <registry>`)",
    ),
    (
        &["403 Forbidden"],
        "the registry refused this identity (403): check it has push/pull rights on this repository (ACR: the AcrPush role), or the registry's firewall allows this network",
    ),
    (
        &["=denied"],
        "the registry refused this identity (403): check it has push/pull rights on this repository (ACR: the AcrPush role), or the registry's firewall allows this network",
    ),
    (
        &["Error response from daemon: denied"],
        "the registry refused this identity (403): check it has push/pull rights on this repository (ACR: the AcrPush role), or the registry's firewall allows this network",
    ),
    (
        &["ERROR: denied"],
        "the registry refused this identity (403): check it has push/pull rights on this repository (ACR: the AcrPush role), or the registry's firewall allows this network",
    ),
    (
        &["manifest unknown"],
        "the registry has no such image: check the repository and tag (`az acr repository show-tags --name <acr> --repository <repo>`), or push it first",
    ),
    (
        &[": not found"],
        "the registry has no such image: check the repository and tag (`az acr repository show-tags --name <acr> --repository <repo>`), or push it first",
    ),
    (
        &["toomanyrequests"],
        "the registry is rate-limiting requests (429): wait a minute and retry",
    ),
    (
        &["429 Too Many Requests"],
        "the registry is rate-limiting requests (429): wait a minute and retry",
    ),
    (
        &["received unexpected HTTP status: 5"],
        "the registry had a server error (5xx); docker already retried: retry later, or check the registry's status",
    ),
    (
        &["500 Internal Server Error"],
        "the registry had a server error (5xx); docker already retried: retry later, or check the registry's status",
    ),
    (
        &["503 Service Unavailable"],
        "the registry had a server error (5xx); docker already retried: retry later, or check the registry's status",
    ),
    // Emulation and contexts.
    (
        &["exec format error"],
        "emulation for the target platform is missing: run `docker azdeploy doctor` for the fix on this machine",
    ),
    (
        &["context \"", "context not found"],
        "list the docker contexts with `docker context ls` and pick one with `--context`",
    ),
    (
        &["context \"", "does not exist"],
        "list the docker contexts with `docker context ls` and pick one with `--context`",
    ),
];

/// Whether `needle` is in `text` (a `=` needle: as a whole, trimmed line).
fn found(text: &str, needle: &str) -> bool {
    match needle.strip_prefix('=') {
        Some(line) => text.lines().any(|l| l.trim() == line),
        None => text.contains(needle),
    }
}

/// The hint for a failure whose output contains a known message.
pub fn for_output(text: &str) -> Option<String> {
    KNOWN
        .iter()
        .find(|(needles, _)| needles.iter().all(|n| found(text, n)))
        .map(|(_, hint)| (*hint).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the captured faults' table: the tool's real output gets the row's hint.
    #[test]
    fn each_captured_fault_gets_its_hint() {
        let dir = format!(
            "{}/tests/fixtures/captured/faults",
            env!("CARGO_MANIFEST_DIR")
        );
        let readme = std::fs::read_to_string(format!("{dir}/README.md")).unwrap();
        let mut checked = 0;
        for row in readme.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row
                .split(" | ")
                .map(|c| c.trim_matches(|x| x == '|' || x == ' '))
                .collect();
            if cells.len() < 6 {
                continue;
            }
            let (case, tool, hint) = (
                cells[0].trim_matches('`'),
                cells[1].trim_matches('`'),
                cells[5],
            );
            // A killed az says nothing: its signal is the message (the runner's own hint).
            if case.starts_with("az-killed") {
                continue;
            }
            let read = |ext: &str| {
                std::fs::read_to_string(format!("{dir}/{case}.{tool}.{ext}")).unwrap_or_default()
            };
            let text = format!("{}{}", read("stdout"), read("stderr"));
            assert_eq!(for_output(&text).as_deref(), Some(hint), "{case} / {tool}");
            checked += 1;
        }
        assert!(checked > 70, "{checked} rows");
        assert_eq!(
            for_output("Got permission denied while trying to connect"),
            None
        );
    }

    #[test]
    fn real_messages_get_their_hint() {
        let daemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
        assert!(for_output(daemon)
            .unwrap()
            .contains("start the Docker engine"));
        let az = "ERROR: Please run 'az login' to setup account.";
        assert!(for_output(az).unwrap().contains("az login"));
        let ctx = "context \"nope\" does not exist";
        assert!(for_output(ctx).unwrap().contains("docker context ls"));
        let ctx = "Failed to initialize: unable to resolve docker endpoint: context \"nosuchctx\": context not found: open /x/meta.json: no such file or directory";
        assert!(for_output(ctx).unwrap().contains("docker context ls"));
        assert_eq!(for_output("something else entirely"), None);
        let acr = "ERROR: The resource with name 'nope' and type 'Microsoft.ContainerRegistry/registries' could not be found in subscription 'Pay-As-You-Go (0000)'.";
        assert!(for_output(acr).unwrap().contains("az acr list"));
        let rg = "ERROR: (ResourceGroupNotFound) Resource group 'rg-x' could not be found.\nCode: ResourceGroupNotFound";
        assert!(for_output(rg).unwrap().contains("az group list"));
        let fixture = |f: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/fixtures/az/{f}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        assert!(for_output(&fixture("throttled.stderr"))
            .unwrap()
            .starts_with("Azure Resource Manager is throttling"));
        assert!(for_output(&fixture("server-error.stderr"))
            .unwrap()
            .starts_with("Azure Resource Manager answered a server error"));
        assert!(for_output(&fixture("logged-out.stderr"))
            .unwrap()
            .contains("az login"));
    }
}
