//! [`FileStore`]: one JSON file per openid, as in the seed's example.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::codec::{decode_stored_str, encode_for_store};
use super::{
    Guard, Lease, LeaseStore, Record, RecordKind, RecordStore, StoreError, TokenStore,
    claim_record, validate_for_save,
};
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

/// A [`Record`] as a file in `<dir>/.state/<kind>/`.
#[derive(Serialize, Deserialize)]
struct RecordFile {
    value: String,
    version: i64,
    expires_at: Option<i64>,
    limit_at: Option<i64>,
    owner: Option<String>,
}

impl RecordFile {
    fn read(path: &Path) -> Result<Option<Record>, StoreError> {
        let Some(text) = read_optional(path)? else {
            return Ok(None);
        };
        let file: RecordFile = serde_json::from_str(&text).map_err(|e| {
            StoreError::Malformed(format!("record file is not valid ({:?})", e.classify()))
        })?;
        Ok(Some(Record::new(
            file.value,
            file.version,
            file.expires_at,
            file.limit_at,
            file.owner,
        )))
    }

    fn write(path: &Path, record: &Record) -> Result<(), StoreError> {
        let file = RecordFile {
            value: record.value.clone(),
            version: record.version,
            expires_at: record.expires_at,
            limit_at: record.limit_at,
            owner: record.owner.clone(),
        };
        let json = serde_json::to_vec(&file).map_err(StoreError::backend)?;
        write_atomically(path, &json)
    }
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
        let folders: Vec<PathBuf> = std::iter::once(dir.join(".leases"))
            .chain(RecordKind::ALL.map(|k| dir.join(".state").join(k.as_str())))
            .collect();
        blocking(move || {
            for folder in folders {
                fs::create_dir_all(folder).map_err(StoreError::unavailable)?;
            }
            Ok(())
        })
        .await?;
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

    /// `<dir>/.state/<kind>/<hex of key>.json`: one subfolder per kind of state.
    fn record_path(&self, kind: RecordKind, key: &str) -> Result<PathBuf, StoreError> {
        if key.is_empty() || key.len() > 200 {
            return Err(StoreError::Rejected("key must be 1-200 bytes".into()));
        }
        Ok(self
            .dir
            .join(".state")
            .join(kind.as_str())
            .join(format!("{}.json", hex::encode(key))))
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
        claim_record(self, key, ttl).await
    }
}

#[async_trait]
impl RecordStore for FileStore {
    async fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: i64,
    ) -> Result<Option<Record>, StoreError> {
        let Ok(path) = self.record_path(kind, key) else {
            return Ok(None);
        };
        let record = blocking(move || RecordFile::read(&path)).await?;
        Ok(record.filter(|r| !r.is_expired_at(now)))
    }

    async fn put_record(
        &self,
        kind: RecordKind,
        key: &str,
        record: &Record,
        guard: Guard,
    ) -> Result<bool, StoreError> {
        let path = self.record_path(kind, key)?;
        let record = record.clone();
        Self::locked(&path.clone(), move || {
            let current = match RecordFile::read(&path) {
                Ok(current) => Ok(current),
                Err(StoreError::Malformed(why)) => Err(why),
                Err(other) => return Err(other),
            };
            let allowed = match (guard, current) {
                (_, Ok(None)) | (Guard::Always, _) => true,
                (Guard::IfNotNewer, Ok(Some(c))) => c.version <= record.version,
                (Guard::IfExpired(now), Ok(Some(c))) => c.is_expired_at(now),
                // A broken claim may have been a real one: it stays taken (fail closed).
                (Guard::IfExpired(_), Err(_)) => false,
                // Any other file that no longer parses protects nothing: it is replaced.
                (_, Err(_)) => true,
            };
            if allowed {
                RecordFile::write(&path, &record)?;
            }
            Ok(allowed)
        })
        .await
    }

    async fn touch_record(
        &self,
        kind: RecordKind,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Ok(path) = self.record_path(kind, key) else {
            return Ok(false);
        };
        Self::locked(&path.clone(), move || {
            let Some(mut record) = RecordFile::read(&path)? else {
                return Ok(false);
            };
            if record.expires_at.is_none() || record.is_expired_at(now) {
                return Ok(false);
            }
            record.expires_at = Some(record.limit_at.map_or(expires_at, |l| l.min(expires_at)));
            RecordFile::write(&path, &record)?;
            Ok(true)
        })
        .await
    }

    async fn delete_record(&self, kind: RecordKind, key: &str) -> Result<(), StoreError> {
        let Ok(path) = self.record_path(kind, key) else {
            return Ok(());
        };
        Self::locked(&path.clone(), move || remove_optional(&path)).await
    }

    async fn delete_records_of(&self, kind: RecordKind, owner: &str) -> Result<u64, StoreError> {
        // A scan of the kind's folder: sign-out-everywhere is rare, and there is no index
        // file to keep consistent across processes.
        let folder = self.dir.join(".state").join(kind.as_str());
        let owner = owner.to_owned();
        let paths = blocking(move || {
            let mut paths = Vec::new();
            for entry in fs::read_dir(&folder).map_err(io_error)? {
                let path = entry.map_err(io_error)?.path();
                if path.extension().is_some_and(|e| e == "json")
                    && RecordFile::read(&path)
                        .ok()
                        .flatten()
                        .is_some_and(|r| r.owner.as_deref() == Some(owner.as_str()))
                {
                    paths.push(path);
                }
            }
            Ok(paths)
        })
        .await?;
        let mut deleted = 0;
        for path in paths {
            Self::locked(&path.clone(), move || remove_optional(&path)).await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        // A scan of every kind's folder; each expired file is read again under its lock
        // before it goes, so a record renewed meanwhile stays. Lock files stay too: removing
        // one another process may be waiting on would let two processes hold it.
        let state = self.dir.join(".state");
        let expired = blocking(move || {
            let mut expired = Vec::new();
            for kind in RecordKind::ALL {
                let folder = state.join(kind.as_str());
                let entries = match fs::read_dir(&folder) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error(e)),
                };
                for entry in entries {
                    let path = entry.map_err(io_error)?.path();
                    if path.extension().is_some_and(|e| e == "json")
                        && RecordFile::read(&path)
                            .ok()
                            .flatten()
                            .is_some_and(|r| r.is_expired_at(now))
                    {
                        expired.push(path);
                    }
                }
            }
            Ok(expired)
        })
        .await?;
        let mut purged = 0;
        for path in expired {
            let gone = Self::locked(&path.clone(), move || {
                let still_expired = RecordFile::read(&path)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.is_expired_at(now));
                if still_expired {
                    remove_optional(&path)?;
                }
                Ok(still_expired)
            })
            .await?;
            purged += u64::from(gone);
        }
        Ok(purged)
    }
}

/// `d` in whole milliseconds, saturating.
pub(crate) fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
