// The replay page: the asciinema player on the session's cast, the speed selector, and the text
// search whose hits seek the player. Served as a file: the console's CSP forbids inline scripts.
"use strict";
(function () {
  const el = document.getElementById("player");
  if (!el) return;
  let player;
  function make(speed, at) {
    if (player) player.dispose();
    el.replaceChildren();
    if (el.dataset.segmented) {
      // A long recording: the player loads the index, then the segments it plays (no
      // idle-time limit: that would need the whole recording read first).
      player = AsciinemaPlayer.create({ url: el.dataset.index, format: "segmented" }, el, { speed: speed, fit: "width", preload: true, startAt: at || 0 });
    } else {
      player = AsciinemaPlayer.create(el.dataset.cast, el, { speed: speed, idleTimeLimit: 2, fit: "width", preload: true, startAt: at || 0 });
    }
    window.gatehousePlayer = player;
  }
  make(1);
  document.getElementById("speed").addEventListener("change", function (e) {
    const at = player ? player.getCurrentTime() : 0;
    make(parseFloat(e.target.value), at);
  });
  document.getElementById("search").addEventListener("submit", async function (e) {
    e.preventDefault();
    const q = document.getElementById("needle").value;
    const list = document.getElementById("hits");
    list.replaceChildren();
    const resp = await fetch(el.dataset.search + "?q=" + encodeURIComponent(q), { credentials: "same-origin" });
    const hits = resp.ok ? await resp.json() : [];
    if (hits.length === 0) {
      const li = document.createElement("li");
      li.textContent = "Not found.";
      list.appendChild(li);
      return;
    }
    for (const h of hits) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "hit";
      b.textContent = h.time.toFixed(2) + " s";
      b.addEventListener("click", async function () {
        // Seek just after the event that printed the match, and stay there.
        await player.seek(h.time + 0.01);
        player.pause();
      });
      const span = document.createElement("span");
      span.textContent = " " + h.text;
      li.appendChild(b);
      li.appendChild(span);
      list.appendChild(li);
    }
  });
})();
