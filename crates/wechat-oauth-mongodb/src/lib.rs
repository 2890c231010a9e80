//! MongoDB token store for [`wechat_oauth`] that reads and writes the seed's `TokenSchema`
//! documents.
//!
//! The seed's mongoose example declares
//!
//! ```js
//! var TokenSchema = new Schema({ access_token: String, expires_in: Number, refresh_token: String,
//!                                openid: String, scope: String, create_at: String });
//! mongoose.model('Token', TokenSchema);   // collection `tokens`
//! ```
//!
//! and [`MongoStore`] keeps exactly those documents in the same collection (`tokens` by
//! default): `create_at` a string of milliseconds, `expires_in` a number, plus `unionid` and
//! `is_snapshotuser` when the token has them (mongoose ignores fields outside its schema).
//! Documents written by the node library read back here and the other way round.
//!
//! - `save` is a compare-and-set: it reads the stored `create_at`, refuses if it is newer
//!   (compared as numbers, whatever BSON type holds it), and updates with a filter on that
//!   exact stored value, retrying if another writer got in between. A new openid is
//!   inserted under a unique index on `openid`, created at connect; a duplicate-key error
//!   means another writer inserted first, and the compare-and-set runs again.
//! - Leases are documents `{_id: name, holder, expires_at}` in `token_leases`, taken with
//!   `find_one_and_update({_id, expires_at: {$lte: now}}, …, upsert)`: a live lease makes the
//!   upsert collide with its `_id` (E11000), which means "not acquired". Expiry is checked
//!   by the store itself, not by a TTL index (TTL monitors run about once a minute, and the
//!   MongoDB-compatible server used in tests does not run one at all).
//! - Mini Program sessions, web sessions, credentials and claims are documents
//!   `{_id: "<kind>:<key>", kind, id, value, version, expires_at, limit_at, owner}` in
//!   `<collection>_state` (`tokens_state`), written by guarded upserts; expiry is checked on
//!   read, and [`RecordStore::purge_expired`] (run after every 1,024th claim) deletes expired
//!   ones through an index on `expires_at`. `<collection>_schema` holds the layout version (2).
//! - Every operation runs under [`MongoOptions::timeout`] and the driver's server selection
//!   timeout is set to the same, so a down server gives [`StoreError::Unavailable`] or
//!   [`StoreError::Timeout`]; the driver's pool reconnects by itself.
//!
//! ```no_run
//! use wechat_oauth_mongodb::MongoStore;
//!
//! # async fn demo() -> Result<(), wechat_oauth::StoreError> {
//! // The database in the URL (here `app`), collection `tokens`: the seed's `Token` model.
//! let store = MongoStore::connect("mongodb://127.0.0.1:27017/app").await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

use std::future::{Future, IntoFuture};
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use wechat_oauth::store::{
    Guard, Lease, Record, RecordKind, RecordStore, claim_record, decode_stored, validate_for_save,
};
use wechat_oauth::{AccessToken, LeaseStore, StoreError, TokenStore, now_millis};

/// The layout version recorded in `<collection>_schema`.
const SCHEMA_VERSION: i64 = 2;

/// Settings of a [`MongoStore`].
#[derive(Debug, Clone)]
pub struct MongoOptions {
    collection: String,
    lease_collection: String,
    database: String,
    timeout: Duration,
}

impl Default for MongoOptions {
    fn default() -> Self {
        Self {
            collection: "tokens".into(),
            lease_collection: "token_leases".into(),
            database: "wechat_oauth".into(),
            timeout: Duration::from_secs(5),
        }
    }
}

impl MongoOptions {
    /// The defaults: collections `tokens` (mongoose's name for the seed's `Token` model) and
    /// `token_leases`, database `wechat_oauth` when the URL names none, 5 s per operation.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token collection (default `tokens`).
    #[must_use]
    pub fn collection(mut self, name: impl Into<String>) -> Self {
        self.collection = name.into();
        self
    }

    /// The lease collection (default `token_leases`).
    #[must_use]
    pub fn lease_collection(mut self, name: impl Into<String>) -> Self {
        self.lease_collection = name.into();
        self
    }

    /// The database used when the URL names none (default `wechat_oauth`).
    #[must_use]
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.database = name.into();
        self
    }

    /// The longest any one operation may take (default 5 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A token store in MongoDB (see the [crate docs](crate) for the layout).
#[derive(Debug, Clone)]
pub struct MongoStore {
    tokens: Collection<Document>,
    leases: Collection<Document>,
    state: Collection<Document>,
    timeout: Duration,
}

impl MongoStore {
    /// Connects to `url` (`mongodb://[user:password@]host:port/database`) with the default
    /// options.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for a bad URL (not repeated: it may hold a password);
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] if the server cannot be
    /// reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, MongoOptions::default()).await
    }

    /// Like [`connect`](Self::connect), with `options`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: MongoOptions) -> Result<Self, StoreError> {
        let mut client_options = timed(options.timeout, async {
            ClientOptions::parse(url)
                .await
                .map_err(|_| StoreError::Rejected("not a MongoDB URL".into()))
        })
        .await?;
        client_options.server_selection_timeout = Some(options.timeout);
        client_options.connect_timeout = Some(options.timeout);
        client_options.app_name = Some("wechat-oauth".into());
        let client = Client::with_options(client_options).map_err(store_error)?;
        let database = client
            .default_database()
            .unwrap_or_else(|| client.database(&options.database));
        Self::with_database(&database, options).await
    }

    /// A store in `database`; creates the unique `openid` index if it is missing.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] if the server cannot be
    /// reached.
    pub async fn with_database(
        database: &Database,
        options: MongoOptions,
    ) -> Result<Self, StoreError> {
        let store = Self {
            tokens: database.collection(&options.collection),
            leases: database.collection(&options.lease_collection),
            state: database.collection(&format!("{}_state", options.collection)),
            timeout: options.timeout,
        };
        // The layout version, beside the seed's collection (which stays as it is).
        let schema: Collection<Document> =
            database.collection(&format!("{}_schema", options.collection));
        // Read, then raise: `$max` would do it in one step, but MongoDB-compatible servers
        // (jongodb among them) do not all have it. Two processes racing write the same value.
        let current = store
            .run(schema.find_one(doc! { "_id": "wechat-oauth" }))
            .await?;
        let stored = current.and_then(|d| {
            d.get_i64("version")
                .ok()
                .or_else(|| d.get_i32("version").ok().map(i64::from))
        });
        if stored.is_none_or(|v| v < SCHEMA_VERSION) {
            store
                .run(
                    schema
                        .update_one(
                            doc! { "_id": "wechat-oauth" },
                            doc! { "$set": { "version": SCHEMA_VERSION } },
                        )
                        .upsert(true),
                )
                .await?;
        }
        let index = IndexModel::builder()
            .keys(doc! { "openid": 1 })
            .options(IndexOptions::builder().unique(true).build())
            .build();
        // Purging expired records looks them up by expiry (`purge_expired`).
        let expiry = IndexModel::builder().keys(doc! { "expires_at": 1 }).build();
        store.run(store.state.create_index(expiry)).await?;
        let created = store.run(store.tokens.create_index(index)).await;
        match created {
            Ok(_) => {}
            Err(e) if e.is_transient() => return Err(e),
            // An existing collection with duplicate openids cannot get the index; the store
            // still works, but concurrent first saves of one openid may then both insert.
            Err(e) => tracing::warn!(error = %e, "no unique index on tokens.openid"),
        }
        Ok(store)
    }

    /// The token collection.
    pub fn collection(&self) -> &Collection<Document> {
        &self.tokens
    }

    /// The collection of every other kind of state (`<collection>_state`).
    pub fn state_collection(&self) -> &Collection<Document> {
        &self.state
    }

    async fn run<T>(
        &self,
        op: impl IntoFuture<Output = Result<T, MongoError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, op.into_future())
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(store_error)
    }

    /// One compare-and-set attempt: `Some(written)` when settled, `None` when another writer
    /// changed the document in between and the attempt must be repeated.
    async fn try_save(
        &self,
        openid: &str,
        token: &AccessToken,
    ) -> Result<Option<bool>, StoreError> {
        let fields = token_fields(openid, token)?;
        let current = self
            .run(
                self.tokens
                    .find_one(doc! { "openid": openid })
                    .projection(doc! { "create_at": 1 }),
            )
            .await?;
        let Some(current) = current else {
            return match self.run(self.tokens.insert_one(fields)).await {
                Ok(_) => Ok(Some(true)),
                Err(StoreError::Backend(e)) if is_duplicate_key(&*e) => Ok(None),
                Err(e) => Err(e),
            };
        };
        let stored = current.get("create_at").cloned();
        if stored
            .as_ref()
            .and_then(bson_i64)
            .is_some_and(|c| c > token.create_at)
        {
            return Ok(Some(false));
        }
        let mut filter = doc! { "_id": current.get("_id").cloned().unwrap_or(Bson::Null) };
        match stored {
            Some(value) => filter.insert("create_at", value),
            None => filter.insert("create_at", doc! { "$exists": false }),
        };
        let mut unset = Document::new();
        if token.unionid.is_none() {
            unset.insert("unionid", "");
        }
        if !token.is_snapshotuser {
            unset.insert("is_snapshotuser", "");
        }
        let mut update = doc! { "$set": fields };
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        let result = self.run(self.tokens.update_one(filter, update)).await?;
        Ok((result.matched_count == 1).then_some(true))
    }
}

/// The document fields of `token` in the seed's `TokenSchema` types.
fn token_fields(openid: &str, token: &AccessToken) -> Result<Document, StoreError> {
    let expires_in = i64::try_from(token.expires_in)
        .map_err(|_| StoreError::Rejected("expires_in out of range".into()))?;
    let mut fields = doc! {
        "access_token": token.access_token.expose_secret(),
        "expires_in": expires_in,
        "refresh_token": token.refresh_token.expose_secret(),
        "openid": openid,
        "scope": &token.scope,
        // TokenSchema declares `create_at: String`.
        "create_at": token.create_at.to_string(),
    };
    if let Some(unionid) = &token.unionid {
        fields.insert("unionid", unionid);
    }
    if token.is_snapshotuser {
        fields.insert("is_snapshotuser", 1_i32);
    }
    Ok(fields)
}

/// A stored `create_at` as a number, whichever BSON type holds it.
fn bson_i64(value: &Bson) -> Option<i64> {
    match value {
        Bson::String(s) => s.trim().parse().ok(),
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        #[allow(clippy::cast_possible_truncation)]
        Bson::Double(f) if f.is_finite() => Some(*f as i64),
        _ => None,
    }
}

fn is_duplicate_key(err: &(dyn std::error::Error + 'static)) -> bool {
    let Some(err) = err.downcast_ref::<MongoError>() else {
        return false;
    };
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::Command(e) => e.code == 11000,
        _ => err.to_string().contains("E11000"),
    }
}

fn store_error(err: MongoError) -> StoreError {
    match &*err.kind {
        ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => StoreError::Timeout,
        ErrorKind::Io(_)
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. } => StoreError::unavailable(err),
        _ => StoreError::backend(err),
    }
}

async fn timed<T>(
    timeout: Duration,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, op)
        .await
        .map_err(|_| StoreError::Timeout)?
}

#[async_trait]
impl TokenStore for MongoStore {
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        let found = self
            .run(self.tokens.find_one(doc! { "openid": openid }))
            .await?;
        found
            .map(|doc| decode_stored(Bson::Document(doc).into_relaxed_extjson()))
            .transpose()
    }

    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        validate_for_save(openid, token)?;
        let deadline = self.timeout;
        timed(deadline, async {
            loop {
                if let Some(written) = self.try_save(openid, token).await? {
                    return Ok(written);
                }
            }
        })
        .await
    }

    async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        self.run(self.tokens.delete_many(doc! { "openid": openid }))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for MongoStore {
    async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let lease = Lease::new(name);
        let now = now_millis();
        let expires_at = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let taken = self
            .run(
                self.leases
                    .find_one_and_update(
                        doc! { "_id": name, "expires_at": { "$lte": now } },
                        doc! { "$set": { "holder": lease.holder(), "expires_at": expires_at } },
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::After),
            )
            .await;
        match taken {
            Ok(doc) => {
                let holder = doc.as_ref().and_then(|d| d.get_str("holder").ok());
                Ok((holder == Some(lease.holder())).then_some(lease))
            }
            // The lease exists and has not expired: the upsert collided with its `_id`.
            Err(StoreError::Backend(e)) if is_duplicate_key(&*e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.run(
            self.leases
                .delete_one(doc! { "_id": lease.name(), "holder": lease.holder() }),
        )
        .await?;
        Ok(())
    }

    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        claim_record(self, key, ttl).await
    }
}

fn record_id(kind: RecordKind, key: &str) -> String {
    format!("{}:{key}", kind.as_str())
}

fn optional_i64(doc: &Document, field: &str) -> Result<Option<i64>, StoreError> {
    match doc.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(value) => bson_i64(value)
            .map(Some)
            .ok_or_else(|| StoreError::Malformed(format!("field `{field}` is not a number"))),
    }
}

#[async_trait]
impl RecordStore for MongoStore {
    async fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: i64,
    ) -> Result<Option<Record>, StoreError> {
        let found = self
            .run(self.state.find_one(doc! { "_id": record_id(kind, key) }))
            .await?;
        let Some(doc) = found else { return Ok(None) };
        let value = doc
            .get_str("value")
            .map_err(|_| StoreError::Malformed("field `value` is not a string".into()))?;
        let version = optional_i64(&doc, "version")?
            .ok_or_else(|| StoreError::Malformed("field `version` is missing".into()))?;
        let record = Record::new(
            value,
            version,
            optional_i64(&doc, "expires_at")?,
            optional_i64(&doc, "limit_at")?,
            doc.get_str("owner").ok().map(str::to_owned),
        );
        // No TTL index does this (the test server runs none, and real ones lag a minute).
        Ok((!record.is_expired_at(now)).then_some(record))
    }

    async fn put_record(
        &self,
        kind: RecordKind,
        key: &str,
        record: &Record,
        guard: Guard,
    ) -> Result<bool, StoreError> {
        if key.is_empty() || key.len() > 512 {
            return Err(StoreError::Rejected("key must be 1-512 bytes".into()));
        }
        let id = record_id(kind, key);
        let fields = doc! {
            "kind": kind.as_str(),
            "id": key,
            "value": &record.value,
            "version": record.version,
            "expires_at": record.expires_at,
            "limit_at": record.limit_at,
            "owner": record.owner.as_deref(),
        };
        let filter = match guard {
            Guard::IfNotNewer => doc! { "_id": &id, "version": { "$lte": record.version } },
            Guard::IfExpired(now) => doc! { "_id": &id, "expires_at": { "$lte": now } },
            _ => doc! { "_id": &id },
        };
        let written = self
            .run(
                self.state
                    .update_one(filter, doc! { "$set": fields })
                    .upsert(true),
            )
            .await;
        match written {
            Ok(_) => Ok(true),
            // The guard did not match a stored record, so the upsert collided with its `_id`.
            Err(StoreError::Backend(e)) if is_duplicate_key(&*e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn touch_record(
        &self,
        kind: RecordKind,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some(current) = self.get_record(kind, key, now).await? else {
            return Ok(false);
        };
        let until = current
            .limit_at
            .map_or(expires_at, |limit| limit.min(expires_at));
        let touched = self
            .run(self.state.update_one(
                doc! { "_id": record_id(kind, key), "expires_at": { "$gt": now } },
                doc! { "$set": { "expires_at": until } },
            ))
            .await?;
        Ok(touched.matched_count == 1)
    }

    async fn delete_record(&self, kind: RecordKind, key: &str) -> Result<(), StoreError> {
        self.run(self.state.delete_one(doc! { "_id": record_id(kind, key) }))
            .await?;
        Ok(())
    }

    async fn delete_records_of(&self, kind: RecordKind, owner: &str) -> Result<u64, StoreError> {
        let deleted = self
            .run(
                self.state
                    .delete_many(doc! { "kind": kind.as_str(), "owner": owner }),
            )
            .await?;
        Ok(deleted.deleted_count)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let purged = self
            .run(
                self.state
                    .delete_many(doc! { "expires_at": { "$ne": null, "$lte": now } }),
            )
            .await?;
        Ok(purged.deleted_count)
    }
}
