//! Integration tests: the official vectors, the whole push pipeline, property round trips,
//! the axum integration, and round trips against the sandbox (WeChat's side, implemented
//! independently in `wechat-sandbox`).

mod axum;
mod pipeline;
mod props;
mod sandbox;
mod support;
mod two_process;
mod vectors;
