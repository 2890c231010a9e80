//! The Redis store against a real server (`WECHAT_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379/`). Every test writes under its own random key prefix.

mod store;
mod two_process;
