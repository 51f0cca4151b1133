// Makes a passkey with the browser's own dialog (WebAuthn), for the account
// page's "Add a passkey" and the offer after a code sign-in. The server put
// the ceremony's options (JSON, base64url for bytes) in the form's
// data-options; this script opens the dialog, writes the browser's answer
// (PublicKeyCredential as JSON) into the form's "credential" field and posts
// the form, where the server checks it. Every error of the dialog becomes the
// page's own words (data-msg-*): nothing is posted then on the account page;
// the offer goes on to the app, as a sign-in must never stop here.
//
// It also notes, on a page carrying data-passkey-hint (the code page), in
// the cookie named there, that this device has a platform authenticator
// with user verification: the server offers a passkey only to such a device.
(function () {
  function bytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function text(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function canMake() {
    return window.PublicKeyCredential && PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable
      ? PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable() : Promise.resolve(false);
  }

  var hint = document.querySelector("[data-passkey-hint]");
  if (hint) {
    canMake().then(function (yes) {
      var c = hint.getAttribute("data-passkey-hint") + "=" + (yes ? "1" : "0") + "; Path=/; Max-Age=31536000; SameSite=Lax";
      if (location.protocol === "https:") c += "; Secure";
      document.cookie = c;
    }, function () {});
  }

  var form = document.getElementById("passkey-create");
  if (!form) return;
  var errorLine = document.getElementById("passkey-error");
  var create = form.querySelector('button[name="action"][value="create"]');
  var busy = false;

  function say(kind) {
    errorLine.textContent = form.getAttribute("data-msg-" + kind) || form.getAttribute("data-msg-failed");
  }
  function post(action) {
    var a = document.createElement("input");
    a.type = "hidden"; a.name = "action"; a.value = action;
    form.appendChild(a);
    form.submit();
  }
  // The offer (a form with a flow) never stops the sign-in: after an error
  // it goes on to the app, and the device is offered again next time (the
  // person did not say no).
  function fail(kind) {
    say(kind);
    busy = false;
    if (form.querySelector('input[name="flow"]')) post("failed");
  }

  if (!window.PublicKeyCredential || !navigator.credentials) {
    say("unsupported");
    create.disabled = true;
    return;
  }

  form.addEventListener("submit", function (e) {
    if (!e.submitter || e.submitter !== create) return;
    e.preventDefault();
    if (busy) return;
    var name = form.querySelector('input[name="name"]');
    if (name && !name.reportValidity()) return;
    busy = true;
    errorLine.textContent = "";
    var o = JSON.parse(form.getAttribute("data-options"));
    o.challenge = bytes(o.challenge);
    o.user.id = bytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = bytes(c.id); });
    navigator.credentials.create({ publicKey: o }).then(function (cred) {
      var r = cred.response;
      var answer = {
        id: cred.id, rawId: text(cred.rawId), type: cred.type,
        authenticatorAttachment: cred.authenticatorAttachment || undefined,
        clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
        response: {
          clientDataJSON: text(r.clientDataJSON), attestationObject: text(r.attestationObject),
          transports: r.getTransports ? r.getTransports() : []
        }
      };
      form.querySelector('input[name="credential"]').value = JSON.stringify(answer);
      post("create");
    }, function (err) {
      switch (err && err.name) {
        case "NotAllowedError": case "AbortError": fail("cancelled"); break;
        case "InvalidStateError": fail("exists"); break;
        case "SecurityError": fail("security"); break;
        case "NotSupportedError": fail("unsupported"); break;
        default: fail("failed");
      }
    });
  });
})();
