//! [`FileStore`]: one JSON file per openid, as in the seed's example.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::codec::{decode_stored_str, encode_for_store};
use super::{Lease, LeaseStore, StoreError, TokenStore, validate_for_save};
use crate::{AccessToken, now_millis};

/// Tokens in a directory, one file per openid: `<openid>:access_token.txt` holding the
/// token's JSON, the file layout of the seed's `fs.writeFile` example, so a directory
/// written by a node deployment reads back here and the other way round.
///
/// Safe across threads and OS processes on one machine: every write happens under an
/// exclusive lock on a lock file beside the file it changes (`<openid>:access_token.txt.lock`,
/// so saves for different openids never wait on each other) and replaces the file atomically (a temporary file
/// renamed over the old one), so a reader never sees half a token, and a save that would
/// replace a newer `create_at` is refused. Leases are files in `<dir>/.leases/` holding the
/// holder and the expiry time.
///
/// Openids must be made of `A-Z a-z 0-9 _ -` (every WeChat openid is); anything else is
/// rejected so that no openid can name a path outside the directory.
///
/// ```
/// use wechat_oauth::{AccessToken, TokenStore, store::FileStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = FileStore::open(dir.path()).await?;
/// let token = AccessToken::new("ACCESS", 7200, "REFRESH", "o1", "snsapi_base", 1_700_000_000_000);
/// store.save("o1", &token).await?;
/// assert!(dir.path().join("o1:access_token.txt").exists());
/// assert_eq!(store.get("o1").await?, Some(token));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct LeaseFile {
    holder: String,
    /// Milliseconds since the epoch.
    expires_at: i64,
}

impl FileStore {
    /// A store in `dir`, created if it does not exist.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the directory cannot be created.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let leases = dir.join(".leases");
        blocking(move || fs::create_dir_all(leases).map_err(StoreError::unavailable)).await?;
        Ok(Self { dir })
    }

    /// The directory holding the token files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `openid`'s token.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] if `openid` is empty or has characters outside
    /// `A-Z a-z 0-9 _ -`.
    pub fn token_path(&self, openid: &str) -> Result<PathBuf, StoreError> {
        let safe = !openid.is_empty()
            && openid.len() <= 128
            && openid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !safe {
            return Err(StoreError::Rejected(
                "openid must be 1-128 characters of A-Z a-z 0-9 _ -".into(),
            ));
        }
        Ok(self.dir.join(format!("{openid}:access_token.txt")))
    }

    fn lease_path(&self, name: &str) -> PathBuf {
        self.dir
            .join(".leases")
            .join(format!("{}.lease", hex::encode(name)))
    }

    /// Runs `op` on a blocking thread while holding the exclusive lock of `target`
    /// (the lock file `<target>.lock`). One lock per file rather than one per directory:
    /// a directory-wide lock made every save wait for every other save's fsync.
    async fn locked<T: Send + 'static>(
        target: &Path,
        op: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut lock_name = target.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock_path = PathBuf::from(lock_name);
        blocking(move || {
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io_error)?;
            lock.lock().map_err(io_error)?;
            let result = op();
            // Closing the file releases the lock as well; unlocking first is just prompt.
            let _ = lock.unlock();
            result
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(op)
        .await
        .map_err(StoreError::backend)?
}

fn io_error(err: io::Error) -> StoreError {
    match err.kind() {
        io::ErrorKind::TimedOut => StoreError::Timeout,
        _ => StoreError::Unavailable(Box::new(err)),
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, StoreError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Err(StoreError::Malformed("not UTF-8 text".into()))
        }
        Err(e) => Err(io_error(e)),
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory,
/// flushed, then renamed over `path`.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{}", crate::state::random_alphanumeric(16)));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io_error)
}

fn remove_optional(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(e)),
        _ => Ok(()),
    }
}

#[async_trait]
impl TokenStore for FileStore {
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        let Ok(path) = self.token_path(openid) else {
            // No such openid can have been saved.
            return Ok(None);
        };
        // Files are replaced by rename, so an unlocked read sees a whole token.
        let text = blocking(move || read_optional(&path)).await?;
        text.map(|t| decode_stored_str(&t)).transpose()
    }

    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        validate_for_save(openid, token)?;
        let path = self.token_path(openid)?;
        let json = encode_for_store(token)?;
        let create_at = token.create_at;
        Self::locked(&path.clone(), move || {
            if let Some(current) = read_optional(&path)? {
                // A file that no longer parses does not protect itself: it is replaced.
                if decode_stored_str(&current).is_ok_and(|c| c.create_at > create_at) {
                    return Ok(false);
                }
            }
            write_atomically(&path, json.as_bytes())?;
            Ok(true)
        })
        .await
    }

    async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        let Ok(path) = self.token_path(openid) else {
            return Ok(());
        };
        Self::locked(&path.clone(), move || remove_optional(&path)).await
    }
}

#[async_trait]
impl LeaseStore for FileStore {
    async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let path = self.lease_path(name);
        let lease = Lease::new(name);
        let record = LeaseFile {
            holder: lease.holder().to_owned(),
            expires_at: now_millis().saturating_add(duration_millis(ttl)),
        };
        let json = serde_json::to_vec(&record).map_err(StoreError::backend)?;
        let acquired = Self::locked(&path.clone(), move || {
            let held = read_optional(&path)?
                .and_then(|t| serde_json::from_str::<LeaseFile>(&t).ok())
                .is_some_and(|current| current.expires_at > now_millis());
            if held {
                return Ok(false);
            }
            write_atomically(&path, &json)?;
            Ok(true)
        })
        .await?;
        Ok(acquired.then_some(lease))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let path = self.lease_path(lease.name());
        let holder = lease.holder().to_owned();
        Self::locked(&path.clone(), move || {
            let ours = read_optional(&path)?
                .and_then(|t| serde_json::from_str::<LeaseFile>(&t).ok())
                .is_some_and(|current| current.holder == holder);
            if ours {
                remove_optional(&path)?;
            }
            Ok(())
        })
        .await
    }

    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        // A claim is a lease in its own namespace that nobody releases.
        Ok(self
            .acquire_lease(&format!("\0claim:{key}"), ttl)
            .await?
            .is_some())
    }
}

/// `d` in whole milliseconds, saturating.
pub(crate) fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
