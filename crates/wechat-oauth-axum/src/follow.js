// The follow-to-login page's script (wechat-oauth-axum): asks for a scene, shows its QR
// code, and long-polls until the scan signs this browser in. Served as a file so the page's
// Content-Security-Policy needs no inline script.
(function () {
  "use strict";
  var root = document.getElementById("wechat-follow");
  if (!root) return;
  var img = document.getElementById("wechat-follow-qr");
  var status = document.getElementById("wechat-follow-status");
  var retry = document.getElementById("wechat-follow-retry");
  var returnTo = root.getAttribute("data-return-to") || "/";

  function say(text) {
    status.textContent = text;
  }

  function stopped(text) {
    say(text);
    img.hidden = true;
    retry.hidden = false;
  }

  function start() {
    retry.hidden = true;
    say("Loading the QR code…");
    fetch(root.getAttribute("data-scene") + "?return_to=" + encodeURIComponent(returnTo), {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store"
    })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (answer) {
        if (!answer.ok) { stopped(answer.body.message || "Could not show a QR code."); return; }
        img.src = answer.body.qr_url;
        img.hidden = false;
        say("请用微信扫一扫 · Scan with WeChat");
        poll(answer.body.poll_url);
      })
      .catch(function () { stopped("The site did not answer. Try again."); });
  }

  function poll(url) {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (answer.status === "signed_in") {
          say("Signed in.");
          window.location.assign(answer.redirect || "/");
        } else if (answer.status === "pending") {
          poll(url);
        } else {
          stopped(answer.message || "This sign-in ended.");
        }
      })
      .catch(function () {
        // A dropped connection (a proxy timeout, a network change): try again shortly.
        setTimeout(function () { poll(url); }, 2000);
      });
  }

  retry.addEventListener("click", start);
  start();
})();
