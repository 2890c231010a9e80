//! The store conformance suite against the stores in `wechat-oauth` itself: memory, file
//! (one JSON file per openid, shared by processes) and the closure adapter.
#![cfg(feature = "conformance")]

mod file;
mod fn_store;
mod memory;
