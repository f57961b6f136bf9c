//! A PostgreSQL server for tests that need one whatever the suite runs on:
//! the one `SENIM_TEST_POSTGRES` names, or a throwaway cluster of the
//! test's own (`scripts/postgres`), stopped when dropped.

use std::path::PathBuf;
use std::process::Command;

use super::repo_root;

pub struct Postgres {
    /// `postgres://senim@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// The cluster's folder when the test started it.
    own: Option<(tempfile::TempDir, PathBuf)>,
}

impl Postgres {
    pub fn get() -> Postgres {
        if let Ok(url) = std::env::var("SENIM_TEST_POSTGRES") {
            if !url.is_empty() {
                return Postgres { url, own: None };
            }
        }
        Postgres::own()
    }

    /// A throwaway cluster of the test's own (one it may stop and start).
    pub fn own() -> Postgres {
        // Under /tmp, reachable by the user the cluster runs as.
        let dir = tempfile::Builder::new()
            .prefix("senim-postgres-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let mut perms = std::fs::metadata(dir.path())
            .expect("tempdir")
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(dir.path(), perms).expect("chmod");
        let cluster = dir.path().join("cluster");
        let out = Command::new(repo_root().join("scripts/postgres"))
            .arg("start")
            .arg(&cluster)
            .output()
            .expect("run scripts/postgres");
        assert!(
            out.status.success(),
            "scripts/postgres start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Postgres {
            url,
            own: Some((dir, cluster)),
        }
    }

    /// Stop the test's own cluster (a fast shutdown: clients are cut off).
    pub fn stop(&self) {
        self.own_cluster("stop");
    }

    /// Start the test's own cluster again, on its port.
    pub fn start(&self) {
        self.own_cluster("start");
    }

    /// `scripts/postgres ACTION` on the test's own cluster.
    fn own_cluster(&self, action: &str) {
        let (_, cluster) = self.own.as_ref().expect("a cluster of the test's own");
        let out = Command::new(repo_root().join("scripts/postgres"))
            .arg(action)
            .arg(cluster)
            .output()
            .expect("run scripts/postgres");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A new empty database on it.
    pub fn database(&self) -> String {
        super::new_postgres_database(&self.url)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((_, cluster)) = &self.own {
            let _ = Command::new(repo_root().join("scripts/postgres"))
                .arg("stop")
                .arg(cluster)
                .output();
        }
    }
}
