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
