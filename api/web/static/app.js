// The dashboard's own script: draws the overview chart and keeps live tables fresh.
// Loaded from this origin only (the pages' Content-Security-Policy allows nothing else).
(function () {
  "use strict";

  var COLORS = {
    delivered: "#1a7f37",
    sent: "#0969da",
    pending: "#8c959f",
    failed: "#cf222e",
    undelivered: "#bc4c00",
    skipped: "#bf8700",
  };

  function drawChart() {
    var canvas = document.getElementById("deliveries-chart");
    var source = document.getElementById("chart-data");
    if (!canvas || !source || typeof window.Chart !== "function") return;
    var data = JSON.parse(source.textContent);
    var datasets = Object.keys(data.series).map(function (status) {
      return {
        label: status,
        data: data.series[status],
        backgroundColor: COLORS[status] || "#6e7781",
        hidden: !data.series[status].some(function (n) { return n > 0; }),
      };
    });
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true, ticks: { autoSkip: true, maxRotation: 0 } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
    canvas.setAttribute("data-rendered", "true");
  }

  // A region with data-refresh-url is replaced by what that url answers, every few
  // seconds while the tab is visible. A redirect (the session ended) reloads the page,
  // which then shows the login form.
  function keepFresh(region) {
    var url = region.getAttribute("data-refresh-url");
    var every = Number(region.getAttribute("data-refresh-seconds") || "5") * 1000;
    var last = null;
    window.setInterval(function () {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.redirected) { window.location.reload(); return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null || html === last) return;
          last = html;
          region.innerHTML = html;
        })
        .catch(function () { /* offline for a moment: try again next time */ });
    }, every);
  }

  // A password-reset link carries its code in the URL fragment (#token=...), which no
  // server or log ever sees: put it in the form, then take it out of the address bar.
  function fillResetCode() {
    var field = document.getElementById("reset-token");
    var match = /^#token=([A-Za-z0-9._-]+)$/.exec(window.location.hash);
    if (!field || !match) return;
    field.value = match[1];
    window.history.replaceState(null, "", window.location.pathname);
    var password = document.getElementById("new-password");
    if (password) password.focus();
  }

  function start() {
    drawChart();
    fillResetCode();
    document.querySelectorAll("[data-refresh-url]").forEach(keepFresh);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
