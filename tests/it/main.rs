//! The one integration-test binary.

mod support;

/// The simulated Azure (tests/azure-sim) for the real az.
mod azsim;
/// Azure from zero: push and deploy create what is missing, with the real az and a real
/// Streamlit image; settings that would break the app stop the deploy.
mod azure_from_zero;
/// The plugin's Azure commands through the real docker CLI and the real az, against the
/// simulated Azure, with images on the real engine and registry.
mod azure_plugin;
/// The real az against the simulated Azure.
mod azure_real;
/// Bad input, counted: one clear error, its exit code, nothing left behind.
mod bad_input;
/// `build`: buildx argv, the architecture gate, dry-run, bad input.
mod build;
/// `config` and `init`: settings, precedence and clear errors.
mod config_cmd;
/// `deploy` against a fake az with revision sequences.
mod deploy;
/// `doctor`: every check, the table, `--json`.
mod doctor;
/// The real engine (skipped without one unless AZDEPLOY_E2E=1).
mod engine;
/// `push` to the real registry through a fake az.
mod engine_push;
/// Real Python, pip and Streamlit: the sample apps through init, build and test-local, native
/// and for a foreign platform without emulation.
mod engine_python;
/// `test-local` on the real engine.
mod engine_test_local;
/// Only linux/amd64 reaches Azure: the four ways it used to break, on the real engine.
mod engine_trust;
/// The fault suite: kill -9, hung and failing az, a full disk; nothing left behind.
mod faults;
/// Docker's global flags reach every child docker call; standalone runs.
mod forwarding;
/// `install.sh`: the release archive without cargo, checksums, unsupported platforms.
mod install;
/// The plugin contract through the real docker CLI (no engine needed).
mod plugin_contract;
/// `build --remote acr` through a fake az.
mod remote;
/// SIGINT, SIGTERM and the plugin socket: exit 130/143, children gone.
mod signals;
/// `status`, `logs`, `rollback` against a fake az.
mod status;
/// README, CHANGELOG and metadata keep up with the code.
mod tidy;
/// `doctor --wheels` with the real pip and local wheels.
mod wheels;
