#!/usr/bin/env node
'use strict';
// The unmodified npm `wechat-oauth` 1.5.0 with the seed README's own MySQL getToken /
// saveToken code (through the npm `mysql` package), against a running wechat-sandbox.
// tests/it/interop.rs drives it:
//
//   MODE=save CODE=…    -> getAccessToken(code): saves via `REPLACE INTO token(...)`
//   MODE=get OPENID=…   -> getUser(openid): reads via `SELECT * FROM token WHERE openid = ?`
//
// Env: SANDBOX_URL APPID SECRET MYSQL_HOST MYSQL_PORT MYSQL_USER MYSQL_PASSWORD
// MYSQL_DATABASE TABLE, NODE_PATH=…/node_modules. Prints one JSON line.

const mysql = require('mysql');
const OAuth = require('wechat-oauth');

const env = process.env;

// The library has no base-URL option; rewrite its one request method (as node-peer.js does).
const original = OAuth.prototype.request;
OAuth.prototype.request = function (url, opts, cb) {
  return original.call(this, url.replace('https://api.weixin.qq.com', env.SANDBOX_URL), opts, cb);
};

const db = mysql.createConnection({
  host: env.MYSQL_HOST, port: Number(env.MYSQL_PORT), user: env.MYSQL_USER,
  password: env.MYSQL_PASSWORD || '', database: env.MYSQL_DATABASE,
});
const TABLE = env.TABLE; // `token` in the README; a per-test name here

// The README's code, verbatim apart from the table name.
var client = new OAuth(env.APPID, env.SECRET, function (openid, callback) {
  var sql = 'SELECT * FROM ' + TABLE + ' WHERE openid = ?';
  db.query(sql, [openid], function (err, result) {
    if(err) {
      return callback(err);
    }
    return callback(null, result[0]);
  });
}, function (openid, token, callback) {
  var sql = 'REPLACE INTO ' + TABLE + '(access_token, expires_in, refresh_token, openid, scope, create_at) VALUES(?, ?, ?, ?, ?, ?)';
  var fields = [token.access_token, token.expires_in, token.refresh_token, token.openid, token.scope, token.create_at];
  db.query(sql, fields, function (err, result) {
    return callback(err);
  });
});

function done(err, value) {
  db.end();
  if (err) { console.error((err.name || 'Error') + ': ' + err.message); process.exit(1); }
  console.log(JSON.stringify(value));
}

if (env.MODE === 'save') {
  client.getAccessToken(env.CODE, function (err, result) {
    done(err, err ? null : { openid: result.data.openid, access_token: result.data.access_token });
  });
} else {
  client.getUser(env.OPENID, function (err, user) {
    done(err, user);
  });
}
