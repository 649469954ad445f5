/* parley local UI: files chosen or dropped on a form are uploaded one by one to this local server (never
   anywhere else), each with a progress bar; the form then carries their upload ids. */
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";
  function send(zone, file) {
    var list = zone.querySelector(".upload-list");
    var item = document.createElement("li");
    var label = document.createElement("span");
    var bar = document.createElement("progress");
    label.textContent = file.name + " ";
    bar.max = file.size || 1;
    bar.value = 0;
    item.appendChild(label);
    item.appendChild(bar);
    list.appendChild(item);
    var form = zone.closest("form");
    var pending = parseInt(form.getAttribute("data-pending") || "0", 10) + 1;
    form.setAttribute("data-pending", String(pending));
    var request = new XMLHttpRequest();
    request.open("POST", zone.getAttribute("data-uploads") + "?name=" + encodeURIComponent(file.name));
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.setRequestHeader("X-File-Size", String(file.size));
    request.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) { bar.max = event.total; bar.value = event.loaded; }
    });
    request.addEventListener("loadend", function () {
      form.setAttribute("data-pending", String(parseInt(form.getAttribute("data-pending"), 10) - 1));
      var answer = {};
      try { answer = JSON.parse(request.responseText || "{}"); } catch (ignored) { answer = {}; }
      if (request.status === 200 && answer.upload) {
        var hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = "upload";
        hidden.value = answer.upload;
        form.appendChild(hidden);
        item.className = "upload-done";
        label.textContent = answer.name + " (" + answer.size + " bytes) ready ";
      } else {
        item.className = "upload-failed";
        label.textContent = file.name + ": " + (answer.error || "the upload failed") + " ";
        bar.remove();
      }
    });
    request.send(file);
  }
  document.querySelectorAll("[data-uploads]").forEach(function (zone) {
    var input = zone.querySelector("input[type=file]");
    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, function (file) { send(zone, file); });
      input.value = "";
    });
    zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      Array.prototype.forEach.call(event.dataTransfer.files, function (file) { send(zone, file); });
    });
    zone.closest("form").addEventListener("submit", function (event) {
      if (parseInt(this.getAttribute("data-pending") || "0", 10) > 0) {
        event.preventDefault();
        window.alert("Wait until every file is uploaded.");
      }
    });
  });
}());
