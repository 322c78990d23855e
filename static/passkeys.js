// Passkeys (WebAuthn) for the console: registration on /me, sign-in with a
// passkey alone on /login, a passkey as the second step on /login/code.
// Served from the binary, no CDN. A form marked data-passkey stays hidden
// without JavaScript or WebAuthn; the password (and code) path works then.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  // Browsers refuse an IP address as a passkey's relying party: on a
  // console reached by address (CC_PUBLIC_URL unset) the buttons stay hidden.
  if (/^[0-9.]+$/.test(location.hostname) || location.hostname.indexOf(":") >= 0 ||
      location.hostname.charAt(0) === "[") return;

  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), a = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    return a.buffer;
  }
  function toB64u(buf) {
    var a = new Uint8Array(buf), s = "";
    for (var i = 0; i < a.length; i++) s += String.fromCharCode(a[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // The server's JSON may carry nulls for options it leaves unset; a
  // browser refuses null where it expects an enum.
  function clean(v) {
    if (Array.isArray(v)) return v.map(clean);
    if (v && typeof v === "object") {
      var o = {};
      for (var k in v) if (v[k] !== null && v[k] !== undefined) o[k] = clean(v[k]);
      return o;
    }
    return v;
  }
  function post(url, fields) {
    var body = new URLSearchParams();
    for (var k in fields) body.append(k, fields[k]);
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || String(r.status));
        return j;
      }, function () { throw new Error(String(r.status)); });
    });
  }
  function creation(options) {
    var pk = clean(options).publicKey;
    pk.challenge = toBuf(pk.challenge);
    pk.user.id = toBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return navigator.credentials.create({ publicKey: pk }).then(function (c) {
      return JSON.stringify({
        id: c.id, rawId: toB64u(c.rawId), type: c.type, extensions: {},
        response: {
          attestationObject: toB64u(c.response.attestationObject),
          clientDataJSON: toB64u(c.response.clientDataJSON)
        }
      });
    });
  }
  function assertion(options) {
    var pk = clean(options).publicKey;
    pk.challenge = toBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return navigator.credentials.get({ publicKey: pk }).then(function (c) {
      return JSON.stringify({
        id: c.id, rawId: toB64u(c.rawId), type: c.type, extensions: {},
        response: {
          authenticatorData: toB64u(c.response.authenticatorData),
          clientDataJSON: toB64u(c.response.clientDataJSON),
          signature: toB64u(c.response.signature),
          userHandle: c.response.userHandle ? toB64u(c.response.userHandle) : null
        }
      });
    });
  }
  // The ceremonies, for other scripts of the console (and the browser
  // tests, which replay an answer).
  window.ccPasskeys = { creation: creation, assertion: assertion };

  function field(form, name) {
    var el = form.querySelector('[name="' + name + '"]');
    return el ? el.value : "";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-passkey]");
    for (var i = 0; i < forms.length; i++) forms[i].hidden = false;
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form || !form.dataset || !form.dataset.passkey) return;
    e.preventDefault();
    var status = form.querySelector(".passkey-status");
    var button = form.querySelector("button");
    var say = function (text, bad) {
      if (!status) return;
      status.textContent = text;
      status.className = "passkey-status" + (bad ? " error" : "");
    };
    var csrf = field(form, "_csrf");
    var base = form.getAttribute("action");
    if (button) button.disabled = true;
    say(form.dataset.waiting || "", false);
    post(base + "/start", { _csrf: csrf, password: field(form, "password") }).then(function (c) {
      var ceremony = form.dataset.passkey === "register" ? creation : assertion;
      return ceremony(c.options).then(function (credential) {
        return post(base + "/finish", {
          _csrf: csrf, challenge_id: c.challenge_id, credential: credential,
          name: field(form, "name"), next: field(form, "next")
        });
      });
    }).then(function (j) {
      window.location.assign(j.redirect || "/");
    }, function (err) {
      if (button) button.disabled = false;
      // A cancelled or timed-out browser prompt is a NotAllowedError.
      say(err && err.name === "NotAllowedError" ? (form.dataset.cancelled || err.message) : err.message, true);
    });
  });
})();
