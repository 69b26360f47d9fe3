// The console's only script of its own: draws the charts from the JSON the page carries, and opens a report's
// mission when a link points into it. No inline script anywhere, so the Content Security Policy stays strict.
(function () {
  'use strict';

  function readData(element) {
    var source = document.getElementById(element.dataset.source);
    return source ? JSON.parse(source.textContent) : null;
  }

  // Axes in the page's colours: uPlot draws them in black by default, unreadable on the dark background.
  function axis(extra) {
    return Object.assign({ stroke: '#9aa6b5', grid: { stroke: '#222a35' }, ticks: { stroke: '#2a3340' } }, extra);
  }

  function formatMs(ms) {
    return ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  }

  function histogram(element, data) {
    var width = (data.to_ms - data.from_ms) / data.counts.length;
    var xs = data.counts.map(function (_, bin) { return data.from_ms + width * (bin + 0.5); });
    return {
      data: [xs, data.counts],
      options: {
        scales: { x: { time: false, range: function () { return [data.from_ms, data.to_ms]; } } },
        axes: [axis({ values: function (_, ticks) { return ticks.map(formatMs); } }), axis({ label: 'missions' })],
        series: [{ label: 'duration', value: function (_, v) { return v == null ? '' : formatMs(v); } },
          { label: 'missions', fill: 'rgba(94, 160, 255, 0.55)', stroke: '#5ea0ff', paths: uPlot.paths.bars({ size: [0.92, 80] }), points: { show: false } }],
      },
    };
  }

  function throughput(element, data) {
    return {
      data: [data.times, data.completed, data.failed],
      options: {
        series: [{}, { label: 'completed', stroke: '#4cc38a', fill: 'rgba(76, 195, 138, 0.2)', points: { show: false } },
          { label: 'failed', stroke: '#ff6b6b', points: { show: false } }],
        axes: [axis({}), axis({ label: 'jobs / min' })],
      },
    };
  }

  var kinds = { histogram: histogram, throughput: throughput };

  function draw(element) {
    if (element.chart || typeof uPlot === 'undefined') return;
    var data = readData(element);
    var kind = kinds[element.dataset.chart];
    if (!data || !kind) return;
    var chart = kind(element, data);
    var options = Object.assign({ width: Math.max(element.clientWidth, 320), height: 220 }, chart.options);
    options.hooks = { draw: [function () { element.dataset.drawn = 'true'; }] };
    element.chart = new uPlot(options, chart.data, element);
  }

  function drawAll(root) {
    root.querySelectorAll('[data-chart]').forEach(draw);
  }

  function openTarget() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    for (var node = target; node; node = node.parentElement) if (node.tagName === 'DETAILS') node.open = true;
    if (target) target.scrollIntoView();
  }

  document.addEventListener('DOMContentLoaded', function () {
    drawAll(document);
    openTarget();
  });
  window.addEventListener('hashchange', openTarget);
  document.addEventListener('htmx:afterSwap', function (event) { drawAll(event.target); });
})();
