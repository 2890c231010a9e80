//! The conformance suite every [`TokenStore`](super::TokenStore) backend must pass.
//! Placeholder: filled in by the store work.
