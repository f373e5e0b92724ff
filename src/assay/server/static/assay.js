// Behaviour every page shares: relative times kept fresh, and confirmation of destructive
// forms (data-confirm="…"). Pages work without it.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
