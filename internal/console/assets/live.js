// The live page: server-sent events of a running session, shown as plain text (escape sequences
// removed). Served as a file: the console's CSP forbids inline scripts.
"use strict";
(function () {
  const pre = document.getElementById("live");
  const state = document.getElementById("state");
  const src = new EventSource(pre.dataset.stream);
  const esc = /\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-_]|\r/g;
  src.onopen = function () { state.textContent = "watching"; };
  src.onmessage = function (e) {
    pre.textContent += JSON.parse(e.data).replace(esc, "");
    if (pre.textContent.length > 200000) pre.textContent = pre.textContent.slice(-100000);
    window.scrollTo(0, document.body.scrollHeight);
  };
  src.addEventListener("end", function () { state.textContent = "the session ended"; src.close(); });
  src.onerror = function () { if (src.readyState === EventSource.CLOSED) state.textContent = "disconnected"; };
})();
