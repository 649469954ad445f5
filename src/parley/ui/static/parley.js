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
  source.addEventListener("open", function () { say("Live", "on"); });
  source.addEventListener("error", function () { say("Reconnecting…", "off"); });
  source.addEventListener("update", function () {
    if (window.htmx) { window.htmx.trigger(body, "parley:update"); }
    say("Live · updated " + new Date().toLocaleTimeString(), "on");
  });
  window.addEventListener("pagehide", function () { source.close(); });
  /* htmx: send the session's CSRF token with any non-GET request it makes. */
  body.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = body.getAttribute("data-csrf");
  });
})();
