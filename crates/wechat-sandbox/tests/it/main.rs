//! Integration tests: every route of the sandbox over real HTTP (reqwest), the binary's
//! command line, and the npm `wechat-oauth` 1.5.0 as an outside client.

mod authorize;
mod cli;
mod control;
mod faults;
mod limits;
mod miniprogram;
mod node;
mod official_account;
mod robustness;
mod server_token;
mod shapes;
mod sns;
mod support;
