// Submits the code form once six digits are typed or pasted. The form works
// without this script; it only saves a tap.
(function () {
  var input = document.getElementById("code");
  if (!input) return;
  var sent = false;
  input.addEventListener("input", function () {
    var digits = input.value.replace(/[^0-9]/g, "");
    if (digits.length === 6 && !sent) {
      sent = true;
      var button = input.form.querySelector('button[name="action"][value="continue"]');
      if (input.form.requestSubmit) {
        input.form.requestSubmit(button);
      } else {
        button.click();
      }
    }
  });
})();

// Counts the cooldown of "Send a new code" (and of "Get the code by WhatsApp
// instead") down and enables each button at zero. Without the script the
// buttons say how long to wait and the server refuses an early resend with
// the same message.
Array.prototype.forEach.call(document.querySelectorAll("button[data-resend-in]"), function (button) {
  var left = parseInt(button.getAttribute("data-resend-in"), 10);
  var wait = button.getAttribute("data-label-wait");
  var ready = button.getAttribute("data-label-ready");
  var tick = setInterval(function () {
    left -= 1;
    if (left <= 0) {
      clearInterval(tick);
      button.disabled = false;
      button.textContent = ready;
      return;
    }
    button.textContent = wait.replace("0", String(left));
  }, 1000);
});
