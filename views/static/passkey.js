// Sign in with a passkey (WebAuthn) from the identifier page: the
// "Sign in with a passkey" button and the browser's passkey autofill on the
// email or phone field (conditional mediation). It asks the server for a
// ceremony bound to this sign-in, runs the browser's dialog, and posts the
// answer in #passkey-form; the server checks everything. Every error becomes
// the page's own message (in its language, from the form's data-msg-*), with
// the code sign-in a tap away. Without WebAuthn the button stays hidden.
(function () {
  var form = document.getElementById("passkey-form");
  if (!form || !window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;
  }
  var offer = document.getElementById("passkey-offer");
  var button = document.getElementById("passkey-button");
  var error = document.getElementById("passkey-error");
  var useCode = document.getElementById("passkey-code");
  var pending = null; // the autofill's request, aborted by the button

  function show(kind) {
    error.textContent = form.getAttribute("data-msg-" + kind) || form.getAttribute("data-msg-failed");
    useCode.hidden = false;
  }

  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    if (!buf) {
      return undefined;
    }
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The request options from their JSON form (older browsers have no
  // PublicKeyCredential.parseRequestOptionsFromJSON).
  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    var o = Object.assign({}, json, { challenge: fromB64url(json.challenge) });
    if (json.allowCredentials) {
      o.allowCredentials = json.allowCredentials.map(function (c) {
        return Object.assign({}, c, { id: fromB64url(c.id) });
      });
    }
    return o;
  }

  // The answer in its JSON form (PublicKeyCredential.toJSON where it exists).
  function answer(cred) {
    if (typeof cred.toJSON === "function") {
      return cred.toJSON();
    }
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        clientDataJSON: toB64url(cred.response.clientDataJSON),
        authenticatorData: toB64url(cred.response.authenticatorData),
        signature: toB64url(cred.response.signature),
        userHandle: toB64url(cred.response.userHandle),
      },
    };
  }

  // signIn runs one ceremony; quietly: the autofill's, which shows nothing
  // unless the person picked a passkey.
  function signIn(quietly) {
    var controller = window.AbortController ? new AbortController() : null;
    if (quietly) {
      pending = controller;
    }
    return fetch(form.getAttribute("data-options"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        if (!res.ok) {
          throw { name: res.status === 409 || res.status === 410 ? "Expired" : "Failed" };
        }
        return res.json();
      })
      .then(function (begun) {
        var request = { publicKey: requestOptions(begun.publicKey) };
        if (quietly) {
          request.mediation = "conditional";
        }
        if (controller) {
          request.signal = controller.signal;
        }
        return navigator.credentials.get(request).then(function (cred) {
          if (!cred) {
            throw { name: "NotAllowedError" };
          }
          var remember = document.querySelector('input[type="checkbox"][name="remember"]');
          form.elements.ceremony.value = begun.ceremony;
          form.elements.credential.value = JSON.stringify(answer(cred));
          form.elements.remember.value = remember && remember.checked ? "true" : "";
          form.submit();
        });
      })
      .catch(function (e) {
        var name = e && e.name;
        if (name === "AbortError" || quietly) {
          return;
        }
        if (name === "NotAllowedError") {
          show("cancelled");
        } else if (name === "SecurityError") {
          show("security");
        } else if (name === "NotSupportedError") {
          show("unsupported");
        } else if (name === "Expired") {
          show("expired");
        } else {
          show("failed");
        }
      });
  }

  offer.hidden = false;
  button.addEventListener("click", function () {
    if (pending) {
      pending.abort();
      pending = null;
    }
    error.textContent = "";
    signIn(false);
  });

  if (PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (available) {
        signIn(true);
      }
    }, function () {});
  }
})();
