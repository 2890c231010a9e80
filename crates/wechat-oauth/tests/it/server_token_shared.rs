//! Two OS processes share the app's server access token through a store: 1,000 concurrent
//! calls each, just after the token expired, make exactly one token request.
//!
//! The shared store here is a directory (a credential file replaced atomically, a lease
//! file created exclusively), standing in for a database: the SDK's own store crates run
//! the same harness (`wechat_oauth::server_token::two_process`) over their backends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wechat_oauth::server_token::two_process::{Job, assert_one_fetch_per_expiry, run_worker};
use wechat_oauth::store::{Credential, CredentialStore, Lease, LeaseStore, StoreError, Stores};
use wechat_sandbox::Sandbox;

/// This binary, re-executed, runs only this test as a worker process.
const WORKER: &str = "server_token_shared::worker_entry_point";

/// Credentials and leases in one directory, shared by every process that opens it.
#[derive(Debug)]
struct SharedDir(PathBuf);

fn io(err: std::io::Error) -> StoreError {
    StoreError::backend(err)
}

impl SharedDir {
    fn credential_path(&self, key: &str) -> PathBuf {
        self.0.join(format!("credential-{}", key.replace(':', "_")))
    }
    fn lease_path(&self, name: &str) -> PathBuf {
        self.0.join(format!("lease-{}", name.replace(':', "_")))
    }
}

#[async_trait]
impl CredentialStore for SharedDir {
    async fn get_credential(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        match std::fs::read_to_string(self.credential_path(key)) {
            Ok(text) => {
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Malformed(e.to_string()))?;
                Ok(Some(Credential::new(
                    v["value"].as_str().unwrap_or_default(),
                    v["obtained_at"].as_i64().unwrap_or_default(),
                    v["expires_at"].as_i64().unwrap_or_default(),
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn put_credential(&self, key: &str, credential: &Credential) -> Result<bool, StoreError> {
        if let Some(current) = self.get_credential(key).await?
            && current.obtained_at > credential.obtained_at
        {
            return Ok(false);
        }
        let json = serde_json::json!({
            "value": credential.value.expose_secret(),
            "obtained_at": credential.obtained_at,
            "expires_at": credential.expires_at,
        });
        let tmp = self.0.join(format!("tmp-{}", wechat_oauth::new_state()));
        std::fs::write(&tmp, json.to_string()).map_err(io)?;
        std::fs::rename(&tmp, self.credential_path(key)).map_err(io)?;
        Ok(true)
    }

    async fn delete_credential(&self, key: &str) -> Result<(), StoreError> {
        match std::fs::remove_file(self.credential_path(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        }
    }
}

/// Exclusive creation is the lock; a lease file is removed on release. (No expiry
/// takeover: the test never leaves a lease behind.)
#[async_trait]
impl LeaseStore for SharedDir {
    async fn acquire_lease(&self, name: &str, _ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let lease = Lease::new(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.lease_path(name))
        {
            Ok(mut file) => {
                std::io::Write::write_all(&mut file, lease.holder().as_bytes()).map_err(io)?;
                Ok(Some(lease))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let path = self.lease_path(lease.name());
        if std::fs::read_to_string(&path).is_ok_and(|holder| holder == lease.holder()) {
            std::fs::remove_file(path).map_err(io)?;
        }
        Ok(())
    }

    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self
            .acquire_lease(&format!("claim-{key}"), ttl)
            .await?
            .is_some())
    }
}

fn open(dir: &str) -> Stores {
    let shared = Arc::new(SharedDir(PathBuf::from(dir)));
    let mut stores = Stores::memory();
    stores.credentials = shared.clone();
    stores.leases = shared;
    stores
}

/// A worker process's body; in an ordinary run (no job in the environment) it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_entry_point() {
    run_worker(|spec| async move { open(&spec) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fetch_the_server_token_once_per_expiry() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().display().to_string();
    let job = Job::new(sandbox.url(), spec.clone());
    assert_eq!(job.callers, 1_000);
    assert_one_fetch_per_expiry(job, open(&spec), WORKER, 2).await;
}
