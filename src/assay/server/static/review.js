// The review app's item page, by keyboard: 1-9 choose an option of the question in focus,
// Tab / Shift+Tab move between questions, Enter (Ctrl/Cmd+Enter from a text box) submits
// and opens the next item in place, S skips, Left / Right go to the previous / next item,
// E opens the full trace, ? lists the shortcuts. Without this script the page is plain
// forms and links (a post, then a 303 to the next item).
(function () {
  "use strict";

  var overlay = document.getElementById("shortcuts");
  var busy = false;

  function item() { return document.getElementById("review-item"); }
  function form() { return document.querySelector("[data-review-form]"); }
  function questions() {
    var f = form();
    return f ? Array.prototype.slice.call(f.querySelectorAll("[data-question]")) : [];
  }

  function isTyping(el) {
    if (!el) return false;
    if (el.tagName === "TEXTAREA" || el.isContentEditable) return true;
    if (el.tagName !== "INPUT") return false;
    return !/^(radio|checkbox|button|submit|reset)$/.test(el.type);
  }

  // The control that takes focus in a question: its checked option, or its first control.
  function focusTarget(q) {
    return q.querySelector("input:checked") ||
      q.querySelector("input:not([type=hidden]), textarea, select");
  }

  function focusQuestion(q) {
    var target = q && focusTarget(q);
    if (target) target.focus();
  }

  function currentQuestion() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("[data-question]") : null;
  }

  function moveQuestion(step) {
    var all = questions().filter(function (q) { return focusTarget(q); });
    if (!all.length) return false;
    var index = all.indexOf(currentQuestion());
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : index + step;
    if (next < 0 || next >= all.length) {
      // Past the last question: the submit button; before the first: stay.
      if (step > 0) { var submit = form().querySelector("[data-submit]"); if (submit) submit.focus(); }
      return true;
    }
    focusQuestion(all[next]);
    return true;
  }

  function choose(q, number) {
    var options = q.querySelectorAll("input[type=radio], input[type=checkbox]");
    var option = options[number - 1];
    if (!option) return false;
    if (option.type === "radio") option.checked = true; else option.checked = !option.checked;
    option.focus();
    clearError(q);
    return true;
  }

  // -- messages at the fields ----------------------------------------------------------------
  function setError(q, message) {
    var box = q.querySelector("[data-field-error]");
    if (box) { box.textContent = message; box.hidden = false; }
    q.classList.add("has-error");
    q.setAttribute("aria-invalid", "true");
  }

  function clearError(q) {
    var box = q.querySelector("[data-field-error]");
    if (box) { box.textContent = ""; box.hidden = true; }
    q.classList.remove("has-error");
    q.removeAttribute("aria-invalid");
  }

  function setFormError(message) {
    var box = form().querySelector("[data-form-error]");
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
  }

  function showErrors(errors) {
    var first = null;
    questions().forEach(function (q) {
      var message = errors[q.getAttribute("data-field")];
      if (message) { setError(q, message); first = first || q; } else { clearError(q); }
    });
    setFormError(errors.form || "");
    if (first) focusQuestion(first);
  }

  // What the server checks too, said before the round trip.
  function validate() {
    var errors = {};
    var answered = 0;
    var answeredFields = {};
    questions().forEach(function (q) {
      var field = q.getAttribute("data-field");
      var kind = q.getAttribute("data-kind");
      if (kind === "missing") return;
      if (kind === "comment") {
        // A question's comment is saved with its answer: alone, it would be lost.
        var of = q.getAttribute("data-for");
        if (q.querySelector("textarea").value.trim() && !answeredFields[of] && !errors[of]) {
          errors[field] = "Answer question " + (Number(of.slice(1)) + 1) +
            " too, or clear this comment: a comment is saved with its answer";
        }
        return;
      }
      if (checkQuestion(q, field, kind, errors)) { answered++; answeredFields[field] = true; }
    });
    if (!answered && !Object.keys(errors).length) {
      var first = questions().filter(function (q) {
        return !/^(comment|missing)$/.test(q.getAttribute("data-kind"));
      })[0];
      errors[first ? first.getAttribute("data-field") : "form"] =
        "Answer at least one question (or skip this item)";
    }
    return errors;
  }

  // One question's value: true when it is answered; a message in ``errors`` when it is wrong.
  function checkQuestion(q, field, kind, errors) {
    if (kind === "numeric") {
      var input = q.querySelector("input");
      var raw = input.value.trim();
      if (input.validity && input.validity.badInput) { errors[field] = "Enter a number"; return false; }
      if (!raw) return false;
      var value = Number(raw);
      var min = q.getAttribute("data-min"), max = q.getAttribute("data-max");
      if (!isFinite(value)) { errors[field] = "Enter a number"; return false; }
      if ((min !== null && value < Number(min)) || (max !== null && value > Number(max))) {
        errors[field] = raw + " is out of range; enter a number" +
          (min !== null && max !== null ? " from " + min + " to " + max
            : min !== null ? " of at least " + min : " of at most " + max);
        return false;
      }
      return true;
    }
    if (kind === "text") return Boolean(q.querySelector("textarea").value.trim());
    if (kind === "text_list") {
      var lines = q.querySelector("textarea").value.split("\n")
        .map(function (l) { return l.trim(); }).filter(Boolean);
      var count = Number(q.getAttribute("data-max-count"));
      var each = Number(q.getAttribute("data-max-length-each"));
      if (lines.length > count) {
        errors[field] = lines.length + " lines; at most " + count + " are taken";
        return false;
      }
      var long = lines.findIndex(function (l) { return l.length > each; });
      if (long >= 0) {
        errors[field] = "Line " + (long + 1) + " is " + lines[long].length +
          " characters long; the limit is " + each;
        return false;
      }
      return lines.length > 0;
    }
    return Boolean(q.querySelector("input:checked"));
  }

  // -- moving between items without a page load ----------------------------------------------
  function fragmentUrl(url) { return url + (url.indexOf("?") < 0 ? "?" : "&") + "fragment=1"; }

  function load(url, push) {
    var current = item();
    if (current) current.classList.add("is-loading");
    return fetch(fragmentUrl(url), { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { window.location.assign(url); return null; }
        return response.text();
      })
      .then(function (html) { if (html !== null) swap(html, url, push); })
      .catch(function () { window.location.assign(url); });
  }

  // An item's HTML (the fragment) in place of the current one.
  function swap(html, url, push) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.querySelector("#review-item");
    if (!fresh || !item()) { window.location.assign(url); return; }
    item().replaceWith(fresh);
    // The item's own address: a reload does not say again what was done to the last one.
    url = fresh.getAttribute("data-item-url") || url;
    if (push) history.pushState({ review: url }, "", url);
    document.title = fresh.getAttribute("data-title") || document.title;
    window.scrollTo(0, 0);
    opened();
  }

  function post(url) {
    var f = form();
    var body = new URLSearchParams(new FormData(f));
    var token = f.querySelector("input[name=csrf_token]");
    busy = true;
    // ?fragment=1: the answer brings the next item's HTML too (one round trip, not two).
    return fetch(fragmentUrl(url), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": token ? token.value : "" },
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; },
        function () { return { ok: false, data: { message: "The server answered " + response.status } }; });
    }).then(function (answer) {
      if (!answer.ok) {
        showErrors(answer.data.errors || { form: answer.data.message || "That did not work" });
        return;
      }
      if (answer.data.done) { window.location.assign(answer.data.next_url); return; }
      if (answer.data.html) { swap(answer.data.html, answer.data.next_url, true); return; }
      return load(answer.data.next_url, true);
    }).catch(function () {
      setFormError("The server could not be reached; your answers are still here. Try again.");
    }).then(function () { busy = false; });
  }

  function submit() {
    if (busy || !form()) return;
    var errors = validate();
    if (Object.keys(errors).length) { showErrors(errors); return; }
    post(form().getAttribute("action"));
  }

  function skip() {
    var button = form() && form().querySelector("[data-skip]");
    if (busy || !button) return;
    post(button.getAttribute("formaction"));
  }

  function go(which) {
    var url = item() && item().getAttribute("data-" + which + "-url");
    if (url && !busy) load(url, true);
  }

  function openTrace() {
    var url = item() && item().getAttribute("data-trace-url");
    if (url) window.open(url, "_blank", "noopener");
  }

  function toggleShortcuts(show) {
    if (!overlay) return;
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
    if (!overlay.hidden) overlay.querySelector("[data-close-shortcuts]").focus();
    else focusQuestion(questions()[0]);
  }

  // A new item is on the page: the script takes over its form and focuses its first question.
  function opened() {
    var f = form();
    if (!f) return;
    f.noValidate = true;  // the script says what is wrong, at the field
    var help = document.querySelector("[data-show-shortcuts]");
    if (help) help.hidden = false;
    var first = questions().filter(function (q) { return focusTarget(q); })[0];
    focusQuestion(first);
  }

  document.addEventListener("submit", function (event) {
    if (!event.target.matches("[data-review-form]")) return;
    event.preventDefault();
    var button = event.submitter;
    if (button && button.hasAttribute("data-skip")) skip(); else submit();
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : null;
    if (!target) return;
    var nav = target.closest("[data-nav]");
    if (nav && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      go(nav.getAttribute("data-nav"));
      return;
    }
    if (target.closest("[data-show-shortcuts]")) toggleShortcuts(true);
    else if (target.closest("[data-close-shortcuts]") || target === overlay) toggleShortcuts(false);
    var changed = target.closest("[data-question]");
    if (changed && target.matches("input")) clearError(changed);
  });

  document.addEventListener("keydown", function (event) {
    if (!item()) return;
    var el = document.activeElement;
    var key = event.key;
    if (overlay && !overlay.hidden) {
      if (key === "Escape" || key === "?") { event.preventDefault(); toggleShortcuts(false); }
      return;
    }
    if (key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
      return;
    }
    if (key === "Escape") {
      if (isTyping(el)) {
        var holder = el.closest("[data-question]");
        el.blur();
        if (holder) { holder.tabIndex = -1; holder.focus(); }
      }
      return;
    }
    if (key === "Tab" && !event.altKey && !event.ctrlKey && !event.metaKey) {
      if (el && el.closest && el.closest("[data-review-form]") && !el.matches("button")) {
        event.preventDefault();
        moveQuestion(event.shiftKey ? -1 : 1);
      }
      return;
    }
    if (isTyping(el) || event.altKey || event.ctrlKey || event.metaKey) return;
    if (key === "Enter") {
      if (el && el.matches && el.matches("a, button, summary")) return;  // they act themselves
      event.preventDefault();
      submit();
    } else if (/^[1-9]$/.test(key)) {
      var question = currentQuestion() || questions()[0];
      if (question && choose(question, Number(key))) event.preventDefault();
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      skip();
    } else if (key === "ArrowLeft" || key === "ArrowRight") {
      event.preventDefault();
      go(key === "ArrowLeft" ? "previous" : "next");
    } else if (key === "e" || key === "E") {
      event.preventDefault();
      openTrace();
    } else if (key === "?") {
      event.preventDefault();
      toggleShortcuts(true);
    }
  });

  window.addEventListener("popstate", function () {
    if (item()) load(window.location.pathname, false);
  });

  // The first page: remember it, so that Back returns to it after a swap.
  if (item()) history.replaceState({ review: window.location.pathname }, "", window.location.href);
  opened();
})();
