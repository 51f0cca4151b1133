// A stand-in of Telegram's Passport script (telegram-passport.js) for the
// browser tests: window.Telegram.Passport.auth(options, tooltipToggle)
// checks options as the real one does (bot_id, scope with data and v,
// public_key, nonce; no payload) and, instead of opening tg://resolve…,
// records what it would have opened in window.telegramStandin.opened and
// shows its tooltip (tooltipToggle(true)). window.telegramStandin.back()
// plays the person coming back from Telegram: the tooltip closes
// (tooltipToggle(false)), as the real script does on the page's focus.
(function () {
  "use strict";
  var state = { opened: null, toggle: null };
  window.telegramStandin = state;
  state.back = function () {
    if (state.toggle) { state.toggle(false); }
  };
  function auth(options, tooltipToggle) {
    if (!options || !options.bot_id) { throw new Error("bot_id is required"); }
    if (!options.scope || !options.scope.data || !options.scope.v) { throw new Error("scope data and version are required"); }
    if (!options.public_key) { throw new Error("public_key is required"); }
    if (!options.nonce) { throw new Error("nonce is required"); }
    if (options.payload) { throw new Error("payload is deprecated, use nonce instead"); }
    state.opened = "tg://resolve?domain=telegrampassport&bot_id=" + encodeURIComponent(options.bot_id) +
      "&scope=" + encodeURIComponent(JSON.stringify(options.scope)) +
      "&public_key=" + encodeURIComponent(options.public_key) + "&nonce=" + encodeURIComponent(options.nonce);
    state.nonce = options.nonce;
    state.toggle = tooltipToggle || function () {};
    setTimeout(function () { state.toggle(true); }, 10);
  }
  window.Telegram = window.Telegram || {};
  window.Telegram.Passport = { auth: auth, createAuthButton: function () { throw new Error("not used by blink-consent"); } };
})();
