//! `doctor --wheels` with the real pip against local wheels and sdists built here.

use crate::support::*;

/// Real (small) distributions: a pure-Python wheel, a wheel for aarch64 only, an sdist only.
fn links(s: &Sandbox) {
    std::fs::create_dir_all(s.path("links")).unwrap();
    let script = r#"
import io, sys, tarfile, zipfile
d = sys.argv[1]
def wheel(name, ver, tag):
    with zipfile.ZipFile(f"{d}/{name}-{ver}-{tag}.whl", "w") as z:
        di = f"{name}-{ver}.dist-info"
        z.writestr(f"{name}/__init__.py", "")
        z.writestr(f"{di}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n")
        z.writestr(f"{di}/WHEEL", f"Wheel-Version: 1.0\nGenerator: azdeploy-test\nRoot-Is-Purelib: true\nTag: {tag}\n")
        z.writestr(f"{di}/RECORD", "")
wheel("purepkg", "1.0", "py3-none-any")
wheel("armonly", "2.0", "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64")
with tarfile.open(f"{d}/sdistonly-3.0.tar.gz", "w:gz") as t:
    data = b"Metadata-Version: 2.1\nName: sdistonly\nVersion: 3.0\n"
    info = tarfile.TarInfo("sdistonly-3.0/PKG-INFO")
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
"#;
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(s.path("links"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn sdist_only_and_aarch64_only_are_reported_for_amd64_and_pure_is_not() {
    let s = Sandbox::new();
    links(&s);
    crate::build::healthy_engine(&s);
    s.write("work/Dockerfile", "FROM scratch\nEXPOSE 8501\n");
    s.write(
        "work/requirements.txt",
        "purepkg==1.0\nsdistonly\n# a comment\narmonly>=2\n",
    );
    let out = s
        .plugin()
        .env("AZDEPLOY_PYTHON", python())
        .args([
            "doctor",
            "--json",
            "--wheels",
            "--find-links",
            s.path("links").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings only: {}",
        stderr_of(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let wheels: Vec<&serde_json::Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "wheels")
        .collect();
    let details: Vec<&str> = wheels
        .iter()
        .map(|c| c["detail"].as_str().unwrap())
        .collect();
    assert!(details.iter().any(|d| d.starts_with("sdistonly (3.0): no binary wheel for linux/amd64, Python 3.12: it compiles from source")), "{details:?}");
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("armonly>=2: no distribution for linux/amd64")),
        "{details:?}"
    );
    assert!(
        details.iter().all(|d| !d.starts_with("purepkg")),
        "{details:?}"
    );
    assert!(
        details.contains(&"1 of 3 requirements have binary wheels for linux/amd64, Python 3.12"),
        "{details:?}"
    );
    let warn = wheels.iter().find(|c| c["status"] == "warn").unwrap();
    assert!(
        warn["hint"].as_str().unwrap().contains("compilers"),
        "{warn}"
    );

    // For linux/arm64 the aarch64 wheel is fine.
    let out = s
        .plugin()
        .env("AZDEPLOY_PYTHON", python())
        .args([
            "doctor",
            "--json",
            "--wheels",
            "--platform",
            "linux/arm64",
            "--find-links",
            s.path("links").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let details: Vec<String> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "wheels")
        .map(|c| c["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(
        details.iter().all(|d| !d.starts_with("armonly")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.starts_with("sdistonly")),
        "{details:?}"
    );
}

#[test]
fn an_unreachable_index_is_said_clearly() {
    let s = Sandbox::new();
    crate::build::healthy_engine(&s);
    s.write("work/Dockerfile", "FROM scratch\nEXPOSE 8501\n");
    s.write("work/requirements.txt", "purepkg\n");
    // A closed port on loopback: refused at once, nothing leaves the machine.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = s
        .plugin()
        .env("AZDEPLOY_PYTHON", python())
        .env("PIP_RETRIES", "1")
        .env("PIP_TIMEOUT", "2")
        .args([
            "doctor",
            "--json",
            "--wheels",
            "--index-url",
            &format!("http://127.0.0.1:{port}/simple"),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "wheels")
        .unwrap();
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("not reachable"),
        "{c}"
    );
}

#[test]
fn no_requirements_file_is_a_skip() {
    let s = Sandbox::new();
    crate::build::healthy_engine(&s);
    s.write("work/Dockerfile", "FROM scratch\nEXPOSE 8501\n");
    let out = s
        .plugin()
        .args(["doctor", "--json", "--wheels"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "wheels")
        .unwrap();
    assert_eq!(c["status"], "skip", "{c}");
}

#[test]
fn the_build_preflight_warns_about_source_builds_and_remembers() {
    let s = Sandbox::new();
    links(&s);
    crate::build::healthy_engine(&s);
    s.answer("docker-buildx-build", "sh", "echo building >&2\n");
    s.answer(
        "docker-image-inspect",
        "stdout",
        r#"{"Id":"sha256:1","Os":"linux","Architecture":"amd64"}"#,
    );
    s.write("work/Dockerfile", "FROM python:3.11-slim\nEXPOSE 8501\n");
    s.write("work/requirements.txt", "purepkg\nsdistonly\n");
    let build = |python: &str| {
        s.plugin()
            .env("AZDEPLOY_PYTHON", python)
            // pip's own settings: offline, against the local distributions.
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", s.path("links"))
            .args(["build", "-t", "shop:1"])
            .output()
            .unwrap()
    };
    let out = build(&python());
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "warning: wheels: sdistonly (3.0): no binary wheel for linux/amd64, Python 3.11"
        ),
        "{err}"
    );
    assert!(!err.contains("purepkg"), "{err}");
    // The second build does not ask pip again (there is no python at all now).
    let out = build("/nonexistent/python3");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("warning: wheels: sdistonly (3.0)"),
        "{}",
        stderr_of(&out)
    );
}
