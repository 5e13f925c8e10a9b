//! `validate-config` run as an operator runs it: on the shipped `provider-config/` files, on a
//! directory as kubelet 1.34 reads it, and on configs kubelet would refuse.

mod support;

use support::sweep::run_provider;
use support::{repo_path, TempDir};

fn validate(args: &[&str]) -> (i32, String) {
    let mut all = vec!["validate-config"];
    all.extend_from_slice(args);
    let ran = run_provider(&all, "");
    (ran.status.code().expect("exit code"), ran.stdout)
}

#[test]
fn every_shipped_provider_config_is_accepted_without_warnings() {
    let dir = repo_path("provider-config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("provider-config/") {
        let path = entry.expect("entry").path();
        let (code, out) = validate(&[path.to_str().expect("utf-8")]);
        assert_eq!(code, 0, "{}:\n{out}", path.display());
        assert!(!out.contains("warning:"), "{}:\n{out}", path.display());
        assert!(
            out.lines().last().unwrap_or("").starts_with("OK: "),
            "{out}"
        );
        seen += 1;
    }
    assert!(
        seen >= 5,
        "expected the EKS, AKS, GKE, generic and pod-identity configs"
    );
}

#[test]
fn every_shipped_provider_turns_the_token_cache_on_where_the_readme_says() {
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README");
    let dir = "/run/cloud-credential-provider";
    assert!(
        readme.contains(&format!("--cache-dir={dir}")),
        "README names {dir}"
    );
    // `cache list` looks there by default: the same place.
    let help = run_provider(&["--help"], "").stdout;
    assert!(help.contains(&format!("DIR defaults to {dir}.")), "{help}");
    for entry in std::fs::read_dir(repo_path("provider-config")).expect("provider-config/") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("sample");
        let providers = text.matches("  - name: ").count();
        let cached = text.matches(&format!("--cache-dir={dir}\"")).count();
        assert!(providers > 0, "{}", path.display());
        assert_eq!(cached, providers, "{}", path.display());
    }
}

#[test]
fn shipped_configs_cover_their_clouds_hosts() {
    let cases: &[(&str, &[&str])] = &[
        (
            "provider-config/eks.yaml",
            &[
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app",
                "123456789012.dkr-ecr.eu-west-1.on.aws/app",
                "123456789012.dkr-ecr-fips.us-east-1.on.aws/app",
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app",
                "public.ecr.aws/nginx/nginx",
            ],
        ),
        (
            "provider-config/aks.yaml",
            &[
                "myacr.azurecr.io/app",
                "myacr.westeurope.geo.azurecr.io/app",
                "myacr.azurecr.cn/app",
            ],
        ),
        (
            "provider-config/gke.yaml",
            &[
                "gcr.io/p/app",
                "eu.gcr.io/p/app",
                "europe-docker.pkg.dev/p/r/app",
            ],
        ),
        (
            "provider-config/generic.yaml",
            &[
                "registry.example.com:5000/team/app",
                "myacr.azurecr.io/app",
                "gcr.io/p/app",
            ],
        ),
    ];
    for (file, images) in cases {
        let path = repo_path(file);
        let mut args = vec![path.to_str().expect("utf-8")];
        for image in *images {
            args.push("--image");
            args.push(image);
        }
        let (code, out) = validate(&args);
        assert_eq!(code, 0, "{file}:\n{out}");
        assert!(!out.contains("no provider matches"), "{file}:\n{out}");
    }
}

#[test]
fn json_output_lists_which_provider_serves_an_image() {
    let path = repo_path("provider-config/pod-identity.yaml");
    let (code, out) = validate(&[
        path.to_str().expect("utf-8"),
        "--image",
        "myacr.azurecr.io/app:1",
        "--image",
        "nginx",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["ok"], true);
    assert_eq!(v["providers"], 3);
    assert_eq!(v["images"][0]["kubeletImage"], "myacr.azurecr.io/app");
    assert_eq!(
        v["images"][0]["matches"][0]["provider"],
        "acr-credential-provider"
    );
    assert_eq!(v["images"][1]["kubeletImage"], "docker.io/library/nginx");
    assert_eq!(v["images"][1]["matches"], serde_json::json!([]));
}

const HEADER: &str = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\n";

#[test]
fn configs_kubelet_refuses_fail_with_kubelet_messages() {
    let dir = TempDir::new("validate-bad");
    let cases: &[(&str, &str)] = &[
        // P19
        (
            "providers:\n- name: p\n  matchImages: [\"a.io\"]\n  defaultCacheDuration: 1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1alpha0\n",
            "providers.apiVersion: Unsupported value: \"credentialprovider.kubelet.k8s.io/v1alpha0\": supported values: \"credentialprovider.kubelet.k8s.io/v1\", \"credentialprovider.kubelet.k8s.io/v1alpha1\", \"credentialprovider.kubelet.k8s.io/v1beta1\"",
        ),
        // P20
        (
            "providers:\n- name: p\n  matchImages: [\"%invalid%\"]\n  defaultCacheDuration: 1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
            "invalid URL escape \"%in\"",
        ),
        (
            "providers: []\n",
            "at least 1 item in plugins is required",
        ),
        (
            "providers:\n- name: p\n  matchImages: [\"a.io\"]\n  defaultCacheDuration: -1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
            "defaultCacheDuration",
        ),
        (
            "providers:\n- name: p\n  matchImages: [\"a.io\"]\n  defaultCacheDuration: 1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  tokenAttributes:\n    serviceAccountTokenAudience: aud\n    requireServiceAccount: true\n",
            "providers.tokenAttributes.cacheType: Required value",
        ),
        (
            "providers:\n- name: p\n  matchImage: [\"a.io\"]\n  defaultCacheDuration: 1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
            "unknown field",
        ),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let path = dir.write(&format!("c{i}.yaml"), format!("{HEADER}{body}"), 0o644);
        let (code, out) = validate(&[path.to_str().expect("utf-8")]);
        assert_eq!(code, 1, "case {i}:\n{out}");
        assert!(
            out.contains(needle),
            "case {i} should mention {needle:?}:\n{out}"
        );
        assert!(
            out.lines().last().unwrap_or("").starts_with("FAILED: "),
            "{out}"
        );
    }
}

#[test]
fn token_attributes_are_refused_in_a_v1beta1_config() {
    // P21: kubelet's strict decoder has no tokenAttributes field before v1.
    let dir = TempDir::new("validate-p21");
    let path = dir.write("c.yaml",
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: CredentialProviderConfig\nproviders:\n- name: p\n  matchImages: [\"a.io\"]\n  defaultCacheDuration: 1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  tokenAttributes:\n    serviceAccountTokenAudience: aud\n",
        0o644,
    );
    let (code, out) = validate(&[path.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "providers[0]: unknown field `tokenAttributes` in kubelet.config.k8s.io/v1beta1"
        ),
        "{out}"
    );
}

#[test]
fn a_directory_is_read_like_kubelet_and_names_repeated_providers() {
    let dir = TempDir::new("validate-dir");
    std::fs::copy(
        repo_path("provider-config/gke.yaml"),
        dir.join("10-gke.yaml"),
    )
    .expect("copy");
    std::fs::copy(
        repo_path("provider-config/aks.yaml"),
        dir.join("20-aks.yml"),
    )
    .expect("copy");
    dir.write("README.txt", "not a config: ignored by kubelet", 0o644);
    let (code, out) = validate(&[dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK: 2 providers"), "{out}");

    // The same provider name in two files stops kubelet.
    std::fs::copy(
        repo_path("provider-config/gke.yaml"),
        dir.join("30-gke-again.json.yaml"),
    )
    .expect("copy");
    let (code, out) = validate(&[dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("auth-provider-gcp"), "{out}");

    let empty = TempDir::new("validate-empty");
    let (code, out) = validate(&[empty.path().to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn patterns_that_never_match_and_rejected_args_are_warned_about() {
    let dir = TempDir::new("validate-warn");
    let path = dir.write("c.yaml",
        format!(
            "{HEADER}providers:\n- name: cloud-credential-provider\n  matchImages: [\"harbor.example.com/*\", \"https://reg.example\", \"10.1.2.3\"]\n  defaultCacheDuration: 1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  args: [\"--no-such-flag\"]\n"
        ),
        0o644,
    );
    let (code, out) = validate(&[
        path.to_str().expect("utf-8"),
        "--image",
        "10.1.2.3:5000/app",
    ]);
    // Kubelet starts with this config; it just never works.
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\"harbor.example.com/*\" can never match"),
        "{out}"
    );
    assert!(
        out.contains("\"https://reg.example\" can never match"),
        "{out}"
    );
    assert!(out.contains("list 10.1.2.3:PORT explicitly"), "{out}");
    assert!(out.contains("unknown option --no-such-flag"), "{out}");
    assert!(out.contains("no provider matches"), "{out}");
}
