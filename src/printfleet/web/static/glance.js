/* printfleet Printers page: the farm at a glance. Counts per state, filters (search, state, type, tag), the order
   (by name, or needs attention first) and the card size. Cards are never moved in the page: the order is the CSS
   `order` of each card, so a live update or a re-order never takes the keyboard focus away. Reads attributes only;
   sets textContent, `hidden`, classes and style.order. */
(function () {
  "use strict";

  var ATTENTION = ["error", "failed", "plate", "offline"];
  var RANK = { error: 0, failed: 1, plate: 2, offline: 3, paused: 4, printing: 5, ready: 6, idle: 7 };
  var SIZE_KEY = "printfleet.cardSize";
  var collator = new Intl.Collator(document.documentElement.lang || undefined, { numeric: true, sensitivity: "base" });

  function grid() { return document.getElementById("printer-grid"); }
  function form() { return document.getElementById("printer-filters"); }

  function values() {
    var f = form();
    var get = function (name) { var field = f && f.elements.namedItem(name); return field ? field.value : ""; };
    return { q: get("q").trim().toLocaleLowerCase(), state: get("state"), kind: get("kind"), tag: get("tag"),
             order: get("order") || "name" };
  }

  function matches(card, v) {
    var group = card.getAttribute("data-bucket");
    if (v.state === "attention" ? ATTENTION.indexOf(group) < 0 : v.state && group !== v.state) return false;
    if (v.kind && card.getAttribute("data-kind") !== v.kind) return false;
    if (v.tag && (card.getAttribute("data-tags") || "").split("\n").indexOf(v.tag) < 0) return false;
    if (v.q && (card.getAttribute("data-name") || "").toLocaleLowerCase().indexOf(v.q) < 0) return false;
    return true;
  }

  function apply() {
    var box = grid();
    if (!box || !form()) return;
    var v = values();
    var cards = Array.prototype.slice.call(box.querySelectorAll(":scope > .card"));
    var counts = { all: cards.length, attention: 0 };
    var shown = 0;
    cards.forEach(function (card) {
      var group = card.getAttribute("data-bucket");
      counts[group] = (counts[group] || 0) + 1;
      if (ATTENTION.indexOf(group) >= 0) counts.attention += 1;
      var visible = matches(card, v);
      if (card.hidden === visible) card.hidden = !visible;
      if (visible) shown += 1;
    });
    cards.sort(function (a, b) {
      if (v.order === "attention") {
        var rank = RANK[a.getAttribute("data-bucket")] - RANK[b.getAttribute("data-bucket")];
        if (rank) return rank;
      }
      return collator.compare(a.getAttribute("data-name") || "", b.getAttribute("data-name") || "") ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    });
    cards.forEach(function (card, index) { if (card.style.order !== String(index)) card.style.order = String(index); });

    var numbers = document.querySelectorAll("#farm-summary [data-count]");
    for (var i = 0; i < numbers.length; i++) {
      var text = String(counts[numbers[i].getAttribute("data-count")] || 0);
      if (numbers[i].textContent !== text) numbers[i].textContent = text;
    }
    var group = document.querySelector("[data-attention-group]");
    if (group) group.classList.toggle("some", counts.attention > 0);
    var buttons = document.querySelectorAll("#farm-summary [data-filter-state]");
    for (var j = 0; j < buttons.length; j++) {
      buttons[j].setAttribute("aria-pressed", buttons[j].getAttribute("data-filter-state") === v.state ? "true" : "false");
    }
    var note = form().querySelector(".filter-count");
    if (note) {
      note.hidden = shown === cards.length;
      note.textContent = note.getAttribute("data-shown-template").replace("{shown}", shown).replace("{total}", cards.length);
    }
  }

  /* The filters live in the address (a wall screen's bookmark shows the same view); the card size in this browser. */
  function remember() {
    var v = values();
    var params = new URLSearchParams();
    var f = form();
    ["q", "state", "kind", "tag"].forEach(function (name) {
      var field = f.elements.namedItem(name);
      if (field && field.value.trim()) params.set(name, field.value.trim());
    });
    if (v.order !== "name") params.set("order", v.order);
    var query = params.toString();
    history.replaceState(history.state, "", location.pathname + (query ? "?" + query : ""));
  }

  function size(value) {
    var box = grid();
    if (!box) return;
    box.classList.toggle("compact", value === "compact");
    document.body.classList.toggle("wall", value === "compact");
  }

  function init() {
    var f = form();
    if (!f) return;
    var select = document.getElementById("card-size");
    var stored = null;
    try { stored = window.localStorage.getItem(SIZE_KEY); } catch (ignored) { /* storage off */ }
    if (select && stored && select.querySelector('option[value="' + (stored === "compact" ? "compact" : "normal") + '"]')) {
      select.value = stored === "compact" ? "compact" : "normal";
    }
    size(select ? select.value : "normal");
    f.addEventListener("input", function () { apply(); remember(); });
    f.addEventListener("change", function (event) {
      if (event.target === select) {
        try { window.localStorage.setItem(SIZE_KEY, select.value); } catch (ignored) { /* storage off */ }
        size(select.value);
        return;
      }
      apply(); remember();
    });
    f.addEventListener("submit", function (event) { event.preventDefault(); });
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("#farm-summary [data-filter-state]");
      if (!button) return;
      var state = f.elements.namedItem("state");
      var wanted = button.getAttribute("data-filter-state");
      state.value = button.getAttribute("aria-pressed") === "true" ? "" : wanted;
      apply(); remember();
    });
    new MutationObserver(apply).observe(grid(), { childList: true });
    apply();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
