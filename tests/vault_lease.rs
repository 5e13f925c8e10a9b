//! The `vault` backend reading a dynamic secrets engine: OpenBao's own `rabbitmq` engine (the
//! real engine; only the RabbitMQ management API behind it is a fake, tests/fakes/
//! rabbitmq_fake.py, as moto is for AWS). Every read creates a user with a fresh password
//! under a lease, so the tests see exactly which credentials were issued and when they are
//! revoked: `cacheDuration` is half the lease, capped at the login token's TTL; the login token
//! is kept (Vault revokes a token's leases with it, which would revoke the credentials just
//! served); the token cache serves a second pull without a new user; `check` shows the lease
//! and the fields used.
//!
//! OpenBao ships no engine that issues registry credentials (the Artifactory, Harbor or Quay
//! engines are external plugins), so the fake writes the users it is given into a real
//! registry's htpasswd file as well ([`World::pulling`]): the leased credentials the provider
//! serves pull an image with `skopeo`, and stop pulling once Vault revokes the lease.

#![cfg(feature = "vault")]

mod support;

use std::process::Command;

use serde_json::json;
use support::fakes::Fake;
use support::registry::TestRegistry;
use support::sweep::{assert_swept, plant, run_swept, secret_token};
use support::vault::{clean_env, Bao, Issuer};
use support::{go_seconds, pod_request, provider, response, run, Ran};

const AUDIENCE: &str = "vault.registry.example";
const HOST: &str = "registry.corp.example";
const IMAGE: &str = "registry.corp.example/team/app";

/// A server whose `rabbitmq/creds/puller` issues users of the fake under a `lease` (seconds)
/// lease, readable by JWT role `puller` (service account team-a/app, tokens of `token_ttl`).
struct World {
    bao: Bao,
    rabbit: Fake,
    issuer: Issuer,
    /// With [`World::pulling`]: the registry the issued users may pull from (`REPO` pushed).
    reg: Option<TestRegistry>,
}

/// The repository [`World::pulling`] pushes.
const REPO: &str = "team/app";

impl World {
    fn new(lease: u64, token_ttl: &str) -> World {
        World::start(lease, token_ttl, None)
    }

    /// A world whose issued users are users of a real registry too (the fake keeps its
    /// htpasswd file), which the provider's rule serves.
    fn pulling(lease: u64, token_ttl: &str) -> World {
        let reg = TestRegistry::start("pusher", &secret_token(20));
        reg.push_test_image(REPO);
        World::start(lease, token_ttl, Some(reg))
    }

    fn start(lease: u64, token_ttl: &str, reg: Option<TestRegistry>) -> World {
        let issuer = Issuer::new();
        let admin_password = secret_token(20);
        let htpasswd = reg
            .as_ref()
            .map(|r| r.htpasswd_file().display().to_string());
        let mut options = vec![("user", "admin"), ("password", admin_password.as_str())];
        if let Some(file) = &htpasswd {
            options.push(("htpasswd", file));
        }
        let rabbit = Fake::start("rabbitmq_fake.py", &[], &options);
        let bao = Bao::start();
        bao.cli(&["secrets", "enable", "rabbitmq"]);
        bao.write(
            "rabbitmq/config/connection",
            // The default user name holds the login's display name, with the service
            // account's colons, which Basic auth (and so a registry) cannot carry.
            json!({"connection_uri": rabbit.url(), "username": "admin",
                   "password": admin_password, "verify_connection": true,
                   "username_template": "pull-{{ random 20 | lowercase }}"}),
        );
        bao.write(
            "rabbitmq/config/lease",
            json!({"ttl": lease, "max_ttl": lease * 2}),
        );
        // Two engine roles the JWT role may read: a rule moves from one to the other.
        for role in ["puller", "puller-2"] {
            bao.write(
                &format!("rabbitmq/roles/{role}"),
                json!({"vhosts": json!({"/": {"configure": "", "write": "", "read": ".*"}}).to_string()}),
            );
        }
        bao.cli_in(
            None,
            &["policy", "write", "creds", "-"],
            "path \"rabbitmq/creds/*\" {\n  capabilities = [\"read\"]\n}\n",
        );
        bao.enable_jwt(None, &issuer);
        bao.jwt_role(
            None,
            "puller",
            ("team-a", "app"),
            AUDIENCE,
            "creds",
            token_ttl,
        );
        World {
            bao,
            rabbit,
            issuer,
            reg,
        }
    }

    /// The registry host the rule serves: the test registry's, else a name nothing resolves.
    fn host(&self) -> String {
        self.reg
            .as_ref()
            .map_or(HOST.to_string(), TestRegistry::host)
    }

    /// The provider (`args` after the command) with a rule reading the engine's role `puller`.
    fn provider(&self, command: &[&str]) -> Command {
        self.provider_reading(command, "rabbitmq/creds/puller")
    }

    /// The provider with the rule reading `path`, written to the world's one `--config` file.
    fn provider_reading(&self, command: &[&str], path: &str) -> Command {
        let rule = json!({"hostRules": [{
            "match": [self.host()], "backend": "vault",
            "vault": {"address": self.bao.address(), "podAuth": {"role": "puller"},
                      "read": {"path": path}},
        }]});
        // One file per world: its path is part of the token cache's key.
        let config = self.bao.dir().join("config.json");
        std::fs::write(&config, rule.to_string()).expect("write --config");
        let config = format!("--config={}", config.display());
        let mut cmd = provider(command);
        clean_env(&mut cmd);
        cmd.arg(config).env("VAULT_CACERT", self.bao.ca_file());
        cmd
    }

    fn request(&self, token: &str) -> String {
        pod_request(&format!("{}/{REPO}", self.host()), token, &[])
    }

    /// Users the engine created and deleted, as the fake saw them: (name, password) and names.
    fn users(&self) -> (Vec<(String, String)>, Vec<String>) {
        let mut created = Vec::new();
        let mut deleted = Vec::new();
        for r in self.rabbit.requests() {
            let path = r["path"].as_str().unwrap_or_default();
            let Some(name) = path.strip_prefix("/api/users/") else {
                continue;
            };
            match r["method"].as_str() {
                Some("PUT") => created.push((
                    name.to_string(),
                    plant(r["json"]["password"].as_str().unwrap_or_default()),
                )),
                Some("DELETE") => deleted.push(name.to_string()),
                _ => {}
            }
        }
        (created, deleted)
    }
}

/// The run's answer must be the one user the engine created for it.
fn served_user(world: &World, ran: &Ran) -> (String, String) {
    let r = response(ran);
    let (created, _) = world.users();
    // The issued password is known only now: sweep the run for it after the fact.
    assert_swept(ran);
    let (name, password) = created.last().expect("the engine created a user").clone();
    assert_eq!(
        r["auth"],
        json!({ world.host(): {"username": name, "password": password} }),
        "{}",
        ran.describe()
    );
    (name, password)
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme, the Python fakes), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn a_lease_sets_the_cache_duration_keeps_the_login_token_alive_and_pulls_until_revoked() {
    let world = World::pulling(600, "30m");
    let reg = world.reg.as_ref().expect("a pulling world");
    let token = world.issuer.pod_token("team-a", "app", AUDIENCE);
    let ran = run(
        world.provider(&["get-credentials", "--v=10"]),
        world.request(&token).as_bytes(),
    );
    let (user, password) = served_user(&world, &ran);
    reg.pull_with(REPO, &user, &password)
        .expect("the leased credentials pull");
    // Half of the 600 s lease, counted from before the read.
    let cached = go_seconds(
        response(&ran)["cacheDuration"]
            .as_str()
            .expect("cacheDuration"),
    );
    assert!((298..=300).contains(&cached), "{cached}");
    assert!(
        ran.stderr
            .contains("keeping the login token: the read issued lease rabbitmq/creds/puller/"),
        "{}",
        ran.stderr
    );

    // The login token is alive, and with it the lease: revoking the token (here as root, by
    // its accessor) deletes the user the pull was given.
    let logins = world.bao.live_logins("jwt");
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0]["meta"]["role"], "puller");
    assert!(world.users().1.is_empty(), "nothing revoked yet");
    let accessor = logins[0]["accessor"].as_str().expect("accessor");
    world.bao.cli(&["token", "revoke", "-accessor", accessor]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while world.users().1.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        world.users().1,
        std::slice::from_ref(&user),
        "revoking the token revoked the lease"
    );
    let refused = reg
        .pull_with(REPO, &user, &password)
        .expect_err("a revoked lease's credentials must not pull");
    assert!(refused.contains("authentication required"), "{refused}");
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme, the Python fakes): scripts/test.sh runs it"]
fn the_login_ttl_caps_the_lease_and_the_token_cache_serves_the_next_pull_until_the_rule_changes() {
    let world = World::new(600, "4m");
    let token = world.issuer.pod_token("team-a", "app", AUDIENCE);
    let cache = world.bao.dir().join("token-cache");
    let cache_arg = format!("--cache-dir={}", cache.display());
    let ran = run(
        world.provider(&["get-credentials", &cache_arg, "--v=10"]),
        world.request(&token).as_bytes(),
    );
    let (user, password) = served_user(&world, &ran);
    let r = response(&ran);
    // Half of the 4 minute login, not of the 10 minute lease.
    let cached = go_seconds(r["cacheDuration"].as_str().expect("cacheDuration"));
    assert!((118..=120).contains(&cached), "{cached}");

    // Another exec for the same pod token: served from the token cache, no new user.
    let ran = run_swept(
        world.provider(&["get-credentials", &cache_arg]),
        world.request(&token).as_bytes(),
    );
    assert_eq!(
        response(&ran)["auth"][HOST],
        json!({"username": user, "password": password})
    );
    assert!(
        ran.stderr.contains("served from the token cache"),
        "{}",
        ran.stderr
    );
    assert_eq!(world.users().0.len(), 1, "one user for both pulls");

    // The operator edits the rule in place (same --config file): the old rule's entry is not
    // served; the new rule's read issues a user of its own.
    let ran = run_swept(
        world.provider_reading(&["get-credentials", &cache_arg], "rabbitmq/creds/puller-2"),
        world.request(&token).as_bytes(),
    );
    assert!(ran.status.success(), "{}", ran.describe());
    assert!(
        !ran.stderr.contains("served from the token cache"),
        "{}",
        ran.stderr
    );
    assert_eq!(world.users().0.len(), 2, "a user for the edited rule");
    assert_ne!(response(&ran)["auth"][HOST]["username"], json!(user));

    // Another pod (another token) never shares the entry.
    let other = world.issuer.pod_token("team-a", "app", AUDIENCE);
    let ran = run_swept(
        world.provider(&["get-credentials", &cache_arg]),
        world.request(&other).as_bytes(),
    );
    assert!(ran.status.success(), "{}", ran.describe());
    assert_eq!(world.users().0.len(), 3);
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme, the Python fakes): scripts/test.sh runs it"]
fn check_shows_the_plan_the_lease_and_the_fields_never_a_value() {
    let world = World::new(600, "30m");
    let token = world.issuer.pod_token("team-a", "app", AUDIENCE);
    let token_file = world.bao.dir().join("pod-token");
    support::write_private_file(&token_file, token.as_bytes());
    let ran = run_swept(
        world.provider(&[
            "check",
            IMAGE,
            &format!("--service-account-token-file={}", token_file.display()),
        ]),
        b"",
    );
    assert!(ran.status.success(), "{}", ran.describe());
    let out = &ran.stdout;
    for part in [
        "vault\n",
        &format!(" {}\n", world.bao.address()),
        "jwt login at auth/jwt/login with the pod's service-account token, role \"puller\"",
        // The plan, before the fetch: the identity this request logs in as.
        "service account team-a/app (jwt role \"puller\" at auth/jwt): JWT login at \
         auth/jwt/login with the pod's service-account token, the rule's role",
        "rabbitmq/creds/puller (read (a lease when the engine issues one))",
        "username from \"username\", password from \"password\"",
        "service account team-a/app (jwt role \"puller\" at auth/jwt), policies [creds, default]",
        "login token kept for the lease",
        "read rabbitmq/creds/puller: fields \"username\" and \"password\"; lease rabbitmq/creds/puller/",
        "for 10m0s, renewable",
    ] {
        assert!(out.contains(part), "missing {part:?} in:\n{out}");
    }
    let (created, _) = world.users();
    assert_swept(&ran);
    assert!(!out.contains(&created[0].1));
}
