/* printfleet Files page (after app.js, whose toast and request helpers it uses): upload with a progress bar (drop
   or choose files), and Print on… (the printers that can take a plate, then the print request). No untrusted text
   is ever put into markup here: file names, printer names, reasons and messages become text nodes. The words come
   translated in <script id="files-texts">. */
(function () {
  "use strict";

  var textsNode = document.getElementById("files-texts");
  if (!textsNode) return;
  var texts = JSON.parse(textsNode.textContent);

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : "";
    });
  }

  var shared = window.printfleet;
  var toast = shared.toast;
  var request = shared.sendJson;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function problem(status, body) {
    return shared.problem(body, fill(texts.error, { status: status || "—" }));
  }

  /* --- upload ------------------------------------------------------------------------------------------------ */

  var dropzone = document.getElementById("dropzone");
  var input = document.getElementById("upload-input");
  var rows = document.getElementById("uploads");
  var waiting = [];
  var sending = false;

  function refreshList() {
    var search = document.getElementById("file-search");
    var url = "/files" + (search && search.value ? "?search=" + encodeURIComponent(search.value) : "");
    if (window.htmx) window.htmx.ajax("GET", url, { target: "#file-results", swap: "outerHTML" });
  }

  function next() {
    if (sending) return;
    var item = waiting.shift();
    if (!item) return;
    sending = true;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", dropzone.getAttribute("data-upload"));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      item.bar.max = event.total;
      item.bar.value = event.loaded;
    });
    function done(ok, text) {
      item.row.classList.add(ok ? "upload-ok" : "upload-failed");
      item.status.textContent = text;
      if (ok) item.bar.value = item.bar.max;
      sending = false;
      if (ok) refreshList();
      next();
    }
    xhr.addEventListener("load", function () {
      if (xhr.status === 201) done(true, texts.added);
      else if (xhr.status === 200) done(true, texts.already);
      else done(false, problem(xhr.status, xhr.responseText));
    });
    xhr.addEventListener("error", function () { done(false, fill(texts.error, { status: "network" })); });
    var form = new FormData();
    form.append("file", item.file, item.file.name);
    xhr.send(form);
  }

  function upload(files) {
    for (var i = 0; i < files.length; i++) {
      var row = element("li", "upload-row");
      row.appendChild(element("span", "upload-name", files[i].name));
      var bar = element("progress");
      bar.max = files[i].size || 1;
      bar.value = 0;
      row.appendChild(bar);
      var status = element("span", "upload-status", texts.uploading);
      row.appendChild(status);
      rows.appendChild(row);
      waiting.push({ file: files[i], row: row, bar: bar, status: status });
    }
    next();
  }

  if (dropzone && input && rows) {
    input.addEventListener("change", function () {
      upload(input.files);
      input.value = "";
    });
    dropzone.addEventListener("dragover", function (event) {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
    dropzone.addEventListener("dragleave", function () { dropzone.classList.remove("dragging"); });
    dropzone.addEventListener("drop", function (event) {
      event.preventDefault();
      dropzone.classList.remove("dragging");
      if (event.dataTransfer && event.dataTransfer.files.length) upload(event.dataTransfer.files);
    });
    /* A file dropped beside the zone must not replace the page. */
    document.addEventListener("dragover", function (event) { event.preventDefault(); });
    document.addEventListener("drop", function (event) { event.preventDefault(); });
  }

  /* --- Print on… --------------------------------------------------------------------------------------------- */

  var dialog = document.getElementById("print-dialog");
  if (!dialog) return;
  var list = dialog.querySelector(".targets");
  var loading = dialog.querySelector(".print-loading");
  var failure = dialog.querySelector(".print-error");
  var current = null;

  function showFailure(text) {
    failure.textContent = text;
    failure.hidden = false;
  }

  function send(target, buttons) {
    var chosen = current;
    buttons.forEach(function (button) { button.disabled = true; });
    failure.hidden = true;
    var body = { file_id: Number(chosen.fileId), plate: Number(chosen.plate), options: {} };
    request("POST", "/api/v1/printers/" + encodeURIComponent(target.printer_id) + "/print", body)
      .then(function (answer) {
        if (answer.status === 202) {
          dialog.close();
          var dispatch = {};
          try { dispatch = JSON.parse(answer.body); } catch (ignored) { /* not JSON */ }
          /* The live connection's toasts for this dispatch replace this one as it moves on; one that came first
             (a quick dispatch) is newer news than this one. */
          var id = /^[0-9]+$/.test(String(dispatch.id)) ? String(dispatch.id) : "";
          if (!id || !document.querySelector('.toast[data-dispatch="' + id + '"]')) {
            toast(fill(texts.sending, { file: chosen.name, printer: target.name }), "info", id);
          }
          return;
        }
        var reason = null;
        try { reason = JSON.parse(answer.body).reason; } catch (ignored) { /* not JSON */ }
        var words = (reason && texts.reasons[reason]) || problem(answer.status, answer.body);
        showFailure(fill(texts.not_sent, { reason: words }));
        buttons.forEach(function (button) { button.disabled = false; });
      })
      .catch(function () {
        showFailure(fill(texts.error, { status: "network" }));
        buttons.forEach(function (button) { button.disabled = false; });
      });
  }

  function showTargets(targets) {
    targets.sort(function (a, b) {
      if (a.available !== b.available) return a.available ? -1 : 1;
      return a.name.localeCompare(b.name);
    });
    if (!targets.length) list.appendChild(element("li", "empty", texts.no_printers));
    var buttons = [];
    targets.forEach(function (target) {
      var row = element("li", "target" + (target.available ? "" : " unavailable"));
      row.setAttribute("data-printer-id", target.printer_id);
      var label = element(target.available ? "button" : "span", "target-label");
      label.appendChild(element("span", "target-name", target.name));
      label.appendChild(element("span", "kind", texts.kinds[target.kind] || target.kind));
      if (target.available) {
        label.type = "button";
        label.addEventListener("click", function () { send(target, buttons); });
        buttons.push(label);
      } else {
        row.setAttribute("aria-disabled", "true");
        var reason = target.reason ? texts.reasons[target.reason] || target.reason : "";
        label.appendChild(element("span", "target-reason", reason));
      }
      row.appendChild(label);
      list.appendChild(row);
    });
  }

  function open(button) {
    current = {
      fileId: button.getAttribute("data-file-id"),
      plate: button.getAttribute("data-plate"),
      name: button.getAttribute("data-file-name"),
    };
    dialog.querySelector(".print-file").textContent = current.name;
    dialog.querySelector(".print-plate").textContent = fill(texts.plate, { plate: current.plate });
    while (list.firstChild) list.removeChild(list.firstChild);
    loading.hidden = false;
    failure.hidden = true;
    dialog.showModal();
    var asked = current;
    request("GET", "/api/v1/files/" + encodeURIComponent(asked.fileId) + "/targets?plate=" + encodeURIComponent(asked.plate))
      .then(function (answer) {
        if (current !== asked) return;
        loading.hidden = true;
        if (answer.status !== 200) { showFailure(problem(answer.status, answer.body)); return; }
        showTargets(JSON.parse(answer.body));
      })
      .catch(function () {
        loading.hidden = true;
        showFailure(fill(texts.error, { status: "network" }));
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".print-on");
    if (button) open(button);
  });
})();
