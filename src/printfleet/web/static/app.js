/* printfleet web UI: the little the server cannot do. No untrusted text is ever put into markup here:
   everything shown comes as server-rendered, escaped HTML; this script only reads attributes and sets textContent. */
(function () {
  "use strict";

  var lang = document.documentElement.lang || undefined;
  var formats = {
    datetime: new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }),
    time: new Intl.DateTimeFormat(lang, { timeStyle: "medium" }),
    clock: new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" }),
    dayclock: new Intl.DateTimeFormat(lang, { weekday: "short", hour: "numeric", minute: "2-digit" }),
  };

  /* A clock time in the viewer's language ("14:35", "2:35 PM"), with the weekday when it is not today
     ("Sa., 02:15", "Sat 2:15 AM"). */
  function clockFormat(moment) {
    return moment.toDateString() === new Date().toDateString() ? formats.clock : formats.dayclock;
  }

  /* <time datetime="…UTC…" data-style="datetime|time"> shows the viewer's local time. */
  function localTimes(root) {
    var nodes = (root || document).querySelectorAll("time[datetime]:not([data-local])");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) continue;
      var style = node.getAttribute("data-style");
      var format = style === "clock" ? clockFormat(moment) : formats[style] || formats.datetime;
      node.textContent = format.format(moment);
      node.setAttribute("title", moment.toISOString());
      node.setAttribute("data-local", "");
    }
  }

  /* Toasts leave by themselves (errors stay longer) or on their × button. A dispatch's toast replaces the one
     before it (data-dispatch) and stays while the dispatch is under way (data-sticky). */
  function armToasts(root) {
    var toasts = (root || document).querySelectorAll(".toast:not([data-armed])");
    for (var i = 0; i < toasts.length; i++) {
      var toast = toasts[i];
      toast.setAttribute("data-armed", "");
      var dispatch = toast.getAttribute("data-dispatch");
      if (dispatch && /^[0-9]+$/.test(dispatch)) {
        var older = document.querySelectorAll('.toast[data-dispatch="' + dispatch + '"]');
        for (var j = 0; j < older.length; j++) if (older[j] !== toast) older[j].remove();
      }
      if (toast.hasAttribute("data-sticky")) continue;
      var wait = toast.classList.contains("toast-error") ? 15000 : 8000;
      setTimeout(toast.remove.bind(toast), wait);
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".toast-close");
    if (button) button.parentElement.remove();
  });

  /* The jobs filter's dates are the viewer's days: send the browser's time zone with them. */
  function timeZone(root) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    var inputs = (root || document).querySelectorAll("input[data-timezone]");
    for (var i = 0; i < inputs.length; i++) inputs[i].value = zone;
  }

  /* The Schedule strip: blocks and deadline marks carry their place in % (the CSP allows no style attribute). */
  function timelineBlocks(root) {
    var marks = (root || document).querySelectorAll(".lane-track [data-left]");
    for (var i = 0; i < marks.length; i++) {
      marks[i].style.left = marks[i].getAttribute("data-left") + "%";
      var width = marks[i].getAttribute("data-width");
      if (width) marks[i].style.width = width + "%";
    }
  }

  /* Printer forms show the fields of the chosen kind only (all fields stay in the page without script). */
  function kindFields(root) {
    var forms = (root || document).querySelectorAll("form[data-kind]");
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i];
      var select = form.querySelector("[data-kind-select]");
      var kind = select ? select.value : form.getAttribute("data-kind");
      var fields = form.querySelectorAll("[data-for]");
      for (var j = 0; j < fields.length; j++) {
        fields[j].hidden = fields[j].getAttribute("data-for").split(" ").indexOf(kind) < 0;
      }
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-kind-select]")) kindFields(event.target.form.parentNode);
  });

  /* <span data-countdown="…UTC…"> counts down to that moment every second: "9:41", "1:02:05", then "0:00". */
  function pad(value) { return value < 10 ? "0" + value : String(value); }
  function countdowns() {
    var nodes = document.querySelectorAll("[data-countdown]");
    var now = Date.now();
    for (var i = 0; i < nodes.length; i++) {
      var end = new Date(nodes[i].getAttribute("data-countdown")).getTime();
      if (isNaN(end)) continue;
      var left = Math.max(0, Math.round((end - now) / 1000));
      var hours = Math.floor(left / 3600);
      var minutes = Math.floor((left % 3600) / 60);
      var text = (hours ? hours + ":" + pad(minutes) : String(minutes)) + ":" + pad(left % 60);
      if (nodes[i].textContent !== text) nodes[i].textContent = text;
      nodes[i].classList.toggle("over", left === 0);
    }
  }
  setInterval(countdowns, 1000);

  /* A toast like the server's (armed like them). A dispatch's toast carries its id: each newer one replaces it. */
  function showToast(text, level, dispatchId) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var node = document.createElement("div");
    node.className = "toast toast-" + level;
    if (dispatchId) node.setAttribute("data-dispatch", String(dispatchId));
    var span = document.createElement("span");
    span.className = "toast-text";
    span.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", box.getAttribute("data-dismiss") || "×");
    close.textContent = "×";
    node.appendChild(span);
    node.appendChild(close);
    box.appendChild(node);
  }

  /* A JSON request to the API with the session cookie (a same-site request passes its cross-site check):
     resolves to {status, body} with the body as text. */
  function sendJson(method, url, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: method, credentials: "same-origin", headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.text().then(function (text) { return { status: response.status, body: text }; });
    });
  }

  /* The sentence of an API error body ({"detail": "…"} or a list of problems), else ``fallback``. */
  function problem(body, fallback) {
    try {
      var parsed = JSON.parse(body);
      if (typeof parsed.detail === "string") return parsed.detail;
      if (Array.isArray(parsed.detail)) return parsed.detail.map(function (p) { return p.msg; }).join("; ");
    } catch (ignored) { /* not JSON */ }
    return fallback;
  }

  window.printfleet = { toast: showToast, sendJson: sendJson, problem: problem };

  /* "Plate needs clearing — Mark cleared (good / bad)" on a printer card: POST /api/v1/printers/{id}/plate-cleared;
     the card itself follows the printer's next status. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-plate-cleared]");
    if (!button) return;
    button.disabled = true;
    var url = "/api/v1/printers/" + encodeURIComponent(button.getAttribute("data-printer-id")) + "/plate-cleared";
    sendJson("POST", url, { outcome: button.getAttribute("data-plate-cleared") }).then(function (answer) {
      if (answer.status >= 200 && answer.status < 300) {
        showToast(button.getAttribute("data-done"), "success");
        return;
      }
      showToast(problem(answer.body, String(answer.status)), "error");
      button.disabled = false;
    }).catch(function () { button.disabled = false; });
  });

  function live(state) {
    var indicator = document.getElementById("live-indicator");
    if (indicator) indicator.setAttribute("data-live", state);
  }

  /* Honest live state. When the live connection drops (and has not come back within a moment: a filter change
     replaces it on purpose), a banner says since when the page shows old values, the values are dimmed and the
     buttons that would act are disabled; all is undone when the connection is back. */
  var lastLive = new Date();
  /* Reconnect soon after the server is back: jittered, doubling from 1 s, at most 15 s apart (a wall screen should
     not wait a minute). */
  if (window.htmx) {
    window.htmx.config.wsReconnectDelay = function (retryCount) {
      return Math.min(1000 * Math.pow(2, Math.min(retryCount, 4)), 15000) * (0.5 + Math.random() / 2);
    };
  }
  var lostTimer = null;
  var ACTING = "button[hx-post], form[hx-post] button, button[data-plate-cleared]";

  function connectionLost() {
    var banner = document.getElementById("live-lost");
    if (!banner) return;
    var since = banner.querySelector("[data-live-since]");
    if (since) {
      since.setAttribute("datetime", lastLive.toISOString());
      since.textContent = formats.clock.format(lastLive);
    }
    banner.hidden = false;
    document.body.classList.add("live-lost");
    var buttons = document.querySelectorAll(ACTING);
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].disabled) continue;
      buttons[i].disabled = true;
      buttons[i].setAttribute("data-live-disabled", "");
    }
  }

  function connectionBack() {
    var banner = document.getElementById("live-lost");
    if (banner) banner.hidden = true;
    document.body.classList.remove("live-lost");
    var buttons = document.querySelectorAll("[data-live-disabled]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = false;
      buttons[i].removeAttribute("data-live-disabled");
    }
  }

  document.addEventListener("htmx:wsOpen", function () {
    live("on");
    lastLive = new Date();
    if (lostTimer) { clearTimeout(lostTimer); lostTimer = null; }
    connectionBack();
  });
  document.addEventListener("htmx:wsClose", function () {
    live("off");
    if (!lostTimer) lostTimer = setTimeout(function () { lostTimer = null; connectionLost(); }, 1500);
  });
  /* An action sent while the server cannot be reached says so instead of doing nothing. */
  document.addEventListener("htmx:sendError", function () {
    var banner = document.getElementById("live-lost");
    showToast(banner ? banner.getAttribute("data-unsent") : "Not sent", "error");
  });

  /* Keyboard focus survives live updates: a card or row swapped by a live message gets the focus back on the
     same control (same id), else on the card it was in. */
  var focusedId = null;
  var focusedCard = null;
  document.addEventListener("htmx:wsBeforeMessage", function () {
    var active = document.activeElement;
    focusedId = active && active !== document.body && active.id ? active.id : null;
    var card = active && active.closest ? active.closest("article[id], tr[id]") : null;
    focusedCard = card ? card.id : null;
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    lastLive = new Date();
    var active = document.activeElement;
    if ((focusedId || focusedCard) && (!active || active === document.body)) {
      var target = (focusedId && document.getElementById(focusedId)) || (focusedCard && document.getElementById(focusedCard));
      if (target && !target.hidden) target.focus({ preventScroll: true });
    }
    focusedId = focusedCard = null;
  });

  /* A printer's live state badge on the Settings page: the message leaves it in #live-states, from where it
     replaces the badge it is for, when the page shows that printer (one added in another tab is not shown). */
  function liveStates() {
    var sink = document.getElementById("live-states");
    if (!sink) return;
    var badges = sink.querySelectorAll("[data-for]");
    for (var i = 0; i < badges.length; i++) {
      var badge = badges[i];
      var target = document.getElementById(badge.getAttribute("data-for"));
      badge.id = badge.getAttribute("data-for");
      badge.removeAttribute("data-for");
      if (target) target.replaceWith(badge); else badge.remove();
    }
    sink.textContent = "";
  }

  /* "Fetch this again": a live message leaves #live-refresh naming the element (data-refresh) whose own hx-get
     brings its fresh content (an order's section); htmx queues a request asked for while one is under way. */
  function liveRefresh() {
    var asked = document.getElementById("live-refresh");
    if (!asked || !asked.hasAttribute("data-refresh")) return;
    var target = document.getElementById(asked.getAttribute("data-refresh"));
    asked.removeAttribute("data-refresh");
    if (target && window.htmx) window.htmx.trigger(target, "refresh");
  }

  function refresh(root) {
    liveStates();
    liveRefresh();
    localTimes(root);
    armToasts(root);
    timeZone(root);
    kindFields(root);
    timelineBlocks(root);
    countdowns();
  }

  /* A form that asks first (data-confirm, e.g. deleting a product profile): a plain post, confirmed here because
     the Content-Security-Policy allows no inline handlers. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-confirm") &&
        !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  }, true);

  /* Everything new in the page (a swap, a WebSocket message) gets the same treatment. */
  new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      if (records[i].addedNodes.length) { refresh(document); return; }
    }
  }).observe(document.documentElement, { childList: true, subtree: true });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { refresh(document); });
  } else {
    refresh(document);
  }
})();
