// Shows each <time data-local> in the browser's own time zone (El Salvador's
// is UTC-6), in the page's language: the server knows no one's time zone, so
// it writes UTC, which stays when script is off.
(function () {
  var lang = document.documentElement.lang || "en";
  var format;
  try {
    format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    return;
  }
  var times = document.querySelectorAll("time[data-local][datetime]");
  Array.prototype.forEach.call(times, function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d.getTime())) t.textContent = format.format(d);
  });
})();
