// A stand-in of Geetest v3's gt.js for the browser tests, as strict as the
// real one where our page depends on it: initGeetest(config, callback) needs
// gt and challenge and hands callback a captcha object a moment later;
// verify() exists only with product "bind" and does nothing before the
// captcha said onReady (the real one is not loaded yet then); onSuccess
// fires once the person passed, and getValidate() then gives the three
// answers core's stand-in accepts for that challenge. The test decides when
// Geetest is ready: window.geetestStandin.ready(). What happened is in
// window.geetestStandin (verifiedEarly, verified, config).
(function () {
  "use strict";
  var state = { verifiedEarly: false, verified: 0, config: null, captcha: null, readyAsked: false };
  window.geetestStandin = state;

  function Captcha(config) {
    this.config = config;
    this.isReady = false;
    this.solved = false;
    this.handlers = { ready: [], success: [], error: [], close: [] };
    if (config.product === "bind") {
      this.verify = function () {
        if (!this.isReady) { state.verifiedEarly = true; return this; }
        state.verified++;
        var self = this;
        setTimeout(function () { self.solved = true; self.fire("success"); }, 30);
        return this;
      };
    }
  }
  Captcha.prototype.fire = function (name) {
    var list = this.handlers[name];
    for (var i = 0; i < list.length; i++) { list[i].call(this); }
  };
  Captcha.prototype.onReady = function (fn) { this.handlers.ready.push(fn); return this; };
  Captcha.prototype.onSuccess = function (fn) { this.handlers.success.push(fn); return this; };
  Captcha.prototype.onError = function (fn) { this.handlers.error.push(fn); return this; };
  Captcha.prototype.onClose = function (fn) { this.handlers.close.push(fn); return this; };
  Captcha.prototype.appendTo = function () { return this; };
  Captcha.prototype.getValidate = function () {
    if (!this.solved) { return false; }
    var validate = "standin" + String(this.config.challenge).split("").reverse().join("").slice(0, 25);
    return { geetest_challenge: this.config.challenge, geetest_validate: validate, geetest_seccode: validate + "|jordan" };
  };
  Captcha.prototype.reset = function () { this.solved = false; return this; };

  state.ready = function () {
    state.readyAsked = true;
    if (state.captcha && !state.captcha.isReady) {
      state.captcha.isReady = true;
      state.captcha.fire("ready");
    }
  };

  window.initGeetest = function (config, callback) {
    if (!config || typeof config.gt !== "string" || !config.challenge) {
      throw new Error("gt字段不是字符串类型");
    }
    state.config = config;
    setTimeout(function () {
      var captcha = new Captcha(config);
      state.captcha = captcha;
      callback(captcha);
      if (state.readyAsked) { state.ready(); }
    }, 10);
  };
})();
