//! Known failure text from docker, buildx and az, each mapped to the fix.
//!
//! Fed the captured stderr of a failed child. Each needle comes from real output of the tool
//! (see `tests/fixtures/captured/`), and each has a unit test.

/// (needles, hint): the first entry whose needles all appear in the text wins.
const KNOWN: &[(&[&str], &str)] = &[
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
    }
}
