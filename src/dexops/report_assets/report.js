// Draws the dexops report's charts with uPlot from the JSON embedded in the page; sets
// data-rendered (charts drawn) and data-painted (canvases with pixels) on <body> when done,
// and data-render-error when anything throws, so a headless browser can tell.
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (event) {
    body.dataset.renderError = String(event.message);
  });
  var palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2"];
  var width = 920;
  var height = 260;
  var expected = 6;
  var drawn = {};
  // uPlot draws after the constructor returns; each chart says so once through this hook.
  var hooks = {
    draw: [
      function (u) {
        drawn[u.root.parentNode.id] = true;
        if (Object.keys(drawn).length === expected) finished();
      },
    ],
  };

  function finished() {
    var canvases = Array.prototype.slice.call(document.querySelectorAll("canvas"));
    body.dataset.painted = String(canvases.filter(painted).length);
    body.dataset.rendered = String(Object.keys(drawn).length);
  }

  function mount(id, title) {
    var holder = document.getElementById(id);
    var heading = document.createElement("h3");
    heading.textContent = title;
    holder.appendChild(heading);
    return holder;
  }

  function weekly(report, id, title, key, label) {
    var envs = report.weekly;
    var names = Object.keys(envs);
    var xs = names.length ? envs[names[0]].map(function (w) { return w.start; }) : [];
    var data = [xs];
    var series = [{}];
    names.forEach(function (name, i) {
      data.push(envs[name].map(function (w) { return w[key]; }));
      series.push({
        label: name,
        stroke: palette[i % palette.length],
        width: 2,
        points: { show: true, size: 6 },
        spanGaps: false,
      });
    });
    return new uPlot(
      { width: width, height: height, series: series, axes: [{}, { label: label }], hooks: hooks },
      data,
      mount(id, title)
    );
  }

  function lanes(id, title, rows, laneNames, kinds) {
    // A scatter: x is time, y the lane (environment or component), one series per kind.
    var times = rows.map(function (r) { return r.time; });
    var data = [times];
    var series = [{}];
    kinds.forEach(function (kind, k) {
      data.push(rows.map(function (r) {
        return r.kind === kind ? laneNames.indexOf(r.lane) + (k - (kinds.length - 1) / 2) * 0.12 : null;
      }));
      series.push({
        label: kind,
        stroke: palette[k % palette.length],
        fill: palette[k % palette.length],
        paths: function () { return null; },
        points: { show: true, size: 9 },
      });
    });
    var lanesAxis = {
      splits: function () { return laneNames.map(function (_, i) { return i; }); },
      values: function (u, splits) { return splits.map(function (v) { return laneNames[v] || ""; }); },
      size: 110,
    };
    return new uPlot(
      {
        width: width,
        height: Math.max(160, 60 + 50 * laneNames.length),
        series: series,
        scales: { y: { range: [-0.6, Math.max(0.6, laneNames.length - 0.4)] } },
        axes: [{}, lanesAxis],
        hooks: hooks,
      },
      data,
      mount(id, title)
    );
  }

  function painted(canvas) {
    var pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (var i = 3; i < pixels.length; i += 4) {
      if (pixels[i] !== 0) return true;
    }
    return false;
  }

  try {
    var report = JSON.parse(document.getElementById("dexops-report").textContent);
    [
      weekly(report, "chart-frequency", "Deployments per week", "deployments", "deployments"),
      weekly(report, "chart-lead-time", "Median lead time (hours)", "lead_time_hours", "hours"),
      weekly(report, "chart-failure-rate", "Change failure rate", "change_failure_rate", "share"),
      weekly(report, "chart-restore", "Median time to restore (hours)", "restore_hours", "hours"),
      lanes(
        "chart-timeline",
        "Deployments, promotions and rollbacks",
        report.timeline.map(function (e) { return { time: e.time, lane: e.environment, kind: e.action }; }),
        report.environments,
        ["deploy", "promote", "rollback"]
      ),
      lanes(
        "chart-releases",
        "Releases per component",
        [].concat.apply([], report.releases.map(function (c) {
          return c.releases.map(function (r) {
            return { time: r.time, lane: c.component, kind: r.prerelease ? "pre-release" : "release" };
          });
        })).sort(function (a, b) { return a.time - b.time; }),
        report.releases.map(function (c) { return c.component; }),
        ["release", "pre-release"]
      ),
    ];
  } catch (error) {
    body.dataset.renderError = String(error && error.stack || error);
  }
})();
