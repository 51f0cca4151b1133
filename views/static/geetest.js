// Blink core's bot check before a code goes to a phone: Geetest v3, as
// apps/consent runs it (product "bind"). The page carries the challenge core
// gave for this form; on "Continue" (or "Send a new code") the check runs,
// its three answers go into the form's hidden fields and the form is sent
// again. Without this script the form is sent without them, and the server
// asks for the check.
(function () {
  "use strict";
  var box = document.getElementById("geetest");
  if (!box || typeof window.initGeetest !== "function") { return; }
  var form = box.closest("form");
  var fields = ["geetest_challenge", "geetest_validate", "geetest_seccode"];
  window.initGeetest({
    gt: box.getAttribute("data-gt"),
    challenge: box.getAttribute("data-challenge"),
    offline: box.getAttribute("data-offline") === "true",
    new_captcha: box.getAttribute("data-new-captcha") === "true",
    product: "bind",
    lang: document.documentElement.lang || "en"
  }, function (captcha) {
    var submitter = null;
    captcha.onSuccess(function () {
      var answer = captcha.getValidate();
      if (!answer) { return; }
      fields.forEach(function (name) { form.elements[name].value = answer[name]; });
      if (submitter) { form.requestSubmit(submitter); } else { form.requestSubmit(); }
    });
    form.addEventListener("submit", function (event) {
      var action = event.submitter ? event.submitter.value : "continue";
      if (form.elements.geetest_validate.value || (action !== "continue" && action !== "resend")) { return; }
      event.preventDefault();
      submitter = event.submitter;
      captcha.verify();
    });
  });
})();
