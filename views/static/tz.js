// Tells the server the person's time zone (e.g. "America/El_Salvador"), so a
// limit page can say "at 3:40 PM" in their own time rather than a count of
// minutes. It only fills the forms' hidden "tz" fields; without it the page
// says "in 3 hours" instead.
(function () {
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    return;
  }
  var fields = document.querySelectorAll('input[type="hidden"][name="tz"]');
  for (var i = 0; i < fields.length; i++) {
    fields[i].value = zone;
  }
})();
