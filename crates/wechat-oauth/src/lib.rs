//! WeChat OAuth and Mini Program login for async Rust.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
mod http;
mod lenient;
pub mod miniprogram;
mod secret;
pub mod server_token;
pub mod state;
pub mod store;
mod token;

pub use config::HttpOptions;
pub use error::{Error, WeChatError, WeChatErrorKind};
pub use secret::Secret;
pub use state::{new_state, states_match};
pub use store::{MemoryStore, StoreError, TokenStore};
pub use token::{AccessToken, now_millis};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
