//! Real processes for the scale-out tests: Debian's `redis-server` (installed by
//! `scripts/setup.sh`) on a free loopback port, and child processes that are stopped on drop.
//! Without `redis-server` the tests that use it fail with a message saying how to install it;
//! they are never skipped.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::WAIT;

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn find_binary(name: &str, extra: &[&str]) -> PathBuf {
    let from_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain(extra.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed: run scripts/setup.sh (Debian package for it)")
        })
}

pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "realtime-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A child process stopped (and reaped) on drop, so nothing outlives a failed test.
pub struct Proc(pub Option<Child>);

impl Proc {
    pub fn signal(&mut self, signal: &str) {
        if let Some(child) = self.0.as_ref() {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Sends `signal` and waits (bounded) for the exit.
    pub fn stop(&mut self, signal: &str) -> std::process::ExitStatus {
        self.signal(signal);
        let mut child = self.0.take().expect("running");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process did not exit after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `redis-server` on a free port with an append-only file, so a restart keeps the data
/// (as a production Redis with persistence would).
pub struct Redis {
    port: u16,
    dir: PathBuf,
    proc: Proc,
}

impl Redis {
    pub async fn start() -> Redis {
        let port = free_port();
        let dir = scratch_dir("redis");
        let proc = Self::spawn(port, &dir).await;
        Redis { port, dir, proc }
    }

    async fn spawn(port: u16, dir: &Path) -> Proc {
        let binary = find_binary("redis-server", &["/usr/bin/redis-server"]);
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--protected-mode", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .args(["--logfile", "redis.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let proc = Proc(Some(child));
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            sleep(Duration::from_millis(20)).await;
        }
        proc
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGTERM: Redis flushes its append-only file and exits.
    pub fn stop(&mut self) {
        let status = self.proc.stop("TERM");
        assert!(status.success(), "redis-server exit: {status}");
    }

    pub async fn restart(&mut self) {
        self.proc = Self::spawn(self.port, &self.dir).await;
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        drop(self.proc.0.take().map(|mut c| {
            let _ = c.kill();
            c.wait()
        }));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
