/* Device health charts drawn in the browser as plain SVG, no library, no CDN.
 *
 * Every <section class="charts" data-series-url="..."> holds <figure class="chart"
 * data-metric="fps|latency|drops"> elements; each is filled from
 * `<series-url>?metric=<metric>&since=<range>` (cloud.monitoring.series): a few named series of
 * [epoch ms, value | null] points, drawn as lines that break where a value is missing. The range
 * buttons redraw every chart. Each figure says how it went in data-state (loading, drawn, empty,
 * error), for people and tests alike.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var WIDTH = 760, HEIGHT = 230, LEFT = 56, RIGHT = 12, TOP = 24, BOTTOM = 28;
  var COLOURS = ["#2357c6", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#4b5563"];

  function element(name, attributes, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function label(text, x, y, anchor, parent) {
    var node = element("text", { x: x, y: y, "text-anchor": anchor, "font-size": 11, fill: "#5b6475" }, parent);
    node.textContent = text;
    return node;
  }

  function timeText(ms, spanMs) {
    var date = new Date(ms);
    var hhmm = date.toTimeString().slice(0, 5);
    return spanMs > 36 * 3600 * 1000 ? date.toISOString().slice(5, 10) + " " + hhmm : hhmm;
  }

  function valueText(value) {
    if (Number.isInteger(value) || value >= 1000) { return Math.round(value).toString(); }
    if (value >= 10) { return value.toFixed(0); }
    return value.toFixed(1);
  }

  /* Pixel paths of one series: one "M ... L ..." run per stretch of known values. */
  function pathOf(points, x, y) {
    var runs = [], current = [];
    points.forEach(function (point) {
      if (point[1] === null) {
        if (current.length) { runs.push(current); current = []; }
        return;
      }
      current.push(x(point[0]).toFixed(1) + "," + y(point[1]).toFixed(1));
    });
    if (current.length) { runs.push(current); }
    return runs.map(function (run) {
      return "M" + run[0] + (run.length > 1 ? " L" + run.slice(1).join(" L") : " l0.01,0");
    }).join(" ");
  }

  function draw(body, data) {
    var times = [], values = [];
    data.series.forEach(function (series) {
      series.points.forEach(function (point) {
        times.push(point[0]);
        if (point[1] !== null) { values.push(point[1]); }
      });
    });
    body.textContent = "";
    if (!values.length) {
      var none = document.createElement("p");
      none.className = "empty";
      none.textContent = "No heartbeats in this range.";
      body.appendChild(none);
      return "empty";
    }
    var t0 = Math.min.apply(null, times), t1 = Math.max.apply(null, times);
    if (t1 === t0) { t1 = t0 + 1000; }
    var top = Math.max.apply(null, values) * 1.1 || 1;
    var x = function (t) { return LEFT + (t - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT); };
    var y = function (v) { return HEIGHT - BOTTOM - v / top * (HEIGHT - TOP - BOTTOM); };
    var svg = element("svg", { viewBox: "0 0 " + WIDTH + " " + HEIGHT, role: "img", width: "100%" });
    svg.setAttribute("aria-label", data.metric + " in " + data.unit);
    for (var i = 0; i <= 4; i++) {
      var v = top * i / 4, gy = y(v);
      element("line", { x1: LEFT, x2: WIDTH - RIGHT, y1: gy, y2: gy, stroke: "#e5e8ee" }, svg);
      label(valueText(v), LEFT - 6, gy + 4, "end", svg);
      var t = t0 + (t1 - t0) * i / 4;
      label(timeText(t, t1 - t0), x(t), HEIGHT - 8, i === 0 ? "start" : i === 4 ? "end" : "middle", svg);
    }
    label(data.unit, 4, 12, "start", svg);
    var legend = document.createElement("ul");
    legend.className = "chart-legend";
    data.series.forEach(function (series, index) {
      var colour = COLOURS[index % COLOURS.length];
      var dashed = /target$/.test(series.name);
      var path = element("path", {
        d: pathOf(series.points, x, y), fill: "none", stroke: colour,
        "stroke-width": dashed ? 1 : 1.8, "stroke-dasharray": dashed ? "4 3" : "none"
      }, svg);
      path.setAttribute("data-series", series.name);
      path.setAttribute("data-points", String(series.points.length));
      var last = series.points.filter(function (p) { return p[1] !== null; }).pop();
      var item = document.createElement("li");
      item.style.borderColor = colour;
      item.textContent = series.name + (last ? ": " + valueText(last[1]) + " " + data.unit : "");
      legend.appendChild(item);
    });
    body.appendChild(svg);
    body.appendChild(legend);
    return "drawn";
  }

  function load(section, figure, since) {
    var body = figure.querySelector(".chart-body");
    var url = section.getAttribute("data-series-url") + "?metric=" +
      encodeURIComponent(figure.getAttribute("data-metric")) + "&since=" + encodeURIComponent(since);
    figure.setAttribute("data-state", "loading");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.error || response.statusText); }
          return data;
        });
      })
      .then(function (data) { figure.setAttribute("data-state", draw(body, data)); })
      .catch(function (error) {
        body.textContent = "";
        var message = document.createElement("p");
        message.className = "error";
        message.textContent = "Cannot load the chart: " + error.message;
        body.appendChild(message);
        figure.setAttribute("data-state", "error");
      });
  }

  function start(section) {
    var figures = section.querySelectorAll("figure.chart");
    var buttons = section.querySelectorAll(".chart-range button");
    function show(since) {
      buttons.forEach(function (button) {
        button.setAttribute("aria-pressed", String(button.getAttribute("data-since") === since));
      });
      figures.forEach(function (figure) { load(section, figure, since); });
    }
    buttons.forEach(function (button) {
      button.addEventListener("click", function () { show(button.getAttribute("data-since")); });
    });
    show("1h");
  }

  document.querySelectorAll("section.charts[data-series-url]").forEach(start);
})();
