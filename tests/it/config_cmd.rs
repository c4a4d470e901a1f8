use crate::support::*;

#[test]
fn config_shows_each_value_and_its_source() {
    let s = Sandbox::new();
    s.write(
        "work/azdeploy.json",
        r#"{"image": "shop", "port": 8000, "azure": {"registry": "myacr"}}"#,
    );
    let out = s
        .plugin()
        .env("AZDEPLOY_PORT", "9000")
        .args(["config", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["file"], "azdeploy.json");
    let set = &v["settings"];
    assert_eq!(set["image"]["value"], "shop");
    assert_eq!(set["image"]["source"], "file azdeploy.json");
    assert_eq!(set["port"]["value"], 9000);
    assert_eq!(set["port"]["source"], "env AZDEPLOY_PORT");
    assert_eq!(set["platform"]["value"], "linux/amd64");
    assert_eq!(set["platform"]["source"], "default");
    assert_eq!(set["azure.registry"]["value"], "myacr");
    assert!(set["azure.app"]["value"].is_null());

    let out = s.plugin().arg("config").output().unwrap();
    let text = stdout_of(&out);
    assert!(text.starts_with("KEY "), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("image")
            && l.contains("shop")
            && l.ends_with("file azdeploy.json")),
        "{text}"
    );
    assert!(text.lines().all(|l| l.len() <= 100), "{text}");
}

#[test]
fn bad_config_values_are_clear_errors() {
    for (file, needles) in [
        (
            "{\n  \"platform\": \"linux/amd46\"\n}",
            vec![
                "invalid setting `platform` in azdeploy.json:2:",
                "did you mean linux/amd64?",
            ],
        ),
        (
            "{\"port\": 0}",
            vec!["`port`", "azdeploy.json:1:", "out of range (1-65535)"],
        ),
        ("{\"port\": 65536}", vec!["`port`", "out of range"]),
        (
            "{\"dockerfile\": \"x\"}",
            vec!["`dockerfile`", "unknown field"],
        ),
        (
            "{\"build\": {\"args\": [\"A=1\"]}}",
            vec!["`build.args`", "invalid type"],
        ),
        ("{\"port\": 8501", vec!["azdeploy.json:1:", "EOF"]),
    ] {
        let s = Sandbox::new();
        s.write("work/azdeploy.json", file);
        let out = s.plugin().arg("config").output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{file}");
        let err = stderr_of(&out);
        assert!(err.starts_with("error: "), "{err}");
        for n in needles {
            assert!(err.contains(n), "{file}: missing {n:?} in {err}");
        }
        assert!(err.contains("\nhint: "), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn azdeploy_config_variable_names_the_file() {
    let s = Sandbox::new();
    s.write("work/conf/prod.json", r#"{"image": "prod-app"}"#);
    let out = s
        .plugin()
        .env("AZDEPLOY_CONFIG", "conf/prod.json")
        .args(["config", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["settings"]["image"]["value"], "prod-app");
    assert_eq!(v["settings"]["image"]["source"], "file conf/prod.json");
    let out = s
        .plugin()
        .env("AZDEPLOY_CONFIG", "missing.json")
        .arg("config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("AZDEPLOY_CONFIG names "),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn init_detects_streamlit_and_never_overwrites_without_force() {
    let s = Sandbox::new();
    s.write("work/requirements.txt", "streamlit==1.39.0\npandas\n");
    s.write(
        "work/Dockerfile",
        "FROM python:3.12-slim\nEXPOSE 8502\nCMD [\"streamlit\", \"run\", \"app.py\"]\n",
    );
    let out = s.plugin().arg("init").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).trim_end().ends_with("azdeploy.json"));
    let written: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/azdeploy.json"))).unwrap();
    assert_eq!(written["port"], 8502);
    assert_eq!(written["health_path"], "/_stcore/health");
    assert_eq!(written["platform"], "linux/amd64");
    assert_eq!(written["image"], "work");

    s.write("work/azdeploy.json", "{\"image\": \"mine\"}");
    let out = s.plugin().arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("already exists"),
        "{}",
        stderr_of(&out)
    );
    assert!(stderr_of(&out).contains("hint: pass --force"));
    assert_eq!(read(&s.path("work/azdeploy.json")), "{\"image\": \"mine\"}");

    let out = s
        .plugin()
        .args(["init", "--force", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        read(&s.path("work/azdeploy.json")),
        "{\"image\": \"mine\"}",
        "dry-run wrote"
    );

    s.plugin().args(["init", "--force"]).assert().success();
    assert!(read(&s.path("work/azdeploy.json")).contains("/_stcore/health"));
    // What init writes, config reads.
    s.plugin().arg("config").assert().success();
}
