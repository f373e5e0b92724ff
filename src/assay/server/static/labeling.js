/* Labeling pages for owners: the schema form shows only the chosen input kind's settings,
   and the review link is selected when focused. The pages work without this script. */
(function () {
  "use strict";

  function showKind(form) {
    var select = form.querySelector("[data-kind-select]");
    if (!select) return;
    var kind = select.value;
    Array.prototype.forEach.call(form.querySelectorAll("[data-kinds]"), function (part) {
      part.hidden = part.getAttribute("data-kinds").split(" ").indexOf(kind) < 0;
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-schema-form]"), function (form) {
    var select = form.querySelector("[data-kind-select]");
    if (!select) return;
    select.addEventListener("change", function () { showKind(form); });
    showKind(form);
  });

  // The traces table: tick every row at once, and say how many are ticked.
  var all = document.querySelector("[data-select-all]");
  var rows = document.querySelectorAll("[data-select-row]");
  var count = document.querySelector("[data-selected-count]");
  function ticked() {
    var n = 0;
    Array.prototype.forEach.call(rows, function (box) { if (box.checked) n += 1; });
    if (count) count.textContent = n ? n + " ticked" : "Tick rows in the first column to choose them.";
    if (all) all.checked = n > 0 && n === rows.length;
  }
  if (all && rows.length) {
    all.hidden = false;
    all.addEventListener("change", function () {
      Array.prototype.forEach.call(rows, function (box) { box.checked = all.checked; });
      ticked();
    });
  }
  Array.prototype.forEach.call(rows, function (box) {
    box.addEventListener("change", ticked);
    box.addEventListener("click", function (event) { event.stopPropagation(); });
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-select-on-focus]"), function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();
