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

  Array.prototype.forEach.call(document.querySelectorAll("[data-select-on-focus]"), function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();
