#!/usr/bin/env node
'use strict';
// The npm `wechat-oauth` 1.5.0 as a benchmark client, spawned by wechat-oauth-bench.
// OAuth.prototype.request is wrapped to
// rewrite the hard-coded https://api.weixin.qq.com prefix to the sandbox, so urllib and
// all of the library's logic stay in the path. Prints one JSON report (the same fields
// as the Rust clients' ClientReport) as its last stdout line.
//
//   node bench.js getuser --base URL --appid A --secret S --codes FILE
//                 [--concurrency 200] [--duration-ms 4000] [--keepalive]
//                 (an https:// base is trusted through NODE_EXTRA_CA_CERTS)
//   node bench.js storm   --base URL --appid A --secret S --codes FILE
//                 [--calls 10000] [--backdate-secs 7300]    (prints "ready", waits for a stdin line)
//   node bench.js decrypt --vector FILE [--duration-ms 2000]  (AES-128-CBC + SHA-1 signature)
//   node bench.js msg-server --token T --aes-key K --appid A
//                 (the npm `wechat` 2.1.0 middleware in a plain http server; prints
//                  "listening on http://127.0.0.1:PORT/wechat", serves until killed)

const http = require('http');
const https = require('https');
const fs = require('fs');
const crypto = require('crypto');
// Loaded lazily: each mode needs only its own library.
const lazy = (name) => { let m; return () => (m || (m = require(name))); };
const OAuthLib = lazy('wechat-oauth');

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
}
const MODE = process.argv[2];
const BASE = arg('base');
function oauth(appid, secret) {
  const OAuth = OAuthLib();
  if (!OAuth.prototype.request.rewritten) {
    const origRequest = OAuth.prototype.request;
    OAuth.prototype.request = function (url, opts, cb) {
      return origRequest.call(this, url.replace('https://api.weixin.qq.com', BASE), opts, cb);
    };
    OAuth.prototype.request.rewritten = true;
  }
  return new OAuth(appid, secret);
}
const call = (fn, ...a) => new Promise((r) => fn(...a, (...cbArgs) => r(cbArgs)));
const lines = (file) => fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const errText = (e) => String((e && (e.name + ': ' + e.message)) || e).split('\n')[0].slice(0, 200);

function report(client, concurrency, secs, ok, errors, firstError, lat, cpu) {
  lat.sort((x, y) => x - y);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] : 0);
  return {
    client, concurrency, seconds: secs, calls: ok, errors, first_error: firstError,
    cpu_user_s: cpu.user / 1e6, cpu_sys_s: cpu.system / 1e6,
    peak_rss_kib: process.resourceUsage().maxRSS, // ru_maxrss, KiB
    p50_ms: pct(0.5), p99_ms: pct(0.99),
  };
}

async function seed(api, codes) {
  const openids = [];
  for (const code of codes) {
    const [e, token] = await call(api.getAccessToken.bind(api), code);
    if (e) throw e;
    openids.push(token.data.openid);
  }
  return openids;
}

async function getuser() {
  const concurrency = Number(arg('concurrency', 200));
  const duration = Number(arg('duration-ms', 4000));
  const keepalive = !!arg('keepalive', false);
  const api = oauth(arg('appid'), arg('secret'));
  // urllib takes `agent` for http:// URLs and `httpsAgent` for https:// ones (its default
  // https agent opens a connection, and does a TLS handshake, per call).
  if (keepalive && BASE.startsWith('https:')) {
    api.setOpts({ httpsAgent: new https.Agent({ keepAlive: true, maxSockets: concurrency }) });
  } else if (keepalive) {
    api.setOpts({ agent: new http.Agent({ keepAlive: true, maxSockets: concurrency }) });
  }
  const openids = await seed(api, lines(arg('codes')));
  let ok = 0, errors = 0, n = 0, firstError = null;
  const lat = [];
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = Date.now() + duration;
  await new Promise((done) => {
    let inflight = 0;
    const launch = () => {
      const s = process.hrtime.bigint();
      inflight++;
      api.getUser(openids[n++ % openids.length], (err) => {
        inflight--;
        lat.push(Number(process.hrtime.bigint() - s) / 1e6);
        if (err) { errors++; if (!firstError) firstError = errText(err); } else ok++;
        if (Date.now() < end) launch(); else if (inflight === 0) done();
      });
    };
    for (let i = 0; i < concurrency; i++) launch();
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return report(keepalive ? 'node-keepalive' : 'node-default', concurrency, secs, ok, errors, firstError, lat, process.cpuUsage(cpu0));
}

async function storm() {
  const calls = Number(arg('calls', 10000));
  const backdateMs = Number(arg('backdate-secs', 7300)) * 1000;
  const api = oauth(arg('appid'), arg('secret'));
  // The storm's 10,000 sockets at once would exceed the sandbox's accept backlog; a
  // keep-alive pool bounds them as an application would.
  api.setOpts({ agent: new http.Agent({ keepAlive: true, maxSockets: 1000 }) });
  const openids = await seed(api, lines(arg('codes')));
  // The default store is `api.store[openid] = tokenData`; expire every token by its own clock.
  for (const openid of openids) api.store[openid].create_at -= backdateMs;
  console.log('ready');
  await new Promise((r) => process.stdin.once('data', r));
  process.stdin.pause();
  let ok = 0, errors = 0, firstError = null;
  const lat = [];
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: calls }, (_, i) => {
    const s = process.hrtime.bigint();
    return call(api.getUser.bind(api), openids[i % openids.length]).then(([err]) => {
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
      if (err) { errors++; if (!firstError) firstError = errText(err); } else ok++;
    });
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return report('node', calls, secs, ok, errors, firstError, lat, process.cpuUsage(cpu0));
}

// The same work as the Rust micro benchmark: base64-decode, AES-128-CBC decrypt with
// PKCS#7, JSON.parse, watermark check, and the SHA-1 signature check of rawData.
async function decrypt() {
  const v = JSON.parse(fs.readFileSync(arg('vector'), 'utf8'));
  const duration = Number(arg('duration-ms', 2000));
  const once = () => {
    const d = crypto.createDecipheriv('aes-128-cbc', Buffer.from(v.session_key, 'base64'), Buffer.from(v.iv, 'base64'));
    const plain = Buffer.concat([d.update(Buffer.from(v.encrypted_data, 'base64')), d.final()]);
    const data = JSON.parse(plain.toString('utf8'));
    if (data.watermark.appid !== v.appid) throw new Error('watermark');
    const sig = crypto.createHash('sha1').update(v.raw_data + v.signature_session_key).digest('hex');
    if (sig !== v.signature) throw new Error('signature');
  };
  for (let i = 0; i < 2000; i++) once(); // warm up the JIT
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(duration) * 1000000n;
  while (process.hrtime.bigint() < end) { for (let i = 0; i < 100; i++) once(); n += 100; }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return report('node-crypto', 1, secs, n, 0, null, [secs * 1000 / n], process.cpuUsage(cpu0));
}

// The npm `wechat` middleware (node-webot) as its README shows it, in a plain node http
// server: connect-style `(req, res, next)`, `req.query` parsed here, `res.reply(text)`.
// It checks `signature` (plain) or `msg_signature` and decrypts (encrypt_type=aes), and
// encrypts its reply in safe mode. Every text message is answered with its own content
// echoed (`echo: <Content>`), which the load generator checks.
async function msgServer() {
  const wechat = require('wechat');
  const config = { token: arg('token'), appid: arg('appid'), encodingAESKey: arg('aes-key') };
  const middleware = wechat(config, (req, res) => res.reply('echo: ' + req.weixin.Content));
  const server = http.createServer((req, res) => {
    const q = req.url.indexOf('?');
    req.query = q < 0 ? {} : Object.fromEntries(new URLSearchParams(req.url.slice(q + 1)));
    middleware(req, res, (err) => {
      res.writeHead(err ? 400 : 404);
      res.end(err ? errText(err) : 'not handled');
    });
  });
  server.keepAliveTimeout = 60000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  console.log('listening on http://127.0.0.1:' + server.address().port + '/wechat');
  await new Promise(() => {}); // until the harness kills it
}

(async () => {
  const modes = { getuser, storm, decrypt, 'msg-server': msgServer };
  if (!modes[MODE]) throw new Error('mode must be one of ' + Object.keys(modes).join(', '));
  console.log(JSON.stringify(await modes[MODE]()));
  process.exit(0);
})().catch((e) => { console.error(errText(e)); process.exit(1); });
