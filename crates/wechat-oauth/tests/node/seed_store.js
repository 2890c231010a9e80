#!/usr/bin/env node
'use strict';
// The unmodified npm `wechat-oauth` 1.5.0 exchanges a code against a running wechat-sandbox
// and saves the token through its saveToken hook, shaped like the README's MySQL table
// (every column varchar, so every value a string). tests/it/node.rs then reads that row in
// Rust.
//
//   SANDBOX_URL=… APPID=… SECRET=… CODE=… OUT=token.json CLOCK_BEHIND_MS=… NODE_PATH=…/node_modules node seed_store.js
//
// CLOCK_BEHIND_MS sets the node process's clock back, so the row looks written that long ago
// (the library stamps create_at with `new Date().getTime()`).

const fs = require('fs');
const OAuth = require('wechat-oauth');

const { SANDBOX_URL, APPID, SECRET, CODE, OUT } = process.env;
const behind = Number(process.env.CLOCK_BEHIND_MS || 0);
const realGetTime = Date.prototype.getTime;
Date.prototype.getTime = function () { return realGetTime.call(this) - behind; };

// The library has no base-URL option; rewrite its one request method (as node-peer.js does).
const original = OAuth.prototype.request;
OAuth.prototype.request = function (url, opts, cb) {
  return original.call(this, url.replace('https://api.weixin.qq.com', SANDBOX_URL), opts, cb);
};

const COLUMNS = ['access_token', 'expires_in', 'refresh_token', 'openid', 'scope', 'create_at'];
const api = new OAuth(APPID, SECRET, function (openid, cb) {
  cb(null, JSON.parse(fs.readFileSync(OUT, 'utf8')));
}, function (openid, token, cb) {
  const row = {};
  for (const c of COLUMNS) row[c] = String(token[c]);
  fs.writeFile(OUT, JSON.stringify(row), cb);
});

api.getAccessToken(CODE, function (err, token) {
  if (err) { console.error(err.name + ': ' + err.message); process.exit(1); }
  console.log(JSON.stringify({ openid: token.data.openid, isValid: token.isValid() }));
});
