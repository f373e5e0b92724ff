/* <assay-feedback>: an end user's thumbs up or down (and, if asked, a comment) on one
 * answer, sent to an Assay server with the feedback token the app's backend issued for the
 * answer's trace. No dependencies, no build step:
 *
 *   <script src="https://assay.example.com/static/assay-feedback.js"></script>
 *   <assay-feedback token="v1.…" names="user_feedback" comment></assay-feedback>
 *
 * Attributes (each also a property of the element):
 *   token    the feedback token (assay.create_feedback_token); required
 *   names    the feedback names, comma-separated; the thumbs are recorded under the first
 *            (default "user_feedback")
 *   server   the Assay server's base URL (default: where this script was loaded from)
 *   comment  present: after a vote, a comment box; the comment is sent as the vote's
 *            rationale, replacing the vote (the server keeps the first as history)
 *   prompt   the question shown (default "Was this answer helpful?")
 *
 * Events (bubbling, composed):
 *   assay-feedback-sent   detail {name, value, rationale, assessmentId, traceId, pending,
 *                         overrides}
 *   assay-feedback-error  detail {reason, status, errorCode, message}; reason is one of
 *                         "expired", "invalid" (a malformed or tampered token), "forbidden",
 *                         "rate_limited", "rejected", "network", "server"
 *
 * Style it from outside with the custom properties --assay-feedback-accent and
 * --assay-feedback-error, or the parts "prompt", "button", "comment" and "status".
 */
(() => {
  "use strict";

  const TAG = "assay-feedback";
  if (customElements.get(TAG)) return;  // the script was included twice

  const script = document.currentScript;
  const SCRIPT_ORIGIN = script && script.src
    ? new URL(script.src, location.href).origin : location.origin;
  const DEFAULT_NAME = "user_feedback";
  const DEFAULT_PROMPT = "Was this answer helpful?";

  // Drawn, not an emoji, so that it shows without an emoji font: Material Icons' thumb_up
  // (Apache License 2.0); thumbs down is the same turned over.
  const THUMB = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">' +
    '<path d="M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"/></svg>';

  const TEMPLATE = document.createElement("template");
  TEMPLATE.innerHTML = `
    <style>
      :host { display: inline-block; font: inherit; color: inherit; }
      :host([hidden]) { display: none; }
      .row { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4em; }
      .prompt { opacity: 0.8; }
      button {
        font: inherit; color: inherit; cursor: pointer;
        background: transparent; border: 1px solid currentColor; border-radius: 0.5em;
        padding: 0.15em 0.6em; border-color: rgba(127, 127, 127, 0.45);
      }
      button.thumb { display: inline-flex; align-items: center; padding: 0.3em 0.55em; }
      button.thumb svg { width: 1.15em; height: 1.15em; fill: currentColor; }
      button.thumb.down svg { transform: rotate(180deg); }
      button.thumb[aria-pressed="true"] { color: var(--assay-feedback-accent, #1f5fbf); }
      button:hover:not(:disabled) { border-color: var(--assay-feedback-accent, #1f5fbf); }
      button:disabled { cursor: default; opacity: 0.5; }
      button:focus-visible, textarea:focus-visible {
        outline: 3px solid var(--assay-feedback-accent, #1f5fbf); outline-offset: 2px;
      }
      button[aria-pressed="true"] {
        border-color: var(--assay-feedback-accent, #1f5fbf);
        background: color-mix(in srgb, var(--assay-feedback-accent, #1f5fbf) 14%, transparent);
      }
      form { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 0.5em; margin-top: 0.5em; }
      form[hidden] { display: none; }
      label { display: flex; flex-direction: column; flex: 1 1 16em; opacity: 0.9; }
      textarea {
        font: inherit; color: inherit; background: transparent; resize: vertical;
        border: 1px solid rgba(127, 127, 127, 0.45); border-radius: 0.5em; padding: 0.3em 0.5em;
      }
      .status { margin: 0.3em 0 0; min-height: 1.4em; }
      .status:empty { margin: 0; min-height: 0; }
      .status.error { color: var(--assay-feedback-error, #b42318); }
    </style>
    <div class="row" role="group" aria-labelledby="prompt">
      <span class="prompt" id="prompt" part="prompt"></span>
      <button type="button" class="thumb" part="button" data-value="true"
              aria-pressed="false" aria-label="Thumbs up" title="Thumbs up">${THUMB}</button>
      <button type="button" class="thumb down" part="button" data-value="false"
              aria-pressed="false" aria-label="Thumbs down" title="Thumbs down">${THUMB}</button>
    </div>
    <form part="comment" hidden>
      <label>Tell us more (optional)
        <textarea name="comment" rows="2" maxlength="10000"></textarea>
      </label>
      <button type="submit" part="button">Send comment</button>
    </form>
    <p class="status" part="status" role="status" aria-live="polite"></p>`;

  class AssayFeedback extends HTMLElement {
    static get observedAttributes() {
      return ["token", "names", "server", "comment", "prompt"];
    }

    constructor() {
      super();
      this.attachShadow({mode: "open"}).append(TEMPLATE.content.cloneNode(true));
      const root = this.shadowRoot;
      this._thumbs = Array.from(root.querySelectorAll("button.thumb"));
      this._prompt = root.querySelector(".prompt");
      this._form = root.querySelector("form");
      this._comment = root.querySelector("textarea");
      this._status = root.querySelector(".status");
      this._vote = null;  // the vote the server recorded: true, false or null
      this._busy = false;
      this._dead = false;  // the token can never work (expired, tampered): stop offering
      for (const button of this._thumbs) {
        button.addEventListener("click", () => this._send(button.dataset.value === "true"));
      }
      this._form.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = this._comment.value.trim();
        if (text && this._vote !== null) this._send(this._vote, text);
      });
      this._render();
    }

    attributeChangedCallback(name, oldValue, newValue) {
      if (oldValue === newValue) return;
      if (name === "token") {  // another answer: start afresh
        this._vote = null;
        this._dead = false;
        this._comment.value = "";
        this._say("");
      }
      this._render();
    }

    get token() { return this.getAttribute("token") || ""; }
    set token(value) { this.setAttribute("token", value); }
    get names() { return this.getAttribute("names") || DEFAULT_NAME; }
    set names(value) { this.setAttribute("names", value); }
    get server() {
      return (this.getAttribute("server") || SCRIPT_ORIGIN).replace(/\/+$/, "");
    }
    set server(value) { this.setAttribute("server", value); }
    get comment() { return this.hasAttribute("comment"); }
    set comment(value) { this.toggleAttribute("comment", Boolean(value)); }
    get prompt() { return this.getAttribute("prompt") || DEFAULT_PROMPT; }
    set prompt(value) { this.setAttribute("prompt", value); }

    /* The name the thumbs are recorded under: the first of `names`. */
    get feedbackName() {
      return this.names.split(",").map((n) => n.trim()).find(Boolean) || DEFAULT_NAME;
    }

    _render() {
      this._prompt.textContent = this.prompt;
      for (const button of this._thumbs) {
        button.disabled = this._busy || this._dead || !this.token;
        button.setAttribute("aria-pressed",
          String(this._vote !== null && button.dataset.value === String(this._vote)));
      }
      this._form.hidden = !this.comment || this._vote === null || this._dead;
      for (const control of this._form.elements) control.disabled = this._busy;
    }

    _say(message, isError = false) {
      this._status.textContent = message;
      this._status.classList.toggle("error", isError);
    }

    async _send(value, rationale = null) {
      if (this._busy || this._dead) return;
      const name = this.feedbackName;
      const body = {token: this.token, name, value};
      if (rationale) body.rationale = rationale;
      this._busy = true;
      this._render();
      this._say("Sending…");
      let response = null;
      let data = null;
      try {
        response = await fetch(`${this.server}/api/v1/feedback`, {
          method: "POST",
          mode: "cors",
          credentials: "omit",
          headers: {"Content-Type": "application/json"},
          body: JSON.stringify(body),
        });
        data = await response.json().catch(() => null);
      } catch {
        response = null;
      }
      this._busy = false;
      if (response && response.ok && data) {
        this._vote = value;
        if (rationale) this._comment.value = "";
        this._render();
        this._say(rationale ? "Thanks, your comment was recorded." : "Thanks for your feedback!");
        this._emit("assay-feedback-sent", {
          name, value, rationale, assessmentId: data.assessment_id, traceId: data.trace_id,
          pending: Boolean(data.pending), overrides: data.overrides || null,
        });
        return;
      }
      const failure = this._failure(response, data);
      this._dead = failure.reason === "expired" || failure.reason === "invalid";
      this._render();
      this._say(failure.text, true);
      this._emit("assay-feedback-error", {
        reason: failure.reason, status: response ? response.status : 0,
        errorCode: data && data.error_code ? data.error_code : null,
        message: data && data.message ? data.message : failure.text,
      });
    }

    _failure(response, data) {
      if (!response) {
        return {reason: "network", text: "The feedback server could not be reached."};
      }
      const message = data && typeof data.message === "string" ? data.message : "";
      switch (response.status) {
        case 401:
          return /expired/i.test(message)
            ? {reason: "expired", text: "This feedback link has expired."}
            : {reason: "invalid", text: "This feedback link is not valid."};
        case 403:
          return {reason: "forbidden", text: "Feedback from this page is not allowed."};
        case 429: {
          const wait = response.headers.get("Retry-After");
          return {reason: "rate_limited",
                  text: `Too many votes; try again${wait ? ` in ${wait} s` : " later"}.`};
        }
        default:
          if (response.status >= 400 && response.status < 500) {
            return {reason: "rejected", text: message || "The feedback was refused."};
          }
          return {reason: "server", text: "The feedback could not be recorded; try again."};
      }
    }

    _emit(type, detail) {
      this.dispatchEvent(new CustomEvent(type, {detail, bubbles: true, composed: true}));
    }
  }

  customElements.define(TAG, AssayFeedback);
})();
