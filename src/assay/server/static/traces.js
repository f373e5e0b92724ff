// The traces table: "/" jumps to the filter box, quick filters and the column picker apply
// as soon as they change, and j/k (or the arrow keys) move through the rows, Enter opens one.
// When the page's own count of matching traces ran out of time, it asks the count route
// and fills the number in. Without this file the same form works with its Apply button,
// every row is a link, and "many" links to the count.
(function () {
  "use strict";

  var countLink = document.querySelector("a[data-count-url]");
  if (countLink && window.fetch) {
    var parts = countLink.getAttribute("data-count-url").split("?");
    var jsonUrl = parts[0] + ".json" + (parts[1] ? "?" + parts[1] : "");
    fetch(jsonUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body || !body.count) return;
        var n = body.count.count, capped = body.count.capped;
        var text = n.toLocaleString("en-US") + (capped ? "+" : "");
        var strong = document.createElement("strong");
        strong.className = "num";
        strong.textContent = text;
        if (capped) strong.title = "More than " + n.toLocaleString("en-US") + " traces match; counting stops there";
        countLink.replaceWith(strong);
        var summary = document.getElementById("match-count");
        if (summary) {
          var one = n === 1 && !capped;
          var filtered = summary.getAttribute("data-filtered") === "true";
          summary.textContent = "";
          summary.appendChild(strong.cloneNode(true));
          summary.appendChild(document.createTextNode(" trace" + (one ? "" : "s") +
            (filtered ? (one ? " matches" : " match") + " these filters" : "")));
          summary.hidden = false;
        }
      })
      .catch(function () { /* the link still counts */ });
  }

  var form = document.querySelector("[data-trace-view]");
  var filter = document.getElementById("filter");

  if (form) {
    // Keep shared links short: the columns go into the URL only when they differ from the
    // defaults, and empty fields not at all.
    form.addEventListener("submit", function () {
      var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name=col]"));
      var defaults = boxes.every(function (box) { return box.checked === box.hasAttribute("data-default"); });
      if (defaults) {
        boxes.forEach(function (box) { box.disabled = true; });
        var marker = form.querySelector("input[name=cols]");
        if (marker) marker.disabled = true;
      }
      Array.prototype.forEach.call(form.querySelectorAll("input[type=text], input[type=search], select"), function (field) {
        if (!field.value || field.value === field.getAttribute("data-default-value")) field.disabled = true;
      });
    });
    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target && target.hasAttribute && target.hasAttribute("data-autosubmit")) {
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      }
    });
  }

  var rows = Array.prototype.slice.call(document.querySelectorAll("#traces-table tbody tr"));
  var current = -1;

  function select(index) {
    if (!rows.length) return;
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (current >= 0 && rows[current]) rows[current].classList.remove("selected");
    current = index;
    rows[current].classList.add("selected");
    rows[current].scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.metaKey || event.ctrlKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape" && event.target === filter) filter.blur();
      return;
    }
    if (event.key === "/" && filter) {
      event.preventDefault();
      filter.focus();
      filter.select();
    } else if (event.key === "j" || event.key === "ArrowDown" && current >= 0) {
      event.preventDefault();
      select(current + 1);
    } else if (event.key === "k" || event.key === "ArrowUp" && current >= 0) {
      event.preventDefault();
      select(current - 1);
    } else if ((event.key === "Enter" || event.key === "o") && current >= 0) {
      window.location.href = rows[current].getAttribute("data-href");
    }
  });
})();
