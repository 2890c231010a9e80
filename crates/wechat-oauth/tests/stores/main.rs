//! The store conformance suite against the stores in `wechat-oauth` itself: memory, file
//! (one JSON file per openid, shared by processes) and the closure adapter; and the
//! multi-process scenarios over a shared file store.

mod file;
mod fn_store;
mod memory;
mod two_process;
