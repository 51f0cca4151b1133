// Telegram Passport (Blink core): "Open Telegram" hands core's request to
// Telegram's Passport script, which opens Telegram; when the person comes
// back (the script's tooltip closes, or the page is shown again) the form
// asks the server whether Telegram confirmed. While it has not, the server
// says when to ask again (data-check-in, slower each time, and not at all
// after a few asks: each ask costs a point of core's login limits). Without
// this script the "Check" button asks.
(function () {
  "use strict";
  var form = document.getElementById("telegram");
  var open = document.getElementById("telegram-open");
  if (!form || !open || !window.Telegram || !window.Telegram.Passport) { return; }
  var check = form.querySelector('button[name="action"][value="check"]');
  var asked = false;

  function ask() {
    if (asked) { return; }
    asked = true;
    if (form.requestSubmit) { form.requestSubmit(check); } else { check.click(); }
  }

  open.hidden = false;
  open.addEventListener("click", function () {
    var scope;
    try { scope = JSON.parse(form.getAttribute("data-scope")); } catch (e) { return; }
    window.Telegram.Passport.auth({
      bot_id: form.getAttribute("data-bot-id"),
      scope: scope,
      public_key: form.getAttribute("data-public-key"),
      nonce: form.getAttribute("data-nonce")
    }, function (shown) {
      // Telegram's tooltip closes when the person is back from Telegram.
      if (!shown) { ask(); }
    });
  });

  var wait = parseInt(form.getAttribute("data-check-in"), 10);
  if (wait > 0) { setTimeout(ask, wait * 1000); }
  if (form.getAttribute("data-waiting") === "true") {
    // Back from Telegram after a pending answer: ask once more on return.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") { ask(); }
    });
  }
})();
