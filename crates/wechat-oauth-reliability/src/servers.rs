//! Private database servers for failure tests: each one on a free loopback port, in a
//! temporary directory of its own, never the machine's shared services.
//!
//! [`Server::start`] initialises the data directory, starts the server and waits until it
//! answers; [`Server::kill9`] sends `SIGKILL` to the server and every process it started
//! (its process group), as a crash would; [`Server::restart`] starts it again on the same
//! port and data directory. Dropping a [`Server`] kills it and removes its directory.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server, and how it keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PostgreSQL (`initdb`, then `postgres`), run as the `postgres` user when this
    /// process is root. Defaults: `fsync` and `synchronous_commit` on.
    Postgres,
    /// MariaDB (`mariadb-install-db`, then `mariadbd`), defaults
    /// (`innodb_flush_log_at_trx_commit = 1`), no binary log.
    MariaDb,
    /// Redis with `appendonly yes` and `appendfsync always`: every acknowledged write is on
    /// disk before the answer.
    RedisAof,
    /// Redis without persistence (`save ""`, `appendonly no`), the shared service's
    /// configuration: a restart forgets everything.
    RedisVolatile,
    /// jongodb, the MongoDB-compatible server the project tests against. It keeps
    /// everything in memory: a restart forgets everything.
    MongoDb,
}

impl Kind {
    /// A short name for reports (`postgres`, `mariadb`, `redis-aof`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::MariaDb => "mariadb",
            Kind::RedisAof => "redis-aof",
            Kind::RedisVolatile => "redis-volatile",
            Kind::MongoDb => "mongodb (jongodb)",
        }
    }

    /// Whether data acknowledged before a `kill -9` is there after the restart.
    pub fn keeps_data(self) -> bool {
        matches!(self, Kind::Postgres | Kind::MariaDb | Kind::RedisAof)
    }
}

/// Why a server could not be started or controlled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A program the server needs is not installed.
    #[error("{program} is not installed ({hint})")]
    Missing {
        /// The program looked for.
        program: String,
        /// Where it was looked for, or how to get it.
        hint: String,
    },
    /// A step failed (initialisation, start, kill).
    #[error("{step} failed: {detail}")]
    Failed {
        /// What was being done.
        step: String,
        /// What went wrong, with the end of the server's log where there is one.
        detail: String,
    },
    /// The server did not answer in time.
    #[error("{kind} did not answer within {waited:?}; log tail: {log}")]
    NotReady {
        /// The server.
        kind: &'static str,
        /// How long it was waited for.
        waited: Duration,
        /// The end of the server's log.
        log: String,
    },
}

impl ServerError {
    /// Whether the error is only that a server program is not installed.
    pub fn is_missing(&self) -> bool {
        matches!(self, ServerError::Missing { .. })
    }
}

fn failed(step: impl Into<String>, detail: impl std::fmt::Display) -> ServerError {
    ServerError::Failed {
        step: step.into(),
        detail: detail.to_string(),
    }
}

/// The jongodb version `scripts/services.sh` installs.
pub const JONGODB_VERSION: &str = "0.1.6";

/// How long [`Server::start`] waits for a fresh server to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A private server process. See the [module docs](self).
#[derive(Debug)]
pub struct Server {
    kind: Kind,
    port: u16,
    dir: tempfile::TempDir,
    program: PathBuf,
    /// The PostgreSQL binaries' directory (`pg_isready` lives there too).
    pg_bin: Option<PathBuf>,
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
    starts: u32,
}

impl Server {
    /// Initialises a data directory for `kind`, starts the server on a free loopback port
    /// and waits (up to [`START_TIMEOUT`]) until it answers.
    ///
    /// # Errors
    /// [`ServerError::Missing`] when the server is not installed; otherwise
    /// [`ServerError::Failed`] or [`ServerError::NotReady`].
    pub fn start(kind: Kind) -> Result<Server, ServerError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!(
                "wechat-oauth-{}-",
                kind.name().split(' ').next().unwrap_or("db")
            ))
            .tempdir()
            .map_err(|e| failed("creating the data directory", e))?;
        let mut pg_bin = None;
        let mut run_as = None;
        let program = match kind {
            Kind::Postgres => {
                let bin = postgres_bin_dir()?;
                let program = bin.join("postgres");
                pg_bin = Some(bin);
                program
            }
            Kind::MariaDb => {
                find_program(&["/usr/sbin/mariadbd", "/usr/bin/mariadbd"], "mariadbd")?
            }
            Kind::RedisAof | Kind::RedisVolatile => find_program(
                &["/usr/bin/redis-server", "/usr/local/bin/redis-server"],
                "redis-server",
            )?,
            Kind::MongoDb => jongodb_path()?,
        };
        if kind == Kind::Postgres && is_root() {
            // PostgreSQL refuses to run as root.
            let ids = user_ids("postgres").ok_or_else(|| {
                failed(
                    "finding the postgres user",
                    "running as root and /etc/passwd has no postgres user",
                )
            })?;
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1))
                .map_err(|e| failed("chown of the data directory", e))?;
            run_as = Some(ids);
        }
        let mut server = Server {
            kind,
            port: free_port()?,
            dir,
            program,
            pg_bin,
            run_as,
            child: None,
            starts: 0,
        };
        server.init()?;
        server.spawn()?;
        server.wait_ready(START_TIMEOUT)?;
        if kind == Kind::MariaDb {
            server.run_tool(
                "creating database wechat",
                Command::new("mysqladmin").args([
                    "--no-defaults",
                    "-h",
                    "127.0.0.1",
                    "-P",
                    &server.port.to_string(),
                    "-uroot",
                    "create",
                    "wechat",
                ]),
            )?;
        }
        Ok(server)
    }

    /// The server's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The loopback port it listens on (the same after [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL that `wechat_oauth_stores::open` and the backend crates accept.
    pub fn url(&self) -> String {
        let port = self.port;
        match self.kind {
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            Kind::MariaDb => format!("mysql://root@127.0.0.1:{port}/wechat"),
            Kind::RedisAof | Kind::RedisVolatile => format!("redis://127.0.0.1:{port}/"),
            Kind::MongoDb => format!("mongodb://127.0.0.1:{port}/"),
        }
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("server-{}.log", self.starts))
    }

    /// The last lines of the current server log.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn run_tool(&self, step: &str, cmd: &mut Command) -> Result<(), ServerError> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| failed(step, format!("{e} (is {:?} installed?)", cmd.get_program())))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(failed(
                step,
                format!(
                    "{}: {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            ))
        }
    }

    fn init(&mut self) -> Result<(), ServerError> {
        let data = self.data();
        match self.kind {
            Kind::Postgres => {
                let initdb = self
                    .pg_bin
                    .as_ref()
                    .map(|b| b.join("initdb"))
                    .unwrap_or_default();
                let mut cmd = Command::new(initdb);
                cmd.arg("-D").arg(&data).args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]);
                if let Some((uid, gid)) = self.run_as {
                    cmd.uid(uid).gid(gid);
                }
                self.run_tool("initdb", &mut cmd)
            }
            Kind::MariaDb => self.run_tool(
                "mariadb-install-db",
                Command::new("mariadb-install-db")
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", data.display()))
                    .args([
                        "--user=root",
                        "--auth-root-authentication-method=normal",
                        "--skip-test-db",
                    ]),
            ),
            Kind::RedisAof | Kind::RedisVolatile | Kind::MongoDb => {
                std::fs::create_dir_all(&data).map_err(|e| failed("creating the data directory", e))
            }
        }
    }

    fn spawn(&mut self) -> Result<(), ServerError> {
        self.starts += 1;
        let log = File::create(self.log_path()).map_err(|e| failed("creating the log", e))?;
        let log2 = log.try_clone().map_err(|e| failed("creating the log", e))?;
        let port = self.port.to_string();
        let data = self.data();
        let mut cmd = Command::new(&self.program);
        match self.kind {
            Kind::Postgres => {
                cmd.arg("-D")
                    .arg(&data)
                    .args(["-p", &port, "-k"])
                    .arg(self.dir.path())
                    .args(["-c", "listen_addresses=127.0.0.1"]);
            }
            Kind::MariaDb => {
                cmd.arg("--no-defaults")
                    .arg(format!("--datadir={}", data.display()))
                    .arg(format!("--port={port}"))
                    .arg("--bind-address=127.0.0.1")
                    .arg(format!(
                        "--socket={}",
                        self.dir.path().join("mysql.sock").display()
                    ))
                    .arg(format!(
                        "--pid-file={}",
                        self.dir.path().join("mysql.pid").display()
                    ))
                    .args(["--user=root", "--skip-log-bin", "--skip-name-resolve"]);
            }
            Kind::RedisAof | Kind::RedisVolatile => {
                cmd.args(["--port", &port, "--bind", "127.0.0.1", "--dir"])
                    .arg(&data);
                if self.kind == Kind::RedisAof {
                    cmd.args([
                        "--appendonly",
                        "yes",
                        "--appendfsync",
                        "always",
                        "--save",
                        "",
                    ]);
                } else {
                    cmd.args(["--appendonly", "no", "--save", ""]);
                }
            }
            Kind::MongoDb => {
                cmd.arg("--host=127.0.0.1").arg(format!("--port={port}"));
            }
        }
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        // Its own process group, so that kill9 reaches every process it starts.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd
            .spawn()
            .map_err(|e| failed(format!("starting {}", self.program.display()), e))?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether the server answers now: PostgreSQL `pg_isready`, MariaDB `mysqladmin
    /// ping`, Redis `PING` → `+PONG` (not `-LOADING`), jongodb a TCP connection.
    pub fn is_ready(&self) -> bool {
        let port = self.port.to_string();
        match self.kind {
            Kind::Postgres => {
                let Some(bin) = &self.pg_bin else {
                    return false;
                };
                Command::new(bin.join("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &port, "-t", "1"])
                    .stdin(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            }
            Kind::MariaDb => Command::new("mysqladmin")
                .args([
                    "--no-defaults",
                    "-h",
                    "127.0.0.1",
                    "-P",
                    &port,
                    "-uroot",
                    "--connect-timeout=1",
                    "ping",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            Kind::RedisAof | Kind::RedisVolatile => redis_ping(self.port),
            Kind::MongoDb => TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
                Duration::from_secs(1),
            )
            .is_ok(),
        }
    }

    /// Waits until the server answers; returns how long that took.
    ///
    /// # Errors
    /// [`ServerError::NotReady`] after `timeout`, or [`ServerError::Failed`] if the process
    /// exited.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, ServerError> {
        let start = Instant::now();
        loop {
            if self.is_ready() {
                return Ok(start.elapsed());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(failed(
                    format!("running {}", self.kind.name()),
                    format!("exited with {status}; log tail: {}", self.log_tail()),
                ));
            }
            if start.elapsed() > timeout {
                return Err(ServerError::NotReady {
                    kind: self.kind.name(),
                    waited: timeout,
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `SIGKILL` to the server's process group and to every process below it (the
    /// server and everything it started, also those in process groups of their own, as
    /// PostgreSQL's backends are) and reaps it. Nothing happens if it is not running.
    ///
    /// # Errors
    /// [`ServerError::Failed`] if `kill` could not be run.
    pub fn kill9(&mut self) -> Result<(), ServerError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // PostgreSQL's backends call setsid(), so they are not in the server's process
        // group: their pids are collected from /proc and killed in the same call.
        let mut targets = vec![format!("-{}", child.id())];
        targets.extend(descendants(child.id()).iter().map(u32::to_string));
        let status = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .args(&targets)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            // The group may be gone already; make sure the server itself is.
            let _ = child.kill();
        }
        child.wait().map_err(|e| failed("reaping the server", e))?;
        // Processes of the group that were not our children (PostgreSQL backends) exit
        // with it; wait until the port is free so a restart can bind it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && port_in_use(self.port) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Starts the server again on the same port and data directory, without waiting for
    /// it to answer (see [`wait_ready`](Self::wait_ready)).
    ///
    /// # Errors
    /// [`ServerError::Failed`] if it cannot be spawned.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        if self.child.is_some() {
            self.kill9()?;
        }
        self.spawn()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

/// Every process below `pid` (children, their children…), from `/proc/*/stat`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((p, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &parents {
            if pp == parent && !found.contains(&p) {
                found.push(p);
                frontier.push(p);
            }
        }
    }
    found
}

fn port_in_use(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err()
}

/// A loopback port nobody listens on now.
///
/// # Errors
/// [`ServerError::Failed`] if no port can be bound.
pub fn free_port() -> Result<u16, ServerError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| failed("finding a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| failed("finding a free port", e))
}

fn redis_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_secs(1),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"+PONG"),
        Err(_) => false,
    }
}

fn find_program(candidates: &[&str], name: &str) -> Result<PathBuf, ServerError> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| ServerError::Missing {
            program: name.to_owned(),
            hint: format!("looked for {}", candidates.join(", ")),
        })
}

fn postgres_bin_dir() -> Result<PathBuf, ServerError> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("postgres").is_file() && bin.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().ok_or_else(|| ServerError::Missing {
        program: "postgres".into(),
        hint: "looked for /usr/lib/postgresql/*/bin/{postgres,initdb}".into(),
    })
}

/// Where jongodb is: `$JONGODB_BIN`, else `$JONGODB_DIR/package/bin/jongodb`, else the
/// directory `scripts/services.sh` installs it in.
fn jongodb_path() -> Result<PathBuf, ServerError> {
    let candidates: Vec<PathBuf> = [
        std::env::var_os("JONGODB_BIN").map(PathBuf::from),
        std::env::var_os("JONGODB_DIR").map(|d| Path::new(&d).join("package/bin/jongodb")),
        std::env::var_os("HOME").map(|h| {
            Path::new(&h).join(format!(
                ".cache/wechat-oauth/jongodb-{JONGODB_VERSION}/package/bin/jongodb"
            ))
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ServerError::Missing {
            program: "jongodb".into(),
            hint: format!(
                "looked for {}; `source scripts/services.sh` installs it",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

fn is_root() -> bool {
    // The effective uid from /proc (no libc): the "Uid:" line is real, effective, saved, fs.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

/// Resident set size of process `pid` (`"self"` for this one) in KiB, from
/// `/proc/PID/status` (`VmRSS`).
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
