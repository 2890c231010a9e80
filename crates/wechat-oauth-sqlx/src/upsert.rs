//! The shared `TokenStore` impl of the SQL dialects with a conditional upsert.

/// The [`TokenStore`](wechat_oauth::TokenStore) impl of the stores whose dialect has
/// `INSERT … ON CONFLICT … DO UPDATE … WHERE` with a reliable affected-row count (SQLite,
/// PostgreSQL), plus the row decoder both share (same columns, same types). Expects fields
/// `pool`, `timeout` and `sql: Queries`; `$row` is the dialect's row type.
macro_rules! upsert_store_impl {
    ($store:ident, $row:ty) => {
        fn decode_row(row: &$row) -> Result<AccessToken, StoreError> {
            let value = serde_json::json!({
                "access_token": row.try_get::<String, _>("access_token").map_err(store_error)?,
                "expires_in": row.try_get::<i64, _>("expires_in").map_err(store_error)?,
                "refresh_token": row.try_get::<String, _>("refresh_token").map_err(store_error)?,
                "openid": row.try_get::<String, _>("openid").map_err(store_error)?,
                "scope": row.try_get::<String, _>("scope").map_err(store_error)?,
                "create_at": row.try_get::<i64, _>("create_at").map_err(store_error)?,
                "unionid": row.try_get::<Option<String>, _>("unionid").map_err(store_error)?,
                "is_snapshotuser": row.try_get::<bool, _>("is_snapshotuser").map_err(store_error)?,
            });
            decode_stored(value)
        }

        #[async_trait]
        impl TokenStore for $store {
            async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
                let row = timed(self.timeout, async {
                    sqlx::query(AssertSqlSafe(self.sql.get.clone()))
                        .bind(openid)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)
                })
                .await?;
                row.as_ref().map(decode_row).transpose()
            }

            async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
                validate_for_save(openid, token)?;
                let expires_in = expires_in_column(token)?;
                timed(self.timeout, async {
                    loop {
                        let result = sqlx::query(AssertSqlSafe(self.sql.save.clone()))
                            .bind(openid)
                            .bind(token.access_token.expose_secret())
                            .bind(expires_in)
                            .bind(token.refresh_token.expose_secret())
                            .bind(&token.scope)
                            .bind(token.create_at)
                            .bind(token.unionid.as_deref())
                            .bind(token.is_snapshotuser)
                            .execute(&self.pool)
                            .await;
                        match result {
                            Ok(done) => return Ok(done.rows_affected() > 0),
                            Err(e) if is_conflict(&e) => tokio::task::yield_now().await,
                            Err(e) => return Err(store_error(e)),
                        }
                    }
                })
                .await
            }

            async fn delete(&self, openid: &str) -> Result<(), StoreError> {
                timed(self.timeout, async {
                    sqlx::query(AssertSqlSafe(self.sql.delete.clone()))
                        .bind(openid)
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)
                })
                .await?;
                Ok(())
            }

        }

        #[async_trait]
        impl LeaseStore for $store {
            async fn acquire_lease(
                &self,
                name: &str,
                ttl: Duration,
            ) -> Result<Option<Lease>, StoreError> {
                check_lease_name(name)?;
                let lease = Lease::new(name);
                let now = now_millis();
                let done = timed(self.timeout, async {
                    sqlx::query(AssertSqlSafe(self.sql.acquire.clone()))
                        .bind(name)
                        .bind(lease.holder())
                        .bind(now.saturating_add(millis(ttl)))
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)
                })
                .await?;
                Ok((done.rows_affected() > 0).then_some(lease))
            }

            async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
                timed(self.timeout, async {
                    sqlx::query(AssertSqlSafe(self.sql.release.clone()))
                        .bind(lease.name())
                        .bind(lease.holder())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)
                })
                .await?;
                Ok(())
            }

            async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
                wechat_oauth::store::claim_record(self, key, ttl).await
            }
        }
    };
}
