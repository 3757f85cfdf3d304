/* The console's progress pages, enhanced: redraw the progress from the page's state URL every second
   and reload the page once the job has ended (to show its report). Without this script the pages work
   the same through their Refresh link. Served by consent-sync (CSP script-src 'self'), no other script. */
(function () {
  "use strict";
  var holder = document.querySelector("[data-state-url]");
  if (!holder || !window.fetch || !window.JSON) {
    return;
  }
  var url = holder.getAttribute("data-state-url");
  var status = document.getElementById("job-status");
  var bar = document.getElementById("job-bar");
  var facts = document.getElementById("job-facts");

  function draw(state) {
    status.textContent = state.status_text;
    if (state.max > 0) {
      bar.max = state.max;
      bar.value = state.value;
      bar.textContent = state.value + " / " + state.max;
    }
    while (facts.firstChild) {
      facts.removeChild(facts.firstChild);
    }
    state.facts.forEach(function (pair) {
      var term = document.createElement("dt");
      var text = document.createElement("dd");
      term.textContent = pair[0];
      text.textContent = pair[1];
      facts.appendChild(term);
      facts.appendChild(text);
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("state " + answer.status);
        }
        return answer.json();
      })
      .then(function (state) {
        if (state.finished) {
          window.location.reload();
          return;
        }
        draw(state);
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }

  window.setTimeout(poll, 1000);
})();
