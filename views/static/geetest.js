// Blink core's bot check before a code goes to a phone: Geetest v3's "bind"
// flow, as Geetest documents it and apps/consent runs it. initGeetest runs
// when the page loads (with the challenge core gave for this form, product
// "bind"); verify() is called only once Geetest said onReady, and only after
// the person pressed "Continue" (or "Send a new code"); onSuccess puts its
// three answers into the form's hidden fields and sends the form. Without
// Geetest's script the form is sent without them, and the server asks for
// the check. A Telegram sign-in needs no check (core asks none).
(function () {
  "use strict";
  var box = document.getElementById("geetest");
  if (!box || typeof window.initGeetest !== "function") { return; }
  var form = box.closest("form");
  var fields = ["geetest_challenge", "geetest_validate", "geetest_seccode"];
  var captcha = null;
  var ready = false;
  var waiting = false;
  var submitter = null;

  function channel() {
    var c = form.querySelector("input[name=channel]:checked") || form.querySelector("input[type=hidden][name=channel]");
    return c ? c.value : "";
  }

  function needsCheck(button) {
    var action = button ? button.value : "continue";
    return (action === "continue" || action === "resend") && channel() !== "telegram" && !form.elements.geetest_validate.value;
  }

  form.addEventListener("submit", function (event) {
    if (!needsCheck(event.submitter)) { return; }
    event.preventDefault();
    submitter = event.submitter || null;
    waiting = true;
    if (captcha && ready) { captcha.verify(); }
  });

  window.initGeetest({
    gt: box.getAttribute("data-gt"),
    challenge: box.getAttribute("data-challenge"),
    offline: box.getAttribute("data-offline") === "true",
    new_captcha: box.getAttribute("data-new-captcha") === "true",
    product: "bind",
    lang: document.documentElement.lang || "en"
  }, function (c) {
    captcha = c;
    c.onReady(function () {
      ready = true;
      if (waiting) { c.verify(); }
    });
    c.onSuccess(function () {
      var answer = c.getValidate();
      if (!answer) { return; }
      fields.forEach(function (name) { form.elements[name].value = answer[name]; });
      waiting = false;
      if (submitter) { form.requestSubmit(submitter); } else { form.requestSubmit(); }
    });
    c.onClose(function () { waiting = false; });
    c.onError(function () {
      // Geetest could not load or answer: send the form as it is; the
      // server asks for the check again with a new challenge.
      waiting = false;
      ready = false;
      if (submitter) { form.requestSubmit(submitter); }
    });
  });
})();
