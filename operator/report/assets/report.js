// cascadelab report page: draws the charts with uPlot and runs the
// topology's time scrubber, from the JSON in #report-data. It reads no
// network and writes report strings into the page only as text
// (textContent, SVG text nodes), never as markup.
(function () {
  'use strict';
  var el = document.getElementById('report-data');
  if (!el) { return; }
  var data = JSON.parse(el.textContent);
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
  var shades = ['rgba(230,80,60,0.15)', 'rgba(60,110,230,0.15)', 'rgba(240,170,30,0.22)', 'rgba(120,60,200,0.15)'];
  var shadeEdges = ['rgba(230,80,60,0.6)', 'rgba(60,110,230,0.6)', 'rgba(240,170,30,0.7)', 'rgba(120,60,200,0.6)'];

  function num(v, digits) {
    if (v == null || isNaN(v)) { return '—'; }
    return v.toFixed(digits);
  }
  function fmt(unit, v) {
    if (v == null || isNaN(v)) { return '—'; }
    switch (unit) {
      case 'ratio': return num(v * 100, v < 0.1 ? 2 : 1) + ' %';
      case 'ms': return num(v, v < 10 ? 1 : 0) + ' ms';
      default: return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : num(v, 1);
    }
  }
  function secs(v) { return v == null ? '—' : num(v, 1) + ' s'; }

  var cd = data.charts || {};
  var windows = cd.windows || [];
  var findings = cd.findings || [];
  var drills = cd.drills || [];
  var plots = [];

  // Shade the fault windows under the lines (an instant fault gets a thin band).
  function shadeWindows(u) {
    var ctx = u.ctx, b = u.bbox;
    ctx.save();
    windows.forEach(function (w, i) {
      var to = w.to > w.from ? w.to : w.from + 0.25;
      var x0 = Math.max(u.valToPos(w.from, 'x', true), b.left);
      var x1 = Math.min(u.valToPos(to, 'x', true), b.left + b.width);
      if (x1 <= b.left || x0 >= b.left + b.width) { return; }
      ctx.fillStyle = shades[i % shades.length];
      ctx.fillRect(x0, b.top, Math.max(x1 - x0, 2), b.height);
      ctx.fillStyle = shadeEdges[i % shadeEdges.length];
      ctx.font = (11 * devicePixelRatio) + 'px system-ui,sans-serif';
      ctx.textBaseline = 'bottom';
      ctx.fillText((drills.length > 1 ? drills[w.drill].label + ' ' : '') + w.name, x0 + 3 * devicePixelRatio, b.top + b.height - 3 * devicePixelRatio);
    });
    ctx.restore();
  }

  // Mark each finding: a dashed line at its time and its short name on top.
  function markFindings(u) {
    var ctx = u.ctx, b = u.bbox, dpr = devicePixelRatio;
    ctx.save();
    ctx.beginPath();
    ctx.rect(b.left, b.top, b.width, b.height);
    ctx.clip();
    findings.forEach(function (f, i) {
      var x = u.valToPos(f.at, 'x', true);
      if (x < b.left || x > b.left + b.width) { return; }
      ctx.strokeStyle = f.drill ? 'rgba(120,0,0,0.75)' : 'rgba(176,0,0,0.9)';
      ctx.lineWidth = 1 * dpr;
      ctx.setLineDash([4 * dpr, 3 * dpr]);
      ctx.beginPath();
      ctx.moveTo(x, b.top);
      ctx.lineTo(x, b.top + b.height);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = '#b00000';
      ctx.font = (10.5 * dpr) + 'px system-ui,sans-serif';
      ctx.textBaseline = 'top';
      var label = (drills.length > 1 ? drills[f.drill].label + ' ' : '') + f.mark;
      ctx.fillText(label, x + 3 * dpr, b.top + (2 + 12 * (i % 4)) * dpr);
    });
    ctx.restore();
  }

  function chartKey(fig) {
    if (!windows.length && !findings.length) { return; }
    var p = document.createElement('p');
    p.className = 'chart-key';
    windows.forEach(function (w, i) {
      var s = document.createElement('span');
      var sw = document.createElement('i');
      sw.style.background = shades[i % shades.length];
      s.appendChild(sw);
      var to = w.to > w.from ? secs(w.to) : 'instant';
      s.appendChild(document.createTextNode((drills.length > 1 ? drills[w.drill].label + ': ' : '') + 'fault ' + w.name + ' ' + secs(w.from) + ' – ' + to));
      p.appendChild(s);
    });
    if (findings.length) {
      var s = document.createElement('span');
      s.appendChild(document.createTextNode('┆ finding: ' + findings.map(function (f) {
        return (drills.length > 1 ? drills[f.drill].label + ' ' : '') + f.mark + ' ' + secs(f.at) + (f.target ? ' ' + f.target : '');
      }).join(', ')));
      p.appendChild(s);
    }
    fig.appendChild(p);
  }

  function drawCharts() {
    if (typeof uPlot === 'undefined') { return; }
    (cd.charts || []).forEach(function (c) {
      var fig = document.getElementById('chart-' + c.id);
      if (!fig || !c.series.length) { return; }
      var box = fig.querySelector('.plot');
      var width = Math.max(420, Math.min((box.clientWidth || fig.clientWidth || 900), 1400));
      var series = [{ label: 'time', value: function (u, v) { return secs(v); } }];
      c.series.forEach(function (s) {
        var d = drills[s.drill] || {};
        series.push({
          label: s.name,
          stroke: palette[s.color % palette.length],
          width: d.dash ? 1.6 : 2,
          dash: d.dash ? [7, 4] : undefined,
          spanGaps: false,
          points: { show: false },
          value: function (u, v) { return fmt(c.unit, v); }
        });
      });
      var opts = {
        width: width,
        height: 280,
        scales: {
          x: { time: false },
          y: { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.08 : 1]; } }
        },
        axes: [
          { label: 'seconds since the load started', labelSize: 22 },
          { size: 64, values: function (u, ticks) { return ticks.map(function (v) { return fmt(c.unit, v); }); } }
        ],
        series: series,
        cursor: { sync: { key: 'drill' }, drag: { x: true, y: false } },
        legend: { live: true },
        hooks: { drawClear: [shadeWindows], draw: [markFindings] }
      };
      // uPlot draws across an undefined value (another drill's time on
      // the shared axis) and breaks the line at a null (no data).
      var rows = [cd.x].concat(c.series.map(function (s) {
        if (drills.length < 2) { return s.values; }
        var own = {};
        (drills[s.drill].at || []).forEach(function (x) { own[x] = true; });
        return s.values.map(function (v, i) { return own[cd.x[i]] ? v : undefined; });
      }));
      var plot = new uPlot(opts, rows, box);
      plot.root.setAttribute('data-chart', c.id);
      plots.push(plot);
      chartKey(fig);
    });
  }

  // The topologies (one on a report, one per drill on a comparison): node
  // states and edge figures at one frame, picked by each one's scrubber.
  function setText(node, cls, text) {
    var t = node.querySelector('.' + cls);
    if (t) { t.textContent = text; }
  }

  function topologyView(td) {
    var topo = td.topology, key = td.key || '';
    var svg = document.getElementById('topology' + key);
    var scrub = document.getElementById('scrubber' + key);
    var out = document.getElementById('scrub-time' + key);
    var view = { topology: topo, current: -1 };

    view.setFrame = function (i) {
      if (!svg || !topo.times.length) { return; }
      i = Math.max(0, Math.min(topo.times.length - 1, i | 0));
      view.current = i;
      topo.nodes.forEach(function (n) {
        var g = svg.querySelector('g.node[data-node="' + CSS.escape(n.id) + '"]');
        if (!g) { return; }
        var st = n.states[i] || 'absent';
        ['serving', 'degraded', 'crashed', 'absent'].forEach(function (s) { g.classList.toggle(s, s === st); });
        g.classList.toggle('faulted', !!n.faulted[i]);
        g.setAttribute('data-state', st);
        g.setAttribute('data-faulted', n.faulted[i] ? 'true' : 'false');
        setText(g, 'state', st + (n.faulted[i] ? ' · fault on it' : ''));
        var rate = n.rate[i], err = n.err[i];
        setText(g, 'stat', rate == null ? n.role : num(rate, 0) + '/s' + (err != null && err > 0 ? ' · ' + fmt('ratio', err) + ' err' : ''));
      });
      topo.edges.forEach(function (e) {
        var g = svg.querySelector('g.edge[data-edge="' + CSS.escape(e.id) + '"]');
        if (!g) { return; }
        var rate = e.rate[i], err = e.err[i], p99 = e.p99[i];
        var erring = err != null && err > topo.threshold && rate > 0;
        g.classList.remove('bad'); // the worst-over-the-drill look, for a page without script
        g.classList.toggle('erring', erring);
        g.classList.toggle('idle', rate == null || rate === 0);
        g.setAttribute('data-error-ratio', err == null ? '' : String(err));
        var parts = [];
        if (err != null) { parts.push(fmt('ratio', err) + ' err'); }
        if (p99 != null) { parts.push('p99 ' + fmt('ms', p99 * 1000)); }
        if (rate != null) { parts.push(num(rate, 0) + '/s'); }
        setText(g, 'elabel', parts.join(' · '));
      });
      var t = topo.times[i];
      var active = windows.filter(function (w) { return w.drill === td.drill && t >= w.from && t <= (w.to > w.from ? w.to : w.from + 1); })
        .map(function (w) { return w.name; });
      if (out) { out.textContent = 't = ' + secs(t) + (active.length ? ' · faults: ' + active.join(', ') : ' · no fault active'); }
      if (scrub && String(scrub.value) !== String(i)) { scrub.value = i; }
      plots.forEach(function (p) {
        var left = p.valToPos(t, 'x');
        if (isFinite(left)) { p.setCursor({ left: left, top: p.bbox.height / devicePixelRatio / 2 }); }
      });
    };

    view.frameAt = function (sec) {
      for (var i = 0; i < topo.times.length; i++) {
        if (topo.times[i] >= sec) { return i; }
      }
      return topo.times.length - 1;
    };

    if (scrub) {
      scrub.parentNode.hidden = false;
      scrub.addEventListener('input', function () { view.setFrame(+scrub.value); });
      view.setFrame(topo.initial || 0);
    }
    return view;
  }

  drawCharts();
  var views = (data.topologies || []).map(topologyView);
  var first = views[0] || { setFrame: function () {}, frameAt: function () { return -1; }, current: -1, topology: null };
  window.cascadelab = {
    plots: plots,
    topologies: views,
    topology: first.topology,
    setFrame: first.setFrame,
    frameAt: first.frameAt,
    frame: function () { return first.current; }
  };
}());
