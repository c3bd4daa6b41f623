/* treadle UI behaviour that every page shares: local times, run selection, small toggles. */
(function () {
  "use strict";

  var MIN_COMPARE = 2;
  var MAX_COMPARE = 10;

  // Server renders UTC; show the viewer's local time instead.
  function localTimes(root) {
    root.querySelectorAll("time[data-ms]").forEach(function (el) {
      var ms = Number(el.getAttribute("data-ms"));
      if (!ms) return;
      var d = new Date(ms);
      el.title = d.toISOString();
      el.textContent = d.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
    });
  }

  // The Compare button is enabled for 2-10 ticked runs.
  function updateCompare() {
    var btn = document.getElementById("compare-btn");
    if (!btn) return;
    var n = document.querySelectorAll('input[type="checkbox"][form="compare-form"]:checked').length;
    var hint = document.getElementById("compare-hint");
    btn.disabled = n < MIN_COMPARE || n > MAX_COMPARE;
    if (hint) {
      hint.textContent = n === 0 ? "select 2–10 runs"
        : n > MAX_COMPARE ? n + " selected (at most " + MAX_COMPARE + ")"
        : n + " selected";
    }
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches('input[form="compare-form"]')) updateCompare();
    if (t.id === "only-diff") document.body.classList.toggle("only-diff", t.checked);
  });

  // Highlight the previewed artifact.
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest(".tree a.file");
    if (!link) return;
    document.querySelectorAll(".tree a.file.active").forEach(function (a) { a.classList.remove("active"); });
    link.classList.add("active");
  });

  function init(root) {
    localTimes(root);
    updateCompare();
  }

  // A refusal the server showed in #notice (no role, stale CSRF token) is for the last request only.
  document.addEventListener("htmx:before:request", function () {
    var notice = document.getElementById("notice");
    if (notice) notice.textContent = "";
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  // htmx 4 fires after:settle on the swap target (the swapped-out source element is detached).
  document.addEventListener("htmx:after:settle", function (e) {
    init(e.target instanceof Element ? e.target : document);
  });
})();
