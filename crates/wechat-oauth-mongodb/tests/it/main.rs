//! The MongoDB store against a real server (`WECHAT_TEST_MONGODB_URL`, default the
//! MongoDB-compatible jongodb on `mongodb://127.0.0.1:27999/`). Every test uses its own
//! collections.

mod store;
mod two_process;
