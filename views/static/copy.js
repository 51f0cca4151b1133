// "Copy setup key": copies the text of the element a button names (the
// authenticator setup key, without its grouping spaces) and says so in the
// status line. The buttons are hidden until this script shows them, so a
// browser without script never sees a button that does nothing; the key
// stays selectable by hand.
(function () {
  var buttons = document.querySelectorAll("button[data-copy]");
  if (!navigator.clipboard) return;
  Array.prototype.forEach.call(buttons, function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById("copy-status");
    if (!target) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = target.textContent.replace(/\s+/g, "");
      navigator.clipboard.writeText(text).then(function () {
        if (status) status.textContent = button.getAttribute("data-copied");
      });
    });
  });
})();
