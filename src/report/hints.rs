//! Known failure text from docker, buildx and az, each mapped to the fix.
//!
//! Fed the captured stderr of a failed child. Each needle comes from real output of the tool
//! (see `tests/fixtures/captured/`), and each has a unit test.

/// (needles, hint): the first entry whose needles all appear in the text wins.
const KNOWN: &[(&[&str], &str)] = &[
    (
        &["Microsoft.ContainerRegistry/registries", "could not be found"],
        "check the registry name (`az acr list --output table` lists yours), then set azure.registry or --registry",
    ),
    (
        &["ResourceGroupNotFound"],
        "check the resource group (`az group list --output table`), then set azure.resource_group or --resource-group",
    ),
    (
        &["Microsoft.App/containerApps", "was not found"],
        "check the app name (`az containerapp list --resource-group <rg> --output table`), then set azure.app or --app",
    ),
    (
        &["Cannot connect to the Docker daemon"],
        "start the Docker engine (Docker Desktop, `colima start`, or `dockerd`), then check it with `docker version`",
    ),
    (
        &["error during connect"],
        "start the Docker engine (Docker Desktop, `colima start`, or `dockerd`), then check it with `docker version`",
    ),
    (
        &["'buildx' is not a docker command"],
        "install Docker Buildx (Docker Desktop ships it; on Linux the `docker-buildx` or `docker-buildx-plugin` package)",
    ),
    (
        &["unknown command: docker buildx"],
        "install Docker Buildx (Docker Desktop ships it; on Linux the `docker-buildx` or `docker-buildx-plugin` package)",
    ),
    (
        &["(TooManyRequests)"],
        "Azure is throttling this subscription's requests (az already retried): wait a minute and run it again; other tools polling the same subscription add to the count",
    ),
    (
        &["(InternalServerError)"],
        "Azure failed on its side (az already retried): run it again; if it keeps failing, check https://status.azure.com for the region",
    ),
    (
        &["(ServiceUnavailable)"],
        "Azure failed on its side (az already retried): run it again; if it keeps failing, check https://status.azure.com for the region",
    ),
    (
        &["(ExpiredAuthenticationToken)"],
        "your Azure login expired: run `az login`, then try again",
    ),
    (
        &["Please run 'az login'"],
        "run `az login` (and `az account set --subscription <id>`), then try again",
    ),
    (
        &["no basic auth credentials"],
        "log in to the registry first: `docker login <registry>`, or for ACR `az acr login --name <acr>`",
    ),
    (
        &["unauthorized: authentication required"],
        "log in to the registry first: `docker login <registry>`, or for ACR `az acr login --name <acr>`",
    ),
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

/// The hint for a failure whose output contains a known message.
pub fn for_output(text: &str) -> Option<String> {
    KNOWN
        .iter()
        .find(|(needles, _)| needles.iter().all(|n| text.contains(n)))
        .map(|(_, hint)| (*hint).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .starts_with("Azure is throttling"));
        assert!(for_output(&fixture("server-error.stderr"))
            .unwrap()
            .starts_with("Azure failed on its side"));
        assert!(for_output(&fixture("logged-out.stderr"))
            .unwrap()
            .contains("az login"));
    }
}
