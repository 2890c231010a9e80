//! WeChat login for axum (work in progress).
#![forbid(unsafe_code)]

mod cookie;
mod key;
mod return_path;
mod state;

pub use key::{Key, KeyTooShort};
pub use return_path::safe_return_path;
