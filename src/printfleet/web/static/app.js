/* printfleet web UI: the little the server cannot do. No untrusted text is ever put into markup here:
   everything shown comes as server-rendered, escaped HTML; this script only reads attributes and sets textContent. */
(function () {
  "use strict";

  var lang = document.documentElement.lang || undefined;
  var formats = {
    datetime: new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }),
    time: new Intl.DateTimeFormat(lang, { timeStyle: "medium" }),
  };

  /* <time datetime="…UTC…" data-style="datetime|time"> shows the viewer's local time. */
  function localTimes(root) {
    var nodes = (root || document).querySelectorAll("time[datetime]:not([data-local])");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) continue;
      var format = formats[node.getAttribute("data-style")] || formats.datetime;
      node.textContent = format.format(moment);
      node.setAttribute("title", moment.toISOString());
      node.setAttribute("data-local", "");
    }
  }

  /* Toasts leave by themselves (errors stay longer) or on their × button. */
  function armToasts(root) {
    var toasts = (root || document).querySelectorAll(".toast:not([data-armed])");
    for (var i = 0; i < toasts.length; i++) {
      var toast = toasts[i];
      toast.setAttribute("data-armed", "");
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

  function live(state) {
    var indicator = document.getElementById("live-indicator");
    if (indicator) indicator.setAttribute("data-live", state);
  }
  document.addEventListener("htmx:wsOpen", function () { live("on"); });
  document.addEventListener("htmx:wsClose", function () { live("off"); });

  function refresh(root) {
    localTimes(root);
    armToasts(root);
    timeZone(root);
    kindFields(root);
  }

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
