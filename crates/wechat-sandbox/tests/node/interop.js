#!/usr/bin/env node
'use strict';
// Drives the unmodified npm `wechat-oauth` 1.5.0 against a running wechat-sandbox and prints
// one JSON object for tests/it/node.rs to assert on.
//
//   SANDBOX_URL=http://127.0.0.1:PORT APPID=… SECRET=… CODE=… NODE_PATH=…/node_modules node interop.js
//
// The library has no base-URL option: every call goes through OAuth.prototype.request with a
// literal https://api.weixin.qq.com URL, so (as crates/wechat-oauth-bench/node/bench.js does) that one
// method is wrapped to rewrite the prefix. The library's logic and HTTP client stay in the path.

const OAuth = require('wechat-oauth');

const { SANDBOX_URL, APPID, SECRET, CODE } = process.env;
const original = OAuth.prototype.request;
OAuth.prototype.request = function (url, opts, cb) {
  return original.call(this, url.replace('https://api.weixin.qq.com', SANDBOX_URL), opts, cb);
};

// Callback API -> promise of [err, result] (the library calls back with (err, data, res)).
const call = (fn, ...args) => new Promise((resolve) => fn(...args, (err, data) => resolve([err, data])));
const errInfo = (e) => e && { name: e.name, code: e.code, message: String(e.message) };

async function main() {
  const api = new OAuth(APPID, SECRET);
  const out = {};

  let [err, token] = await call(api.getAccessToken.bind(api), CODE);
  out.getAccessToken = { err: errInfo(err), data: token && token.data, isValid: !!token && token.isValid() };
  if (err) return out;
  const openid = token.data.openid;

  [err, out.getUserEn] = await call(api.getUser.bind(api), { openid, lang: 'en' });
  out.getUserEnErr = errInfo(err);
  [err, out.getUserZhCn] = await call(api.getUser.bind(api), { openid, lang: 'zh_CN' });
  out.getUserZhCnErr = errInfo(err);

  [err, out.verifyToken] = await call(api.verifyToken.bind(api), openid, token.data.access_token);
  out.verifyTokenErr = errInfo(err);
  [err] = await call(api.verifyToken.bind(api), openid, 'not-a-token');
  out.verifyBogusErr = errInfo(err);

  let refreshed;
  [err, refreshed] = await call(api.refreshAccessToken.bind(api), token.data.refresh_token);
  out.refreshAccessToken = { err: errInfo(err), data: refreshed && refreshed.data };

  // The refreshed token went to the store: getUser keeps working on it.
  [err, out.getUserAfterRefresh] = await call(api.getUser.bind(api), openid);
  out.getUserAfterRefreshErr = errInfo(err);

  // A code is single use: the library surfaces WeChat's errcode.
  [err] = await call(api.getAccessToken.bind(api), CODE);
  out.reuseCodeErr = errInfo(err);
  return out;
}

main().then(
  (out) => console.log(JSON.stringify(out)),
  (e) => { console.error(e); process.exit(1); },
);
