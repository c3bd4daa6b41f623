// The evaluations list: Compare is enabled while 2 to 5 evaluations are ticked (the server also
// answers any other count with a message, for hand-made URLs).
(function () {
  "use strict";
  function update(form) {
    var button = form.querySelector("#compare-button");
    var ticked = form.querySelectorAll('input[name="runs"]:checked').length;
    var max = Number(form.dataset.max || 5);
    button.disabled = ticked < 2 || ticked > max;
    var count = form.querySelector("#compare-count");
    if (count) count.textContent = ticked ? "(" + ticked + " ticked)" : "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("compare-form");
    if (!form) return;
    form.addEventListener("change", function () { update(form); });
    update(form);
  });
})();
