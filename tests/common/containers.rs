//! Real containers without a Docker engine: the project's image built with podman from the
//! binaries this test build compiled, and podman's Docker Engine API on a private socket
//! (`tests/support/podman.sh`, which `setup.sh` installs).

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::run_ok;

/// The image's tag in the local store.
pub const IMAGE: &str = "localhost/olistlake:test";

fn podman_sh() -> PathBuf {
    super::airflow::root().join("tests/support/podman.sh")
}

/// Builds the image once per test process (`podman.sh build`: the Dockerfile's prebuilt path
/// on the local Debian base) from this build's olistlake-multicall; returns its tag.
pub fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        run_ok(
            Command::new(podman_sh())
                .args(["build", IMAGE])
                .arg(super::binary("olistlake-multicall")),
        );
    });
    IMAGE
}

/// `podman` with the given arguments; asserts success, returns stdout.
pub fn podman(args: &[&str]) -> String {
    let out = run_ok(Command::new("podman").args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// podman's Docker Engine API on a socket of its own, serving the image; stopped on drop.
pub struct Engine {
    pub image: String,
    dir: TempDir,
    child: Child,
}

impl Engine {
    pub fn start() -> Engine {
        let image = image().to_string();
        let dir = TempDir::new().unwrap();
        let socket = dir.path().join("docker.sock");
        let mut child = Command::new(podman_sh())
            .arg("service")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(&socket).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("podman system service exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the Docker API socket did not appear"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Engine { image, dir, child }
    }

    /// The Docker client's base URL (`unix://…`).
    pub fn docker_url(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SIGTERM: podman stops serving and removes its socket
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
