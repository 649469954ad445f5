/* parley local UI: live updates. One Server-Sent Events stream per page; each "update" event makes htmx
   re-fetch this page and swap the live panels in place (see #live-refresh in base.html). No inline script:
   the Content-Security-Policy allows scripts from this origin only. */
(function () {
  "use strict";
  var body = document.body;
  var state = document.getElementById("live-state");
  function say(text, cls) {
    if (!state) { return; }
    state.textContent = text;
    state.className = "live-state " + (cls || "");
  }
  if (!window.EventSource) { say("Live updates unavailable: reload to refresh", "off"); return; }
  var nid = body.getAttribute("data-negotiation");
  /* v: the server's change counter when this page was rendered, so no change in between is missed */
  var query = "?v=" + encodeURIComponent(body.getAttribute("data-live-version") || "");
  var source = new EventSource("/events" + query + (nid ? "&n=" + encodeURIComponent(nid) : ""));
  /* The indicator follows the relay's state as the local UI server sees it (its last sync), not merely
     this page's connection to the local server. */
  function follow(event, updated) {
    var data = {};
    try { data = JSON.parse(event.data || "{}"); } catch (ignored) { data = {}; }
    if (data.relay_error) {
      say("Offline: the relay is not answering", "off");
    } else {
      say(updated ? "Live · updated " + new Date().toLocaleTimeString() : "Live", "on");
    }
  }
  source.addEventListener("error", function () { say("Reconnecting…", "off"); });
  source.addEventListener("state", function (event) { follow(event, false); });
  source.addEventListener("update", function (event) {
    if (window.htmx) { window.htmx.trigger(body, "parley:update"); }
    follow(event, true);
    awaited();
  });
  window.addEventListener("pagehide", function () { source.close(); });

  /* Notifications: what awaits this member's party (a response, an answer, a signature), each told once per
     browser session. The server sends the kind of act and its deadline only, never a title or a text. */
  var count = document.getElementById("awaiting-you");
  var button = document.getElementById("notify");
  var canNotify = "Notification" in window;
  function told() {
    try { return JSON.parse(window.sessionStorage.getItem("parley-told") || "[]"); } catch (ignored) { return []; }
  }
  function awaited() {
    fetch("/awaiting.json", { credentials: "same-origin" }).then(function (answer) {
      return answer.ok ? answer.json() : [];
    }).then(function (rows) {
      if (count) {
        count.hidden = rows.length === 0;
        count.textContent = rows.length === 1 ? "1 act awaits your party" : rows.length + " acts await your party";
      }
      var already = told();
      rows.forEach(function (row) {
        if (already.indexOf(row.key) !== -1 || !canNotify || Notification.permission !== "granted") { return; }
        var shown = new Notification("parley", { body: row.text, tag: row.key });
        shown.onclick = function () { window.focus(); window.location.href = row.href; };
        already.push(row.key);
      });
      try { window.sessionStorage.setItem("parley-told", JSON.stringify(already)); } catch (ignored) { /* private */ }
    }).catch(function () { /* offline: the count stays as it was */ });
  }
  if (button && canNotify && Notification.permission === "default") {
    button.hidden = false;
    button.addEventListener("click", function () {
      Notification.requestPermission().then(function () { button.hidden = true; awaited(); });
    });
  }
  awaited();
  /* htmx: send the session's CSRF token with any non-GET request it makes. */
  body.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = body.getAttribute("data-csrf");
  });
})();
