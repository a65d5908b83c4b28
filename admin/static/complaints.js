// SLA countdowns on the complaint pages. Each [data-countdown] element holds the seconds left when
// the server rendered the page, from the server's clock; this script counts them down with the
// browser's monotonic timer (never its wall clock, which may be wrong) and recolours them with the
// server's thresholds, given on this script's tag. The pages are complete without it.
(function () {
  "use strict";
  var script = document.currentScript;
  var AMBER = parseInt(script.getAttribute("data-amber"), 10);
  var RED = parseInt(script.getAttribute("data-red"), 10);
  var TICK_MS = 15000;

  // The same wording as admin/web/complaints.py: 剩 3小时05分 / 超时 1天2小时.
  function duration(seconds) {
    var minutes = Math.floor(seconds / 60);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var rest = minutes % 60;
    if (days) {
      return days + "天" + hours + "小时";
    }
    if (hours) {
      return hours + "小时" + (rest < 10 ? "0" : "") + rest + "分";
    }
    return rest ? rest + "分钟" : "不到1分钟";
  }

  function tone(seconds) {
    if (seconds < RED) {
      return "danger";
    }
    return seconds <= AMBER ? "warn" : "ok";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var clocks = Array.prototype.slice.call(document.querySelectorAll("[data-countdown]"));
    var started = performance.now();
    if (!clocks.length) {
      return;
    }
    function tick() {
      var elapsed = Math.floor((performance.now() - started) / 1000);
      clocks.forEach(function (clock) {
        var left = parseInt(clock.getAttribute("data-countdown"), 10) - elapsed;
        clock.querySelector(".sla-time").textContent = (left > 0 ? "剩 " : "超时 ") + duration(Math.abs(left));
        clock.classList.remove("sla-ok", "sla-warn", "sla-danger");
        clock.classList.add("sla-" + tone(left));
      });
    }
    setInterval(tick, TICK_MS);
  });

  // A form sends once: a second click while the first is on its way does nothing.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("once")) {
      return;
    }
    if (form.getAttribute("data-sent")) {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", "1");
  });
})();
