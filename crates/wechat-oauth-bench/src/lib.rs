//! Benchmarks of `wechat-oauth` beside the npm `wechat-oauth` 1.5.0 and a bare hyper
//! client, all against one `wechat-sandbox`.
//!
//! `cargo run -p wechat-oauth-bench --release -- all` runs every scenario and rewrites the
//! results in `BENCHMARKS.md` (between the `bench:begin`/`bench:end` markers) and the
//! chart `docs/bench-getuser.png`. The method is described in `BENCHMARKS.md`; the
//! smoke version of the suite is this crate's integration test.

pub mod chart;
pub mod load;
pub mod measure;
pub mod micro;
pub mod procs;
pub mod report;
pub mod results;
pub mod sandbox;
pub mod suite;
pub mod tls;
pub mod wechat_push;
