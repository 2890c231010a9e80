//! A server restart in the middle of a test: the store reports typed errors while the
//! server is down and carries on by itself when it is back.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{Server, ok, sample_token, unique_namespace};
use crate::TokenStore;

/// How a test controls a local server (the commands CI uses).
#[derive(Debug, Clone, Copy)]
struct Commands {
    ping: &'static [&'static str],
    stop: &'static [&'static str],
    start: &'static [&'static str],
    /// Whether data survives the restart (Redis in CI keeps nothing on disk).
    keeps_data: bool,
}

fn commands(server: Server) -> Commands {
    match server {
        Server::MySql => Commands {
            ping: &[
                "mysqladmin",
                "-h",
                "127.0.0.1",
                "-uroot",
                "--connect-timeout=2",
                "ping",
            ],
            stop: &["mysqladmin", "-uroot", "shutdown"],
            start: &[
                "start-stop-daemon",
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ],
            keeps_data: true,
        },
        Server::Redis => Commands {
            ping: &["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"],
            stop: &[
                "redis-cli",
                "-h",
                "127.0.0.1",
                "-p",
                "6379",
                "shutdown",
                "nosave",
            ],
            start: &[
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/var/lib/redis",
                "--logfile",
                "/var/log/redis/ci.log",
            ],
            keeps_data: false,
        },
        other => panic!("no restart commands for {other:?}"),
    }
}

fn run(argv: &[&str]) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the server answers its ping (`PONG` from Redis, `mysqld is alive` from MariaDB;
/// `redis-cli` prints its connection error but may still exit 0).
fn is_up(commands: Commands) -> bool {
    let Some((program, args)) = commands.ping.split_first() else {
        return false;
    };
    Command::new(program).args(args).output().is_ok_and(|o| {
        let said = String::from_utf8_lossy(&o.stdout);
        o.status.success() && (said.contains("PONG") || said.contains("alive"))
    })
}

fn wait_until(commands: Commands, up: bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if is_up(commands) == up {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Starts the server again when dropped if it is down, whatever happened in the test.
struct KeepRunning(Commands);

impl Drop for KeepRunning {
    fn drop(&mut self) {
        if !is_up(self.0) {
            run(self.0.start);
            wait_until(self.0, true, Duration::from_secs(60));
        }
    }
}

/// Saves a token, stops `server` (MariaDB or Redis, with the CI commands), checks that a
/// call fails with a transient error within `bound` instead of hanging, starts the server
/// again and checks that the same store works again by itself (and, for MariaDB, still has
/// the token). The server is left running even if an assertion fails.
///
/// Other tests that use `server` must not run meanwhile: call this from a test that holds
/// the binary's exclusive server lock.
pub async fn survives_a_server_restart<S: TokenStore + ?Sized>(
    store: &S,
    server: Server,
    bound: Duration,
) {
    let commands = commands(server);
    let openid = unique_namespace("restart");
    let token = sample_token(&openid, 1_700_000_000_000);
    assert!(ok(
        store.save(&openid, &token).await,
        "save before the restart"
    ));

    let _guard = KeepRunning(commands);
    assert!(run(commands.stop), "{server:?}: stop command failed");
    assert!(
        wait_until(commands, false, Duration::from_secs(30)),
        "{server:?} did not stop"
    );

    let started = Instant::now();
    let down = store.get(&openid).await;
    assert!(
        matches!(&down, Err(e) if e.is_transient()),
        "a down server gives Unavailable or Timeout, got {down:?}"
    );
    assert!(
        started.elapsed() < bound,
        "no hang while the server is down"
    );

    run(commands.start);
    assert!(
        wait_until(commands, true, Duration::from_secs(60)),
        "{server:?} did not come back"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let back = loop {
        match store.get(&openid).await {
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => break ok(other, "get after the restart"),
        }
    };
    if commands.keeps_data {
        assert_eq!(back, Some(token.clone()), "the token survived the restart");
    }
    let newer = sample_token(&openid, 1_700_000_001_000);
    assert!(ok(
        store.save(&openid, &newer).await,
        "save after the restart"
    ));
    assert_eq!(ok(store.get(&openid).await, "get"), Some(newer));
    ok(store.delete(&openid).await, "delete");
}
