//! Micro benchmarks (criterion): authorize URL building, token response parsing, and the
//! Mini Program decrypt + signature check (`cargo bench -p wechat-oauth-bench`).
//! `wechat-oauth-bench all` runs the same cases and puts node's figure for the same decrypt
//! beside them.

use criterion::{criterion_group, criterion_main};

criterion_group!(micro_benches, wechat_oauth_bench::micro::benches);
criterion_main!(micro_benches);
