//! The shared `TokenStore` impl of the SQL dialects with a conditional upsert.

/// The [`TokenStore`](wechat_oauth::TokenStore) impl of the stores whose dialect has
/// `INSERT … ON CONFLICT … DO UPDATE … WHERE` with a reliable affected-row count (SQLite,
/// PostgreSQL). Expects fields `pool`, `timeout`, `sql: Queries` and a `decode_row` fn in
/// the calling module.
macro_rules! upsert_store_impl {
    ($store:ident) => {
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
        }
    };
}
