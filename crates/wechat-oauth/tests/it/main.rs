//! Integration tests for the `wechat-oauth` client, all over real HTTP against the
//! `wechat-sandbox` running in-process (one binary per crate keeps link time down).

mod authorize;
mod common;
mod compat;
mod concurrency;
mod docs;
mod flows;
mod miniprogram;
mod node;
mod resilience;
mod seam;
mod secrets;
mod shapes;
mod transport;
mod upstream;
