// The trace page: select spans without reloading (their details load on demand), fold and
// unfold the span tree, and send the assessment forms in the background so the page keeps
// its place. Without this file every link and form works as a plain page load.
(function () {
  "use strict";

  var tree = document.getElementById("span-tree");
  var panel = document.getElementById("span-panel-body");
  var csrfField = document.querySelector("input[name=csrf_token]");
  var csrf = csrfField ? csrfField.value : "";

  // -- the span tree -------------------------------------------------------------------
  function rows() { return tree ? Array.prototype.slice.call(tree.querySelectorAll(".span-row")) : []; }

  function setFolded(row, folded) {
    var depth = Number(row.getAttribute("data-depth"));
    var button = row.querySelector("[data-fold-toggle]");
    if (button) {
      button.setAttribute("aria-expanded", folded ? "false" : "true");
      button.textContent = folded ? "▸" : "▾";
    }
    var count = row.querySelector(".fold-count");
    if (count) count.hidden = !folded;
    // Hide every descendant; when unfolding, show them unless an inner fold hides them.
    var hiddenBelow = folded ? depth : Infinity;
    var next = row.nextElementSibling;
    var innerFold = Infinity;
    while (next && Number(next.getAttribute("data-depth")) > depth) {
      var d = Number(next.getAttribute("data-depth"));
      if (folded) {
        next.hidden = true;
      } else {
        if (d <= innerFold) innerFold = Infinity;
        next.hidden = d > innerFold;
        var inner = next.querySelector("[data-fold-toggle]");
        if (inner && inner.getAttribute("aria-expanded") === "false" && innerFold === Infinity) innerFold = d;
      }
      next = next.nextElementSibling;
    }
    void hiddenBelow;
  }

  function reveal(spanId) {
    // Unfold the ancestors of a span so it can be seen.
    var row = tree && tree.querySelector('[data-span="' + spanId + '"]');
    var parentId = row && row.getAttribute("data-parent");
    while (parentId) {
      var parent = tree.querySelector('[data-span="' + parentId + '"]');
      if (!parent) break;
      var button = parent.querySelector("[data-fold-toggle]");
      if (button && button.getAttribute("aria-expanded") === "false") setFolded(parent, false);
      parentId = parent.getAttribute("data-parent");
    }
  }

  if (tree) {
    rows().forEach(function (row) {
      var button = row.querySelector("[data-fold-toggle]");
      if (button) button.hidden = false;
    });
    var foldDepth = tree.getAttribute("data-fold");
    if (foldDepth !== null) {
      rows().forEach(function (row) {
        if (Number(row.getAttribute("data-depth")) === Number(foldDepth) - 1 && row.querySelector("[data-fold-toggle]")) {
          setFolded(row, true);
        }
      });
      var selectedRow = tree.querySelector(".span-row.selected");
      if (selectedRow) reveal(selectedRow.getAttribute("data-span"));
    }
    tree.addEventListener("click", function (event) {
      var button = event.target.closest("[data-fold-toggle]");
      if (button) {
        var row = button.closest(".span-row");
        setFolded(row, button.getAttribute("aria-expanded") === "true");
      }
    });
  }

  // -- selecting a span ----------------------------------------------------------------
  function selectSpan(spanId, push) {
    if (!tree || !panel) return false;
    var url = tree.getAttribute("data-trace-url") + "/spans/" + encodeURIComponent(spanId) +
      "?fragment=1&start=" + encodeURIComponent(tree.getAttribute("data-trace-start") || "");
    panel.setAttribute("aria-busy", "true");
    fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        panel.innerHTML = html;
        panel.removeAttribute("aria-busy");
        rows().forEach(function (row) {
          row.classList.toggle("selected", row.getAttribute("data-span") === spanId);
        });
        reveal(spanId);
        var chosen = tree.querySelector('[data-span="' + spanId + '"]');
        if (chosen) chosen.scrollIntoView({ block: "nearest" });
        updateSpanFields(spanId);
        if (push) {
          var address = new URL(window.location.href);
          address.searchParams.set("span", spanId);
          address.searchParams.delete("flash");
          address.searchParams.delete("flash_kind");
          address.hash = "";
          history.replaceState(null, "", address.toString());
        }
      })
      .catch(function () {
        // Fall back to loading the page with the span selected.
        window.location.href = "?span=" + encodeURIComponent(spanId) + "#span-panel";
      });
    return true;
  }

  function updateSpanFields(spanId) {
    var name = "";
    var title = panel.querySelector(".span-title");
    if (title) name = title.textContent;
    document.querySelectorAll("[data-selected-span-field]").forEach(function (input) { input.value = spanId; });
    var select = document.querySelector("[data-target-select]");
    if (select) {
      var option = select.querySelector("[data-selected-span-option]");
      if (!option) {
        option = document.createElement("option");
        option.setAttribute("data-selected-span-option", "");
        select.appendChild(option);
      }
      option.value = spanId;
      option.textContent = "The selected span: " + name;
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-select-span]");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    if (selectSpan(link.getAttribute("data-select-span"), true)) event.preventDefault();
  });

  // Arrow keys move through the visible spans of the tree.
  if (tree) {
    tree.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
      var links = Array.prototype.slice.call(tree.querySelectorAll(".span-row:not([hidden]) [data-select-span]"));
      var index = links.indexOf(document.activeElement);
      if (index < 0) return;
      event.preventDefault();
      var next = links[index + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) next.focus();
    });
  }

  // -- value inputs: a thumbs toggle for booleans ----------------------------------------
  function enhanceValue(form) {
    var select = form.querySelector("[data-type-select]");
    var input = form.querySelector("[data-value-input]");
    if (!select || !input || input.getAttribute("data-enhanced")) return;
    input.setAttribute("data-enhanced", "1");
    var toggle = document.createElement("div");
    toggle.className = "bool-toggle";
    toggle.setAttribute("role", "group");
    toggle.setAttribute("aria-label", "Value");
    var icon = '<svg class="thumb" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false"><path fill="currentColor" d="M1.5 7h2.6v7.5H1.5zM5.3 14.5V7.2l3.1-5.4c1 0 1.7.7 1.7 1.7v2.7h3.4c1 0 1.7.9 1.5 1.9l-1.3 5.1c-.2.8-.9 1.3-1.7 1.3z"/></svg>';
    [["true", "True"], ["false", "False"]].forEach(function (choice) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-small";
      button.setAttribute("data-bool", choice[0]);
      button.setAttribute("aria-pressed", "false");
      button.innerHTML = icon + " " + choice[1];
      if (choice[0] === "false") button.querySelector("svg").classList.add("thumb-down");
      button.addEventListener("click", function () {
        input.value = choice[0];
        sync();
      });
      toggle.appendChild(button);
    });
    input.parentNode.appendChild(toggle);
    function sync() {
      var isBool = select.value === "boolean";
      toggle.hidden = !isBool;
      input.classList.toggle("sr-only", isBool);
      input.tabIndex = isBool ? -1 : 0;
      toggle.querySelectorAll("button").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b.getAttribute("data-bool") === input.value.trim().toLowerCase()));
      });
    }
    select.addEventListener("change", sync);
    input.addEventListener("input", sync);
    sync();
  }

  // -- assessment forms in the background ----------------------------------------------
  function enhanceForms(root) {
    root.querySelectorAll("form[data-enhance]").forEach(function (form) {
      enhanceValue(form);
      var source = form.querySelector("[data-source-id]");
      if (source && !source.value && window.localStorage) source.value = localStorage.getItem("assay.sourceId") || "";
    });
  }

  function showError(form, message) {
    var box = form.querySelector("[data-form-error]");
    if (!box) {
      box = document.createElement("div");
      box.className = "form-error";
      box.setAttribute("role", "alert");
      box.setAttribute("data-form-error", "");
      form.insertBefore(box, form.firstChild);
    }
    box.textContent = message;
    box.hidden = false;
  }

  // What a save in place did, where the eye is: a toast at the bottom of the window (the
  // page's top, where a form post's message goes, may be far out of view).
  var toastTimer = null;
  function flash(message) {
    var stale = document.querySelector(".flash:not(.toast)");
    if (stale) stale.remove();
    var box = document.getElementById("toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "toast";
      box.className = "flash toast";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  // The card of an assessment just saved: brought into view inside the panel, and lit up.
  function showCard(assessment) {
    if (!assessment || !assessment.assessment_id) return;
    var card = document.getElementById("assessment-" + assessment.assessment_id);
    if (!card) return;
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
    card.classList.add("just-saved");
    setTimeout(function () { card.classList.remove("just-saved"); }, 2500);
  }

  // "Add" in the panel's head goes to the form and puts the cursor in its name.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest('a[href="#add-assessment"]');
    if (!link) return;
    var name = document.getElementById("add-name");
    if (!name) return;
    event.preventDefault();
    document.getElementById("add-assessment").scrollIntoView({ block: "nearest", behavior: "smooth" });
    name.focus({ preventScroll: true });
  });

  function refreshAssessments() {
    return fetch(window.location.pathname + window.location.search, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("assessments-body");
        var current = document.getElementById("assessments-body");
        if (fresh && current) {
          current.replaceWith(fresh);
          enhanceForms(fresh);
        }
        var names = doc.getElementById("assessment-names");
        var oldNames = document.getElementById("assessment-names");
        if (names && oldNames) oldNames.replaceWith(names);
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance") || !window.fetch) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    var source = form.querySelector("[data-source-id]");
    if (source && source.value && window.localStorage) localStorage.setItem("assay.sourceId", source.value);
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf,
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)).toString()
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (button) button.disabled = false;
      if (!result.ok) {
        showError(form, (result.body && result.body.message) || "The change was not saved");
        return;
      }
      var box = form.querySelector("[data-form-error]");
      if (box) box.hidden = true;
      if (form.hasAttribute("data-reset-on-success")) {
        ["name", "value", "rationale"].forEach(function (name) {
          var field = form.querySelector("[name=" + name + "]");
          if (field) field.value = "";
        });
        var input = form.querySelector("[data-value-input]");
        if (input) input.dispatchEvent(new Event("input"));
      }
      flash(result.body.message || "Saved");
      return refreshAssessments().then(function () { showCard(result.body.assessment); });
    }).catch(function () {
      if (button) button.disabled = false;
      showError(form, "The server did not answer; try again");
    });
  });

  enhanceForms(document);
})();
