package corestandin

import "net/http"

// geetestScript stands in for Geetest v3's gt.js: initGeetest(config, callback)
// hands callback a captcha object with Geetest's methods. With product "bind"
// (what apps/consent uses) verify() passes by itself a moment later; with any
// other product appendTo(element) shows a button that passes when clicked.
// getValidate() is false until then, and afterwards the three fields
// /phone/code needs, for the challenge the page was given.
const geetestScript = `(function () {
  "use strict";
  function Captcha(config) {
    this.config = config || {};
    this.solved = false;
    this.handlers = { ready: [], success: [], error: [], close: [] };
    this.element = null;
  }
  Captcha.prototype.fire = function (name) {
    var list = this.handlers[name] || [];
    for (var i = 0; i < list.length; i++) { list[i].call(this); }
  };
  Captcha.prototype.onReady = function (fn) { this.handlers.ready.push(fn); return this; };
  Captcha.prototype.onSuccess = function (fn) { this.handlers.success.push(fn); return this; };
  Captcha.prototype.onError = function (fn) { this.handlers.error.push(fn); return this; };
  Captcha.prototype.onClose = function (fn) { this.handlers.close.push(fn); return this; };
  Captcha.prototype.solve = function () {
    if (this.solved) { return; }
    this.solved = true;
    if (this.element) { this.element.setAttribute("data-geetest-standin", "solved"); this.element.disabled = true; }
    this.fire("success");
  };
  Captcha.prototype.verify = function () {
    var self = this;
    setTimeout(function () { self.solve(); }, 50);
    return this;
  };
  Captcha.prototype.appendTo = function (target) {
    var self = this;
    var parent = typeof target === "string" ? document.querySelector(target) : target;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "geetest-standin";
    button.textContent = "I am not a robot (Geetest stand-in)";
    button.addEventListener("click", function () { self.solve(); });
    if (parent) { parent.appendChild(button); }
    this.element = button;
    return this;
  };
  Captcha.prototype.getValidate = function () {
    if (!this.solved) { return false; }
    var challenge = String(this.config.challenge || "");
    var validate = "standin" + challenge.split("").reverse().join("").slice(0, 25);
    return {
      geetest_challenge: challenge,
      geetest_validate: validate,
      geetest_seccode: validate + "|jordan"
    };
  };
  Captcha.prototype.reset = function () {
    this.solved = false;
    if (this.element) { this.element.removeAttribute("data-geetest-standin"); this.element.disabled = false; }
    return this;
  };
  Captcha.prototype.destroy = function () {
    if (this.element && this.element.parentNode) { this.element.parentNode.removeChild(this.element); }
    this.element = null;
  };
  window.initGeetest = function (config, callback) {
    var captcha = new Captcha(config);
    setTimeout(function () {
      callback(captcha);
      setTimeout(function () { captcha.fire("ready"); }, 0);
    }, 0);
  };
})();
`

func serveGeetestScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(geetestScript))
}
