// The dashboard's controls apply as soon as a choice changes (the Apply button does the
// same without JavaScript). Hooked to forms marked data-apply-on-change.
(function () {
  "use strict";

  document.querySelectorAll("form[data-apply-on-change]").forEach(function (form) {
    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target instanceof HTMLSelectElement) form.requestSubmit();
    });
  });
})();
