/* Metric charts (uPlot): one run's series, or several runs overlaid.
 *
 * <div class="chart" data-run="ID" data-key="KEY">          one run (raw, EMA-smoothed, min/max band)
 * <div class="chart" data-key="KEY" data-runs='[{id,name,color}, ...]'>   runs overlaid
 *
 * Data comes from /ui/api/runs/{id}/metrics/{key}?max_points=&start_step=&end_step=, downsampled
 * on the server. Dragging selects a step range that is fetched again in detail; double-click resets.
 * The #chart-controls smoothing slider and step/time toggle apply to every chart on the page.
 */
(function () {
  "use strict";

  var ROOT = document.body.getAttribute("data-root") || "";
  var HEIGHT = 220;
  var POINTS_ONE = 1000;
  var POINTS_MANY = 500;
  var DEFAULT_COLOR = "#2f6fde";
  var settings = { smoothing: 0, xaxis: "step" };
  var charts = [];

  function seriesUrl(runId, key, range, maxPoints) {
    var path = key.split("/").map(encodeURIComponent).join("/");
    var url = ROOT + "/ui/api/runs/" + encodeURIComponent(runId) + "/metrics/" + path + "?max_points=" + maxPoints;
    if (range) url += "&start_step=" + range[0] + "&end_step=" + range[1];
    return url;
  }

  function fetchSeries(runId, key, range, maxPoints) {
    return fetch(seriesUrl(runId, key, range, maxPoints), { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  // Exponential moving average with TensorBoard's debiasing; gaps (null) stay gaps.
  function ema(ys, w) {
    if (!w) return ys;
    var out = new Array(ys.length), last = 0, n = 0;
    for (var i = 0; i < ys.length; i++) {
      var v = ys[i];
      if (v === null || !isFinite(v)) { out[i] = null; continue; }
      last = last * w + (1 - w) * v;
      n += 1;
      out[i] = last / (1 - Math.pow(w, n));
    }
    return out;
  }

  // 120000 -> "120k": step axes stay readable on narrow charts.
  function compact(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toFixed(2) + "G";
    if (a >= 1e6) return +(v / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return +(v / 1e3).toFixed(1) + "k";
    return String(+v.toFixed(6));
  }

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  // One payload's columns in x order (steps, or wall time in seconds), duplicates of x merged.
  function columns(p, xaxis) {
    var n = p.steps.length, idx = new Array(n);
    for (var i = 0; i < n; i++) idx[i] = i;
    if (xaxis === "time") idx.sort(function (a, b) { return p.timestamps[a] - p.timestamps[b]; });
    var out = { x: [], y: [], lo: [], hi: [], step: [] };
    idx.forEach(function (i) {
      var x = xaxis === "time" ? p.timestamps[i] / 1000 : p.steps[i];
      var k = out.x.length;
      if (k && out.x[k - 1] === x) k -= 1; // same x: the later point wins
      out.x[k] = x;
      out.y[k] = p.values[i];
      out.lo[k] = p.mins ? p.mins[i] : null;
      out.hi[k] = p.maxs ? p.maxs[i] : null;
      out.step[k] = p.steps[i];
    });
    return out;
  }

  function Chart(el) {
    this.el = el;
    this.key = el.getAttribute("data-key");
    var many = el.getAttribute("data-runs");
    this.runs = many ? JSON.parse(many) : [{ id: el.getAttribute("data-run"), name: this.key, color: DEFAULT_COLOR }];
    this.single = !many;
    this.payloads = null;
    this.range = null;
    this.plot = null;
    this.layout = "";
    this.seq = 0;
  }

  Chart.prototype.load = function (range) {
    var self = this, seq = ++this.seq;
    var maxPoints = this.single ? POINTS_ONE : POINTS_MANY;
    this.el.classList.add("loading");
    Promise.all(this.runs.map(function (r) { return fetchSeries(r.id, self.key, range, maxPoints); }))
      .then(function (payloads) {
        if (seq !== self.seq) return; // a newer zoom won
        self.payloads = payloads;
        self.range = range;
        self.el.classList.remove("loading");
        self.el.setAttribute("data-points", String(payloads.reduce(function (s, p) { return s + p.steps.length; }, 0)));
        if (range) self.el.setAttribute("data-range", range[0] + "-" + range[1]);
        else self.el.removeAttribute("data-range");
        self.render();
      })
      .catch(function (err) {
        self.el.classList.remove("loading");
        self.message("Could not load " + self.key + ": " + err.message);
      });
  };

  Chart.prototype.message = function (text) {
    if (this.plot) { this.plot.destroy(); this.plot = null; this.layout = ""; }
    var m = document.createElement("div");
    m.className = "chart-msg";
    m.textContent = text;
    this.el.replaceChildren(m);
  };

  Chart.prototype.build = function () {
    var w = settings.smoothing, xaxis = settings.xaxis, self = this;
    var series = [{ label: xaxis === "time" ? "time" : "step" }];
    var bands = [];
    var data;
    if (this.single) {
      var c = columns(this.payloads[0], xaxis), color = this.runs[0].color;
      var hasBand = this.payloads[0].downsampled && this.payloads[0].mins !== null;
      data = [c.x, c.y];
      series.push({ label: w ? "raw" : "value", stroke: w ? alpha(color, 0.3) : color, width: w ? 1 : 1.5 });
      if (w) {
        data.push(ema(c.y, w));
        series.push({ label: "smoothed", stroke: color, width: 2 });
      }
      if (hasBand) {
        data.push(c.hi, c.lo);
        series.push({ label: "max", stroke: alpha(color, 0.15), width: 1 }, { label: "min", stroke: alpha(color, 0.15), width: 1 });
        bands.push({ series: [data.length - 2, data.length - 1], fill: alpha(color, 0.1) });
      }
      this.layout = ["one", xaxis, w ? 1 : 0, hasBand ? 1 : 0].join(":");
    } else {
      var tables = this.payloads.map(function (p) {
        var c = columns(p, xaxis);
        return [c.x, ema(c.y, w)];
      });
      data = uPlot.join(tables);
      this.runs.forEach(function (r) {
        series.push({ label: r.name, stroke: r.color, width: 1.5, spanGaps: true });
      });
      this.layout = ["many", xaxis].join(":");
    }
    var opts = {
      width: Math.max(200, this.el.clientWidth),
      height: HEIGHT,
      scales: { x: { time: xaxis === "time" } },
      axes: [xaxis === "time" ? {} : { values: function (u, splits) { return splits.map(compact); } }, {}],
      series: series,
      bands: bands,
      legend: { live: true },
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 4) return;
          var x0 = u.posToVal(u.select.left, "x"), x1 = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          self.zoom(x0, x1);
        }],
      },
    };
    return { opts: opts, data: data };
  };

  // A selection [x0, x1] in the current x unit, as a step range to fetch in detail.
  Chart.prototype.zoom = function (x0, x1) {
    var lo = Infinity, hi = -Infinity;
    if (settings.xaxis === "step") {
      lo = Math.floor(x0);
      hi = Math.ceil(x1);
    } else {
      this.payloads.forEach(function (p) {
        for (var i = 0; i < p.steps.length; i++) {
          var t = p.timestamps[i] / 1000;
          if (t >= x0 && t <= x1) { lo = Math.min(lo, p.steps[i]); hi = Math.max(hi, p.steps[i]); }
        }
      });
    }
    if (isFinite(lo) && isFinite(hi) && hi >= lo) this.load([lo, hi]);
  };

  Chart.prototype.render = function () {
    var total = this.payloads.reduce(function (s, p) { return s + p.steps.length; }, 0);
    if (!total) { this.message("No points" + (this.range ? " in steps " + this.range.join("–") : "") + "."); return; }
    var built = this.build();
    var layout = this.layout;
    if (this.plot && this.plotLayout === layout) {
      this.plot.setData(built.data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.el.replaceChildren();
    this.plot = new uPlot(built.opts, built.data, this.el);
    this.plotLayout = layout;
    var self = this;
    this.plot.over.addEventListener("dblclick", function () { if (self.range) self.load(null); });
  };

  Chart.prototype.resize = function () {
    if (this.plot) this.plot.setSize({ width: Math.max(200, this.el.clientWidth), height: HEIGHT });
  };

  function rerenderAll() {
    charts.forEach(function (c) { if (c.payloads) c.render(); });
  }

  var visible = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (!e.isIntersecting) return;
      visible.unobserve(e.target);
      e.target._chart.load(null);
    });
  }, { rootMargin: "200px" }) : null;

  var resized = "ResizeObserver" in window ? new ResizeObserver(function (entries) {
    entries.forEach(function (e) { if (e.target._chart) e.target._chart.resize(); });
  }) : null;

  function initCharts(root) {
    root.querySelectorAll(".chart[data-key]").forEach(function (el) {
      if (el._chart) return;
      var chart = new Chart(el);
      el._chart = chart;
      charts.push(chart);
      if (visible) visible.observe(el); else chart.load(null);
      if (resized) resized.observe(el);
    });
  }

  function initControls() {
    var slider = document.getElementById("smoothing");
    var shown = document.getElementById("smoothing-value");
    var pending = false;
    if (slider) {
      slider.addEventListener("input", function () {
        settings.smoothing = Number(slider.value);
        if (shown) shown.textContent = settings.smoothing.toFixed(2);
        if (pending) return;
        pending = true;
        requestAnimationFrame(function () { pending = false; rerenderAll(); });
      });
    }
    document.querySelectorAll('input[name="xaxis"]').forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (!radio.checked) return;
        settings.xaxis = radio.value;
        rerenderAll();
      });
    });
  }

  function start() {
    initControls();
    initCharts(document);
  }

  window.treadleCharts = charts;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  document.addEventListener("htmx:after:settle", function (e) { initCharts(e.target instanceof Element ? e.target : document); });
})();
