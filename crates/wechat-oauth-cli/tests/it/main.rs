//! Runs the built `wechat-oauth` binary against a sandbox (in-process, or the binary's own
//! `sandbox` subcommand) and checks what it prints and how it exits.

mod support;

mod authorize_url;
mod decrypt;
mod demo;
mod errors;
mod jssdk;
mod logs;
mod miniprogram;
mod proxy;
mod sandbox;
mod secrets;
mod send_message;
mod tls;
mod token;
mod tokens_and_users;
mod verify;
