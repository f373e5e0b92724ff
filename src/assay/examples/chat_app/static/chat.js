/* The chat page: streams each answer from POST /chat/stream and collects the user's
 * feedback on it.
 *
 * The first server-sent event brings the answer's trace id, so the thumbs work while the
 * answer is still being written. When the app knows the Assay server's public address, that
 * event also brings a feedback token, and the thumbs are the server's <assay-feedback>
 * widget, which sends the votes straight to the server; otherwise they go to this app's
 * POST /feedback. Ratings go to POST /detailed-feedback.
 */
(() => {
  "use strict";

  const DIMENSIONS = ["accuracy", "helpfulness", "relevance"];
  const USER_KEY = "assay-chat-example-user";

  const randomHex = (bytes) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0")).join("");

  function userId() {
    let id = null;
    try {
      id = localStorage.getItem(USER_KEY);
      if (!id) {
        id = `user-${randomHex(4)}`;
        localStorage.setItem(USER_KEY, id);
      }
    } catch {
      id = id || `user-${randomHex(4)}`;  // storage blocked: one id for this page
    }
    return id;
  }

  const USER_ID = userId();
  const SESSION_ID = `session-${Date.now()}`;

  /* A reader of server-sent events as the EventSource standard parses them: lines end with
   * CR, LF or CRLF; "field: value" (one space after the colon dropped); data lines are
   * joined with "\n"; a blank line dispatches; lines starting with ":" are comments. */
  function sseParser(onEvent) {
    let buffer = "";
    let type = "";
    let data = [];
    const line = (text) => {
      if (text === "") {
        if (data.length) onEvent(type || "message", data.join("\n"));
        type = "";
        data = [];
        return;
      }
      if (text.startsWith(":")) return;
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
    };
    return (chunk) => {
      buffer += chunk;
      // A chunk may end between the CR and the LF of one line end: keep that CR for later.
      const end = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const parts = buffer.slice(0, end).split(/\r\n|\r|\n/);
      buffer = parts.pop() + buffer.slice(end);
      parts.forEach(line);
    };
  }

  async function postJSON(url, body, extraHeaders = {}) {
    const response = await fetch(url, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-User-ID": USER_ID,
                "X-Session-ID": SESSION_ID, ...extraHeaders},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.message ? data.message : `HTTP ${response.status}`;
      throw new Error(message);
    }
    return data;
  }

  /* One question and its answer on the page, with the answer's feedback controls. */
  class Turn {
    constructor(question) {
      const node = document.getElementById("turn").content.firstElementChild.cloneNode(true);
      this.node = node;
      this.answerBox = node.querySelector(".answer");
      this.answerText = node.querySelector("[data-answer]");
      this.errorText = node.querySelector("[data-error]");
      this.status = node.querySelector("[data-status]");
      this.thumbs = node.querySelector("[data-thumbs]");
      this.commentForm = node.querySelector("[data-comment]");
      this.ratingsForm = node.querySelector("[data-ratings]");
      this.traceId = null;
      this.vote = null;  // the user's current thumb: true, false or null
      this.assessmentId = null;  // its id, so that a change or a comment replaces it
      this.started = false;
      node.querySelector("[data-question]").textContent = question;
      this.buildRatings();
      this.thumbs.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-vote]");
        if (button) this.sendVote(button.dataset.vote === "true", null);
      });
      this.commentForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = this.commentForm.elements.comment.value.trim();
        if (text && this.vote !== null) this.sendVote(this.vote, text);
      });
      this.ratingsForm.addEventListener("change", () => this.updateRatingsButton());
      this.ratingsForm.addEventListener("submit", (event) => {
        event.preventDefault();
        this.sendRatings();
      });
    }

    buildRatings() {
      const group = `r-${randomHex(4)}`;
      for (const scale of this.node.querySelectorAll("[data-scale]")) {
        for (let score = 1; score <= 5; score++) {
          const label = document.createElement("label");
          const input = document.createElement("input");
          input.type = "radio";
          input.name = `${group}-${scale.dataset.scale}`;
          input.value = String(score);
          input.dataset.dimension = scale.dataset.scale;
          label.append(input, ` ${score}`);
          scale.append(label);
        }
      }
    }

    updateRatingsButton() {
      this.ratingsForm.querySelector("button").disabled =
        !this.traceId || DIMENSIONS.some((d) => !this.rating(d));
    }

    rating(dimension) {
      const checked = this.ratingsForm.querySelector(
        `input[data-dimension="${dimension}"]:checked`);
      return checked ? Number(checked.value) : null;
    }

    append(text) {
      if (!this.started) {
        this.answerText.textContent = "";
        this.started = true;
      }
      this.answerText.append(text);
    }

    /* The first event: the trace id is known, so feedback can be given now. */
    onStart(event) {
      this.traceId = event.trace_id;
      if (!this.traceId) return;  // tracing is off in the app: nothing to give feedback on
      this.updateRatingsButton();
      if (event.feedback) {
        this.useWidget(event.feedback);
      } else {
        this.thumbs.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      }
    }

    /* The Assay server's widget takes the thumbs and the comment, with the answer's token. */
    useWidget(feedback) {
      const widget = document.createElement("assay-feedback");
      widget.setAttribute("token", feedback.token);
      widget.setAttribute("server", feedback.server);
      widget.setAttribute("names", feedback.names.join(","));
      widget.setAttribute("comment", "");
      loadWidget(feedback.server).then(() => {
        this.thumbs.replaceWith(widget);
        this.commentForm.remove();
      }, () => {
        this.thumbs.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      });
    }

    finish(errorMessage) {
      this.answerBox.setAttribute("aria-busy", "false");
      if (!this.started) this.answerText.textContent = "";
      if (errorMessage) {
        this.errorText.textContent = errorMessage;
        this.errorText.hidden = false;
      }
    }

    async sendVote(value, comment) {
      if (!this.traceId) return;
      const buttons = this.thumbs.querySelectorAll("button");
      buttons.forEach((b) => { b.disabled = true; });
      this.say("Sending…");
      const params = new URLSearchParams({trace_id: this.traceId});
      const body = {is_correct: value, comment};
      if (this.assessmentId) body.replaces = this.assessmentId;
      try {
        const result = await postJSON(`/feedback?${params}`, body);
        this.vote = value;
        this.assessmentId = result.assessment_id;
        buttons.forEach((b) => {
          b.setAttribute("aria-pressed", String(b.dataset.vote === String(value)));
        });
        this.commentForm.hidden = false;
        if (comment) this.commentForm.elements.comment.value = "";
        this.say(comment ? "Thanks, your comment was recorded." : "Thanks for your feedback!");
      } catch (error) {
        this.say(`Your feedback could not be recorded: ${error.message}`, true);
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    }

    async sendRatings() {
      const button = this.ratingsForm.querySelector("button");
      button.disabled = true;
      const params = new URLSearchParams({trace_id: this.traceId, user_id: USER_ID});
      for (const dimension of DIMENSIONS) params.set(dimension, String(this.rating(dimension)));
      try {
        await postJSON(`/detailed-feedback?${params}`);
        this.ratingsForm.querySelectorAll("input").forEach((i) => { i.disabled = true; });
        this.say("Thanks for rating this answer.");
      } catch (error) {
        button.disabled = false;
        this.say(`Your ratings could not be recorded: ${error.message}`, true);
      }
    }

    say(message, isError = false) {
      this.status.textContent = message;
      this.status.classList.toggle("is-error", isError);
    }
  }

  let widgetLoading = null;

  function loadWidget(server) {
    if (customElements.get("assay-feedback")) return Promise.resolve();
    if (!widgetLoading) {
      widgetLoading = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = `${server.replace(/\/+$/, "")}/static/assay-feedback.js`;
        script.onload = () => customElements.whenDefined("assay-feedback").then(resolve);
        script.onerror = () => {
          widgetLoading = null;
          reject(new Error("the feedback widget could not be loaded"));
        };
        document.head.append(script);
      });
    }
    return widgetLoading;
  }

  async function ask(question, turn) {
    const headers = {"Content-Type": "application/json", "X-User-ID": USER_ID,
                     "X-Session-ID": SESSION_ID, "X-Request-ID": `req-${randomHex(6)}`};
    let failure = null;
    let finished = false;
    try {
      const response = await fetch("/chat/stream", {
        method: "POST", headers, body: JSON.stringify({message: question}),
      });
      if (!response.ok) {
        const data = await response.json().catch(() => null);
        throw new Error(data && data.message ? data.message : `HTTP ${response.status}`);
      }
      const parse = sseParser((type, data) => {
        let event;
        try {
          event = JSON.parse(data);
        } catch {
          return;  // not one of this app's events
        }
        if (type === "start") turn.onStart(event);
        else if (type === "token") turn.append(event.content);
        else if (type === "done") finished = true;
        else if (type === "error") {
          if (!turn.traceId && event.trace_id) turn.onStart(event);
          failure = event.error;
          finished = true;
        }
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        parse(value);
      }
      if (!finished) failure = "The answer was cut off.";
    } catch (error) {
      failure = `The question could not be sent: ${error.message}`;
    }
    turn.finish(failure);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("ask");
    const input = document.getElementById("message");
    const send = document.getElementById("send");
    const conversation = document.getElementById("conversation");
    document.querySelector("[data-user]").textContent = USER_ID;
    document.querySelector("[data-session]").textContent = SESSION_ID;
    let busy = false;

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const question = input.value.trim();
      if (!question || busy) return;
      busy = true;
      send.disabled = true;
      conversation.querySelector("[data-hint]")?.remove();
      const turn = new Turn(question);
      conversation.append(turn.node);
      turn.node.scrollIntoView({block: "end"});
      input.value = "";
      try {
        await ask(question, turn);
      } finally {
        busy = false;
        send.disabled = false;
        turn.node.scrollIntoView({block: "nearest"});
      }
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    input.focus();
  });
})();
