//! A node group scaling out: many nodes run the ECR plugin at the same moment against an ECR
//! that throttles as the real one does (a token bucket; `GetAuthorizationToken` allows 20 calls
//! a second per account and region). Every node must get credentials inside its deadline,
//! without hammering the API: the retry policy's jittered backoff spreads the herd.
//!
//! Scaled for CI: `CCP_FLEET_NODES` nodes (default 200) start within 5 s against a bucket of
//! 20/s with a burst of 40 (the real burst is 200; a smaller one makes the test harder). With
//! 300 nodes this is the scenario the README's reliability figures come from.
//!
//! The runs must start together, so the test spawns them itself rather than through
//! `support::sweep::run_swept`; each still runs at `--v=10` and its output is swept for the
//! secrets the fake and the node keys planted.
//!
//! Needs `.venv` for the fake and wakes the ECR backend: `#[ignore]`d, run with `scripts/test.sh`.

#![cfg(feature = "aws")]

mod support;

use std::path::Path;
use std::time::Duration;

use support::moto::{AwsEnv, EcrFake, NodeKeys};
use support::sweep::{assert_swept, VERBOSITY};
use support::{random_token, request, Running, PROCESS_TIMEOUT, PROVIDER_BIN};

const RATE: u32 = 20;
const BURST: u32 = 40;
const SPREAD: Duration = Duration::from_secs(5);
/// The plugin's default `--timeout`.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
#[ignore = "needs .venv (ECR fake); wakes the ecr backend: scripts/test.sh runs it in a loopback-only netns"]
fn a_scaling_node_group_gets_credentials_through_throttling() {
    let nodes: u32 = std::env::var("CCP_FLEET_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let password = random_token(32);
    let fake = EcrFake::start_throttled(&password, Duration::from_secs(43_200), RATE, BURST);
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", fake.url());
    let request = request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app");

    let began = std::time::Instant::now();
    let mut running = Vec::new();
    for i in 0..nodes {
        // Nodes boot evenly over the spread.
        let due = SPREAD.mul_f64(f64::from(i) / f64::from(nodes));
        if let Some(wait) = due.checked_sub(began.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut cmd = env.command(Path::new(PROVIDER_BIN));
        cmd.arg(VERBOSITY);
        let mut node = Running::start(cmd);
        node.send(request.as_bytes());
        running.push(node);
    }

    let mut served = 0;
    let mut slowest = Duration::ZERO;
    let mut failures = Vec::new();
    for node in running {
        let spawned = node.spawned;
        let (ran, ended) = node.finish(PROCESS_TIMEOUT);
        slowest = slowest.max(ended.duration_since(spawned));
        assert_swept(&ran);
        if ran.status.success() && ran.stdout.contains(&password) {
            served += 1;
        } else {
            failures.push(ran.stderr);
        }
    }
    let (calls, throttled) = fake.stats();
    let per_node = calls as f64 / f64::from(nodes);
    eprintln!(
        "fleet: {served}/{nodes} nodes served, {calls} ECR calls ({per_node:.2} per node, \
         {throttled} throttled), slowest run {slowest:.1?}, all done after {:.1?}",
        began.elapsed()
    );
    assert_eq!(
        served,
        nodes,
        "failures: {:?}",
        &failures[..failures.len().min(3)]
    );
    // Every run answered inside its deadline (plus scheduling slack on a loaded machine).
    assert!(slowest < DEADLINE + Duration::from_secs(2), "{slowest:?}");
    assert!(per_node <= 2.5, "{per_node:.2} calls per node");
}
