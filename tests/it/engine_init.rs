//! `init --dockerfile` end to end: the generated Dockerfile builds on the real engine against
//! a stand-in for `python:3.12-slim` (nothing can be pulled here): busybox plus tiny scripts
//! named pip, python, useradd and apt-get that do just enough for the Dockerfile's steps.

use crate::engine::{busybox, unique, Images};
use crate::support::*;

/// Builds the stand-in base image; returns its tag.
fn stand_in_base(s: &Sandbox) -> (String, Images) {
    let dir = "base";
    std::fs::create_dir_all(s.path(dir)).unwrap();
    std::fs::copy(busybox("amd64"), s.path(&format!("{dir}/busybox"))).unwrap();
    s.write(&format!("{dir}/bin/pip"), "#!/bin/sh\ncase \"$1\" in\n  wheel) mkdir -p /wheels && touch /wheels/stub-1.0-py3-none-any.whl ;;\nesac\nexit 0\n");
    s.write(&format!("{dir}/bin/python"), "#!/bin/sh\nexit 0\n");
    // What the generated CMD starts (a real install puts this console script there).
    s.write(&format!("{dir}/bin/streamlit"), "#!/bin/sh\nexit 0\n");
    s.write(&format!("{dir}/bin/apt-get"), "#!/bin/sh\nexit 0\n");
    s.write(
        &format!("{dir}/bin/useradd"),
        "#!/bin/sh\nuid=1000\nwhile [ $# -gt 1 ]; do [ \"$1\" = --uid ] && uid=$2; shift; done\n\
         mkdir -p /home/$1 && echo \"$1:x:$uid:$uid::/home/$1:/bin/sh\" >> /etc/passwd && echo \"$1:x:$uid:\" >> /etc/group && chown $uid:$uid /home/$1\n",
    );
    s.write(
        &format!("{dir}/etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    );
    s.write(&format!("{dir}/etc/group"), "root:x:0:\n");
    s.write(
        &format!("{dir}/Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\n\
         RUN [\"/bin/busybox\", \"mkdir\", \"-p\", \"/usr/bin\", \"/usr/sbin\", \"/sbin\", \"/tmp\", \"/usr/local/bin\"]\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\"]\n\
         COPY bin/ /usr/local/bin/\nRUN chmod 755 /usr/local/bin/*\n",
    );
    let tag = format!("{}:base", unique("azdeploy-e2e-python-standin"));
    crate::engine::buildx_load(s, dir, "linux/amd64", &tag);
    (tag.clone(), Images(vec![tag]))
}

#[test]
fn the_generated_dockerfile_builds_and_runs_as_non_root() {
    if !needs(
        "the_generated_dockerfile_builds_and_runs_as_non_root",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let s = Sandbox::new();
    let (base, _base_image) = stand_in_base(&s);
    // Local distributions for pip: one with a wheel, one source-only.
    let links = s.path("links");
    std::fs::create_dir_all(&links).unwrap();
    let script = "import sys, zipfile, tarfile, io\nd=sys.argv[1]\n\
        z=zipfile.ZipFile(f'{d}/purepkg-1.0-py3-none-any.whl','w')\n\
        z.writestr('purepkg-1.0.dist-info/METADATA','Metadata-Version: 2.1\\nName: purepkg\\nVersion: 1.0\\n')\n\
        z.writestr('purepkg-1.0.dist-info/WHEEL','Wheel-Version: 1.0\\nTag: py3-none-any\\n')\nz.close()\n\
        t=tarfile.open(f'{d}/sdistonly-3.0.tar.gz','w:gz')\ndata=b'Metadata-Version: 2.1\\nName: sdistonly\\nVersion: 3.0\\n'\n\
        i=tarfile.TarInfo('sdistonly-3.0/PKG-INFO'); i.size=len(data); t.addfile(i, io.BytesIO(data)); t.close()\n";
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&links)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));

    s.write("work/requirements.txt", "purepkg\nsdistonly\n");
    s.write(
        "work/dashboard.py",
        "import streamlit as st\nst.write('hi')\n",
    );
    let plugin = |args: &[&str]| {
        s.real_docker()
            .env("AZDEPLOY_PYTHON", python())
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", &links)
            .arg("azdeploy")
            .args(args)
            .output()
            .unwrap()
    };
    let out = plugin(&["init", "--dockerfile"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("wrote Dockerfile (Streamlit, with compilers for sdistonly, starts dashboard.py) and .dockerignore"), "{err}");
    let dockerfile = read(&s.path("work/Dockerfile"));
    assert!(
        dockerfile.contains("build-essential") && dockerfile.contains("dashboard.py"),
        "{dockerfile}"
    );
    assert!(read(&s.path("work/.dockerignore")).contains(".venv"));
    assert!(read(&s.path("work/azdeploy.json")).contains("/_stcore/health"));

    // Never overwritten without --force; nothing written at all.
    s.write("work/Dockerfile", "FROM mine\n");
    let out = plugin(&["init", "--dockerfile"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out)
            .contains("Dockerfile and .dockerignore already exist(s); nothing was written"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(read(&s.path("work/Dockerfile")), "FROM mine\n");
    let out = plugin(&["init", "--dockerfile", "--force"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read(&s.path("work/Dockerfile")), dockerfile);

    // It builds for linux/amd64 on the real engine, preflight and gate included.
    let name = unique("azdeploy-e2e-generated");
    let _images = Images(vec![format!("{name}:t1"), format!("{name}:latest")]);
    let out = plugin(&[
        "build",
        "-t",
        &format!("{name}:t1"),
        "--build-arg",
        &format!("PYTHON_IMAGE={base}"),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let inspect = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Config.User}} {{json .Config.ExposedPorts}} {{json .Config.Healthcheck.Test}} {{.Architecture}}", &format!("{name}:t1")])
        .output()
        .unwrap();
    let facts = stdout_of(&inspect);
    assert!(
        facts.starts_with("app {\"8501/tcp\":{}} [\"CMD\",\"python\",\"-c\""),
        "{facts}"
    );
    assert!(facts.trim_end().ends_with("amd64"), "{facts}");
}

#[test]
fn flask_and_bare_python_apps_build_too() {
    if !needs(
        "flask_and_bare_python_apps_build_too",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let s = Sandbox::new();
    let (base, _base_image) = stand_in_base(&s);
    let links = s.path("links");
    std::fs::create_dir_all(&links).unwrap();
    let script = "import sys, zipfile\nd=sys.argv[1]\n\
        z=zipfile.ZipFile(f'{d}/flask-3.0.0-py3-none-any.whl','w')\n\
        z.writestr('flask-3.0.0.dist-info/METADATA','Metadata-Version: 2.1\\nName: flask\\nVersion: 3.0.0\\n')\n\
        z.writestr('flask-3.0.0.dist-info/WHEEL','Wheel-Version: 1.0\\nTag: py3-none-any\\n')\nz.close()\n";
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&links)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    for (app, files, kind, cmd) in [
        (
            "flask",
            vec![
                ("requirements.txt", "Flask==3.0.0\n"),
                ("app.py", "from flask import Flask\napp = Flask(__name__)\n"),
            ],
            "Flask, no compilers (every requirement has a wheel), starts app.py",
            r#"["python","-m","flask","--app","app","run","--host=0.0.0.0","--port=8501"]"#,
        ),
        (
            "bare",
            vec![("main.py", "print('hi')\n")],
            "Python, no compilers (every requirement has a wheel), starts main.py",
            r#"["python","main.py"]"#,
        ),
    ] {
        let dir = format!("work-{app}");
        for (f, text) in &files {
            s.write(&format!("{dir}/{f}"), text);
        }
        let run = |args: &[&str]| {
            s.real_docker()
                .current_dir(s.path(&dir))
                .env("AZDEPLOY_PYTHON", python())
                .env("PIP_NO_INDEX", "1")
                .env("PIP_FIND_LINKS", &links)
                .arg("azdeploy")
                .args(args)
                .output()
                .unwrap()
        };
        let out = run(&["init", "--dockerfile"]);
        assert!(out.status.success(), "{app}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(&format!("wrote Dockerfile ({kind}) and .dockerignore")),
            "{app}: {}",
            stderr_of(&out)
        );
        let name = unique(&format!("azdeploy-e2e-generated-{app}"));
        let _images = Images(vec![format!("{name}:t1"), format!("{name}:latest")]);
        let out = run(&[
            "build",
            "-t",
            &format!("{name}:t1"),
            "--build-arg",
            &format!("PYTHON_IMAGE={base}"),
        ]);
        assert!(out.status.success(), "{app}: {}", stderr_of(&out));
        let inspect = std::process::Command::new("docker")
            .args([
                "image",
                "inspect",
                "--format",
                "{{.Config.User}} {{json .Config.Cmd}}",
                &format!("{name}:t1"),
            ])
            .output()
            .unwrap();
        assert_eq!(stdout_of(&inspect).trim(), format!("app {cmd}"), "{app}");
    }
}
