// idlog's pages work without this script; it only improves them:
// - times are shown in the viewer's own time zone, with the zone named;
// - a picture chosen for upload is previewed before it is sent;
// - a resend button waits out its cooldown with a countdown.
(function () {
  "use strict";

  function localTimes() {
    var format;
    try {
      format = new Intl.DateTimeFormat(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", timeZoneName: "short",
      });
    } catch (e) {
      return;
    }
    document.querySelectorAll("time[datetime]").forEach(function (element) {
      var when = new Date(element.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      element.title = element.textContent;
      element.textContent = format.format(when);
    });
  }

  function picturePreview() {
    document.querySelectorAll("input[type=file][data-preview]").forEach(function (input) {
      input.addEventListener("change", function () {
        var target = document.getElementById(input.getAttribute("data-preview"));
        var file = input.files && input.files[0];
        if (!target || !file) return;
        target.src = URL.createObjectURL(file);
        target.alt = "Preview of the chosen picture";
      });
    });
  }

  function countdowns() {
    document.querySelectorAll("[data-countdown]").forEach(function (element) {
      var left = parseInt(element.getAttribute("data-countdown"), 10);
      if (!(left > 0)) return;
      var timer = setInterval(function () {
        left -= 1;
        element.textContent = String(Math.max(left, 0));
        if (left <= 0) clearInterval(timer);
      }, 1000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    picturePreview();
    countdowns();
  });
})();
