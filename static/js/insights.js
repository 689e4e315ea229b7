/* Insights charts: Chart.js (vendored UMD build, static/vendor/chartjs/) fed by json_script data.
 *
 * Every <canvas data-chart="ID"> is drawn from the JSON in <script id="ID" type="application/json">.
 * Numbers and dates follow the page's language (<html lang>). Change markers (framework activations,
 * canvas moves, playbook changes) are dashed vertical lines on the trend, numbered as in the list
 * below the chart. No inline script anywhere: strict CSP.
 */
(function () {
  "use strict";

  var lang = document.documentElement.lang || "en";
  var MARKER_COLOURS = { framework: "#6f42c1", canvas: "#d63384", playbook: "#fd7e14" };
  var PALETTE = ["#1f6f8b", "#e07a2f", "#3a9d5d", "#8e44ad", "#c0392b", "#7f8c8d", "#2c3e50", "#b7950b"];

  function formatter(data) {
    if (data.currency) {
      return new Intl.NumberFormat(lang, { style: "currency", currency: data.currency, maximumFractionDigits: 0 });
    }
    return new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  }

  function formatValue(data, value) {
    if (value === null || value === undefined) return "–";
    return formatter(data).format(value) + (data.percent ? "%" : "");
  }

  // Dashed vertical lines at the weeks where something changed, numbered 1, 2, 3 as in the list.
  var changeMarkers = {
    id: "stewardChangeMarkers",
    afterDatasetsDraw: function (chart, args, options) {
      var markers = options.markers || [];
      if (!markers.length) return;
      var ctx = chart.ctx, x = chart.scales.x, area = chart.chartArea;
      ctx.save();
      markers.forEach(function (marker, number) {
        var px = x.getPixelForValue(marker.index);
        ctx.strokeStyle = MARKER_COLOURS[marker.kind] || "#555";
        ctx.setLineDash([4, 4]);
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = ctx.strokeStyle;
        ctx.font = "bold 11px system-ui, sans-serif";
        ctx.textAlign = "center";
        ctx.fillText(String(number + 1), px, area.top + 10 + (number % 3) * 12);
      });
      ctx.restore();
    },
  };

  // Whiskers for the 95% interval of each bar.
  var intervals = {
    id: "stewardIntervals",
    afterDatasetsDraw: function (chart, args, options) {
      var ranges = options.intervals || [];
      if (!ranges.length) return;
      var meta = chart.getDatasetMeta(0), y = chart.scales.y, ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#212529";
      ctx.lineWidth = 1;
      meta.data.forEach(function (bar, index) {
        var range = ranges[index];
        if (!range) return;
        var top = y.getPixelForValue(range[1]), bottom = y.getPixelForValue(range[0]);
        ctx.beginPath();
        ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
        ctx.moveTo(bar.x - 5, top); ctx.lineTo(bar.x + 5, top);
        ctx.moveTo(bar.x - 5, bottom); ctx.lineTo(bar.x + 5, bottom);
        ctx.stroke();
      });
      ctx.restore();
    },
  };

  // Tells the page (and the browser tests) that the chart has been drawn, and with how many points.
  var renderedFlag = {
    id: "stewardRendered",
    afterRender: function (chart) {
      var points = 0;
      chart.data.datasets.forEach(function (dataset) {
        dataset.data.forEach(function (value) { if (value !== null && value !== undefined) points += 1; });
      });
      chart.canvas.dataset.rendered = "true";
      chart.canvas.dataset.points = String(points);
      chart.canvas.dataset.labels = chart.data.labels.join("|");
    },
  };

  function datasets(data) {
    return data.series.map(function (series, index) {
      var colour = PALETTE[index % PALETTE.length];
      return {
        label: series.label,
        data: series.values,
        borderColor: colour,
        backgroundColor: data.kind === "line" ? colour : colour + "cc",
        spanGaps: false,
        tension: 0.2,
        pointRadius: 3,
      };
    });
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var stacked = data.kind === "stacked";
    new Chart(canvas, {
      type: data.kind === "line" ? "line" : "bar",
      data: { labels: data.labels, datasets: datasets(data) },
      plugins: [changeMarkers, intervals, renderedFlag],
      options: {
        locale: lang,
        responsive: true,
        maintainAspectRatio: false,
        animation: { duration: 300 },
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: stacked },
          y: {
            stacked: stacked,
            beginAtZero: true,
            title: { display: true, text: data.yLabel },
            ticks: { callback: function (value) { return formatValue(data, value); } },
          },
        },
        plugins: {
          legend: { display: data.series.length > 1 || stacked },
          tooltip: {
            callbacks: {
              label: function (item) {
                var text = item.dataset.label + ": " + formatValue(data, item.parsed.y);
                var range = (data.intervals || [])[item.dataIndex];
                if (range) text += " (95%: " + formatValue(data, range[0]) + "–" + formatValue(data, range[1]) + ")";
                return text;
              },
              footer: function (items) {
                if (!items.length) return "";
                return (data.markers || [])
                  .filter(function (marker) { return marker.index === items[0].dataIndex; })
                  .map(function (marker) { return marker.label; })
                  .join("\n");
              },
            },
          },
          stewardChangeMarkers: { markers: data.markers || [] },
          stewardIntervals: { intervals: data.intervals || [] },
        },
      },
    });
  }

  function autosubmit(form) {
    form.addEventListener("change", function () { form.submit(); });
  }

  document.querySelectorAll("canvas[data-chart]").forEach(draw);
  document.querySelectorAll("form.js-autosubmit").forEach(autosubmit);
})();
