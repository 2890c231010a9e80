//! Mini Program login shared by several processes (the seed's 多进程 Mini Program example,
//! `new OAuth(appid, secret, getToken, saveToken, true)`).
//!
//! Behind a load balancer, the instance that exchanges the `wx.login` code is rarely the one
//! that later decrypts the device's data or checks its session key. Give every instance the
//! same store URL and any of them can do either: the session (with its session key, which
//! never leaves the server), the server access token and its refresh lease all live in the
//! store.
//!
//! Each command below is one short-lived process; run them in any order of machines that
//! share the store (`--store`, default the SQLite file of `wechat_oauth_stores::DEFAULT_URL`).
//! Against the local sandbox (`cargo run -p wechat-sandbox`), which mints the device side:
//!
//! ```sh
//! S=sqlite:///tmp/mp-sessions.db
//! # The device: wx.login (the sandbox's control plane stands in for it).
//! CODE=$(curl -s -XPOST localhost:8080/__sandbox/mp/login \
//!   -d '{"appid":"wx5a4d1e0f0a000003","user":"alice"}' | jq -r .js_code)
//! # Instance A: POST /login {js_code}
//! OPENID=$(cargo run -p wechat-oauth-stores --example miniprogram_multiprocess -- \
//!   --store $S --api-base http://127.0.0.1:8080 login "$CODE")
//! # The device: wx.getUserInfo, sent to instance B.
//! curl -s -XPOST localhost:8080/__sandbox/mp/userinfo \
//!   -d '{"appid":"wx5a4d1e0f0a000003","user":"alice"}' > /tmp/userinfo.json
//! # Instance B: POST /profile {encryptedData, iv}; then wx.checkSession's server side.
//! cargo run -p wechat-oauth-stores --example miniprogram_multiprocess -- --store $S \
//!   --api-base http://127.0.0.1:8080 decrypt "$OPENID" \
//!   "$(jq -r .encryptedData /tmp/userinfo.json)" "$(jq -r .iv /tmp/userinfo.json)"
//! cargo run -p wechat-oauth-stores --example miniprogram_multiprocess -- --store $S \
//!   --api-base http://127.0.0.1:8080 check "$OPENID"
//! ```
//!
//! The appid and secret come from `WECHAT_APPID` and `WECHAT_SECRET` (default: the
//! sandbox's Mini Program).

use wechat_oauth::Stores;
use wechat_oauth::miniprogram::{MiniProgramClient, SessionKeyStatus};

/// The sandbox's Mini Program, used when `WECHAT_APPID` / `WECHAT_SECRET` are not set.
const SANDBOX_APPID: &str = "wx5a4d1e0f0a000003";
const SANDBOX_SECRET: &str = "sandbox-miniprogram-secret";

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The Mini Program client of one process: every instance builds the same one, from the
/// same store URL.
pub fn client(stores: Stores, api_base: Option<&str>) -> Result<MiniProgramClient, Failure> {
    let appid = std::env::var("WECHAT_APPID").unwrap_or_else(|_| SANDBOX_APPID.into());
    let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| SANDBOX_SECRET.into());
    let mut builder = MiniProgramClient::builder(appid, secret).stores(stores);
    if let Some(base) = api_base {
        builder = builder.api_base(base);
    }
    Ok(builder.build()?)
}

/// `POST /login {js_code}`: `jscode2session`, the session saved in the shared store.
/// Returns what the Mini Program may see (its openid; never the session key).
pub async fn login(client: &MiniProgramClient, js_code: &str) -> Result<String, Failure> {
    let login = client.login(js_code).await?;
    Ok(login.openid)
}

/// `POST /profile {encryptedData, iv}` on any instance: decrypted with the session key
/// another instance stored. Returns the user's nickname.
pub async fn decrypt(
    client: &MiniProgramClient,
    openid: &str,
    encrypted_data: &str,
    iv: &str,
) -> Result<String, Failure> {
    let profile = client
        .decrypt_user_info_for(openid, encrypted_data, iv)
        .await?;
    Ok(profile.nick_name)
}

/// Whether the stored session key is still the user's (else the Mini Program logs in
/// again): the server side of `wx.checkSession`.
pub async fn check(client: &MiniProgramClient, openid: &str) -> Result<bool, Failure> {
    Ok(client.check_session_key(openid).await? == SessionKeyStatus::Valid)
}

/// `POST /phone {code}` on any instance: the `getPhoneNumber` button's code exchanged for
/// the logged-in user's phone number, WeChat checking the code was issued to that openid.
/// The server access token it needs is shared through the store too.
pub async fn phone(
    client: &MiniProgramClient,
    openid: &str,
    code: &str,
) -> Result<String, Failure> {
    Ok(client
        .get_phone_number_for(code, openid)
        .await?
        .phone_number)
}

const USAGE: &str = "usage: miniprogram_multiprocess [--store URL] [--api-base URL] \
                     (login JS_CODE | decrypt OPENID ENCRYPTED_DATA IV | check OPENID | \
                     phone OPENID PHONE_CODE)";

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let mut store = wechat_oauth_stores::DEFAULT_URL.to_owned();
    let mut api_base = None;
    let mut rest = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => store = args.next().ok_or(USAGE)?,
            "--api-base" => api_base = Some(args.next().ok_or(USAGE)?),
            _ => rest.push(arg),
        }
    }
    let stores = wechat_oauth_stores::open(&store).await?;
    let client = client(stores, api_base.as_deref())?;
    match rest.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["login", js_code] => println!("{}", login(&client, js_code).await?),
        ["decrypt", openid, encrypted_data, iv] => {
            println!("{}", decrypt(&client, openid, encrypted_data, iv).await?);
        }
        ["phone", openid, code] => println!("{}", phone(&client, openid, code).await?),
        ["check", openid] => {
            let valid = check(&client, openid).await?;
            println!(
                "{}",
                if valid {
                    "valid"
                } else {
                    "stale: log in again"
                }
            );
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}
