// InferGate's live page. Every second it reads the admin listener's /metrics (Prometheus text,
// parsed here) and /dashboard/decisions (JSON), and redraws. Nothing comes from anywhere else:
// the charts are SVG drawn below.
//
// A number shown straight from one /metrics sample carries data-metric (the family),
// data-labels (its labels, sorted, "k=v" joined with ",") and data-value (the value as parsed),
// so a test can hold the page against /metrics.
'use strict';

(() => {
  const POLL_MS = 1000;
  const HISTORY = 60;  // points per chart: the last minute at one poll a second

  // An admin token, when the listener asks for one: /dashboard#token=<token>.
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  const requestHeaders = token ? { Authorization: 'Bearer ' + token } : {};

  // ---- The Prometheus text format --------------------------------------------------------

  function parseValue(text) {
    switch (text) {
      case 'NaN': return NaN;
      case '+Inf': case 'Inf': return Infinity;
      case '-Inf': return -Infinity;
      default: return text === '' ? NaN : Number(text);
    }
  }

  // The samples of an exposition: Map name -> [{labels, value}], in the page's order.
  function parseExposition(text) {
    const families = new Map();
    for (const raw of text.split('\n')) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line === '' || line.startsWith('#')) continue;
      let i = 0;
      while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') i++;
      const name = line.slice(0, i);
      const labels = {};
      if (line[i] === '{') {
        i++;
        for (;;) {
          while (line[i] === ' ' || line[i] === ',') i++;
          if (i >= line.length) break;
          if (line[i] === '}') { i++; break; }
          const eq = line.indexOf('=', i);
          if (eq < 0 || line[eq + 1] !== '"') { i = line.length; break; }
          const key = line.slice(i, eq).trim();
          let value = '';
          for (i = eq + 2; i < line.length && line[i] !== '"'; i++) {
            if (line[i] === '\\' && i + 1 < line.length) {
              i++;
              value += line[i] === 'n' ? '\n' : line[i];
            } else {
              value += line[i];
            }
          }
          i++;  // the closing quote
          labels[key] = value;
        }
      }
      const rest = line.slice(i).trim().split(/\s+/);
      if (name === '' || rest.length === 0) continue;
      let list = families.get(name);
      if (!list) families.set(name, (list = []));
      list.push({ labels, value: parseValue(rest[0]) });
    }
    return families;
  }

  function canonicalLabels(labels) {
    return Object.keys(labels).sort().map((k) => k + '=' + labels[k]).join(',');
  }

  const samplesOf = (m, name) => m.get(name) || [];

  function findSample(m, name, labels) {
    const key = canonicalLabels(labels);
    return samplesOf(m, name).find((s) => canonicalLabels(s.labels) === key);
  }

  // Sum of a family's samples grouped by one label: Map label value -> sum.
  function sumBy(m, name, label) {
    const out = new Map();
    for (const s of samplesOf(m, name)) {
      const k = s.labels[label] || '';
      out.set(k, (out.get(k) || 0) + s.value);
    }
    return out;
  }

  const sumOf = (m, name) => samplesOf(m, name).reduce((a, s) => a + s.value, 0);

  // histogram_quantile over `name`_bucket samples passing `keep`, summed by their `le`.
  function histogramQuantile(m, name, q, keep) {
    const byBound = new Map();
    for (const s of samplesOf(m, name + '_bucket')) {
      if (keep && !keep(s.labels)) continue;
      const le = parseValue(s.labels.le);
      byBound.set(le, (byBound.get(le) || 0) + s.value);
    }
    const buckets = [...byBound.entries()].sort((a, b) => a[0] - b[0]);
    if (buckets.length === 0) return NaN;
    const total = buckets[buckets.length - 1][1];
    if (!(total > 0)) return NaN;
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (const [bound, count] of buckets) {
      if (count >= rank) {
        if (bound === Infinity) return lower;
        const inBucket = count - below;
        return inBucket > 0 ? lower + ((bound - lower) * (rank - below)) / inBucket : bound;
      }
      lower = bound;
      below = count;
    }
    return lower;
  }

  // ---- Formatting and elements ----------------------------------------------------------

  function fmt(v, digits = 3) {
    if (v === undefined) return '–';
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    const a = Math.abs(v);
    if (a >= 100) return v.toFixed(0);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(digits).replace(/0+$/, '').replace(/\.$/, '');
  }
  const percent = (v) => (v === undefined ? '–' : (100 * v).toFixed(1) + ' %');
  const seconds = (v) => {
    if (v === undefined || Number.isNaN(v)) return '–';
    return v < 1 ? (1000 * v).toFixed(0) + ' ms' : v.toFixed(2) + ' s';
  };

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A number from one /metrics sample, marked so it can be checked against /metrics.
  function metricEl(tag, m, name, labels, format = fmt, className = '') {
    const e = el(tag, className);
    const sample = findSample(m, name, labels);
    e.setAttribute('data-metric', name);
    e.setAttribute('data-labels', canonicalLabels(labels));
    if (sample) {
      e.setAttribute('data-value', String(sample.value));
      e.textContent = format(sample.value);
    } else {
      e.setAttribute('data-absent', '');
      e.textContent = '–';
    }
    return e;
  }

  function table(headings, rows, className = '') {
    const t = el('table', className);
    const head = el('tr');
    headings.forEach((h, i) => head.append(el('th', i === 0 ? 'text' : '', h)));
    t.append(head);
    for (const r of rows) t.append(r);
    return t;
  }

  function row(cells) {
    const tr = el('tr');
    for (const c of cells) tr.append(c instanceof Node ? c : el('td', '', c));
    return tr;
  }

  function replace(id, ...children) {
    document.getElementById(id).replaceChildren(...children);
  }

  // ---- Charts: SVG drawn here ------------------------------------------------------------

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  }

  // A sparkline of `values` (the last HISTORY polls, oldest first) scaled to its maximum.
  function sparkline(values, width = 150, height = 36) {
    const s = svg('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}` });
    const finite = values.map((v) => (Number.isFinite(v) ? v : 0));
    const max = Math.max(1e-9, ...finite);
    const step = width / (HISTORY - 1);
    const x0 = width - step * (finite.length - 1);
    const points = finite.map((v, i) => {
      const x = x0 + step * i;
      const y = height - 2 - ((height - 4) * v) / max;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    if (points.length > 0) {
      const area = [`${x0.toFixed(1)},${height}`, ...points, `${width},${height}`];
      s.append(svg('polygon', { points: area.join(' ') }));
      s.append(svg('polyline', { points: points.join(' ') }));
    }
    const title = svg('title', {});
    title.textContent = 'max ' + fmt(max === 1e-9 ? 0 : max);
    s.append(title);
    return s;
  }

  function chart(label, values) {
    const c = el('div', 'chart');
    c.append(el('div', 'label', label + ' · now ' + fmt(values[values.length - 1] ?? 0)));
    c.append(sparkline(values));
    return c;
  }

  // A horizontal bar for a 0..1 share.
  function bar(v) {
    const w = 50;
    const b = svg('svg', { class: 'bar', width: w, height: 8 });
    b.append(svg('rect', { class: 'track', x: 0, y: 0, width: w, height: 8, rx: 2 }));
    const share = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
    b.append(svg('rect', { class: share > 0.9 ? 'fill high' : 'fill', x: 0, y: 0, width: (w * share).toFixed(1), height: 8, rx: 2 }));
    return b;
  }

  // ---- History between polls: rates and chart series -------------------------------------

  const history = [];  // {rate, inFlight: Map pool -> n, queue: Map pool -> n}
  const counts = [];   // {t, total, byModel: Map}: request counters over the last RATE_WINDOW
  const RATE_WINDOW = 5;  // seconds

  // `now`: seconds on the gateway's clock when it rendered /metrics, so rates hold even where
  // the page's own timers run on virtual time (headless Chromium).
  function remember(m, now) {
    // Requests: the per-model counters where they exist, else the gateway's own total.
    const byModel = sumBy(m, 'llm_d_epp_request_total', 'model_name');
    const total = byModel.size > 0 ? [...byModel.values()].reduce((a, b) => a + b, 0)
      : sumOf(m, 'infergate_requests_total');
    counts.push({ t: now, total, byModel });
    while (counts.length > 2 && now - counts[1].t >= RATE_WINDOW) counts.shift();
    const rates = { total: 0, byModel: new Map() };
    const first = counts[0];
    if (now > first.t) {
      const dt = now - first.t;
      rates.total = Math.max(0, total - first.total) / dt;
      for (const [model, n] of byModel)
        rates.byModel.set(model, Math.max(0, n - (first.byModel.get(model) || 0)) / dt);
    }
    history.push({
      rate: rates.total,
      inFlight: sumBy(m, 'infergate_endpoint_in_flight_requests', 'pool'),
      queue: sumBy(m, 'infergate_endpoint_queue_size', 'pool'),
    });
    while (history.length > HISTORY) history.shift();
    return rates;
  }

  const seriesOf = (pick) => history.map(pick);

  // ---- Sections --------------------------------------------------------------------------

  function renderOverview(m, rates) {
    const card = (label, content) => {
      const c = el('div', 'card');
      c.append(el('div', 'label', label), content);
      return c;
    };
    const rateCard = el('div', 'card');
    rateCard.append(el('div', 'label', 'request rate (/s)'), el('div', 'big', fmt(rates.total)),
      sparkline(seriesOf((h) => h.rate)));
    replace('overview',
      card('requests', metricEl('div', m, 'infergate_requests_total', {}, fmt, 'big')),
      card('errors', metricEl('div', m, 'infergate_request_errors_total', {}, fmt, 'big')),
      card('in flight', metricEl('div', m, 'infergate_requests_in_flight', {}, fmt, 'big')),
      card('retried', metricEl('div', m, 'infergate_requests_retried_total', {}, fmt, 'big')),
      card('prefix hit ratio', el('div', 'big', prefixHitRatio(m, null))),
      rateCard);
  }

  // The gateway's: the mean of the prefix indexer's hit-ratio histogram. A pool's: the prompt
  // characters its chosen endpoints already held over those looked up.
  function prefixHitRatio(m, pool) {
    if (pool === null) {
      const name = 'inference_extension_prefix_indexer_hit_ratio';
      const sum = samplesOf(m, name + '_sum').reduce((a, s) => a + s.value, 0);
      const count = samplesOf(m, name + '_count').reduce((a, s) => a + s.value, 0);
      return count > 0 ? percent(sum / count) : '–';
    }
    const ofPool = (name) => samplesOf(m, name).filter((s) => s.labels.pool === pool).reduce((a, s) => a + s.value, 0);
    const looked = ofPool('infergate_prefix_prompt_chars_total');
    return looked > 0 ? percent(ofPool('infergate_prefix_matched_chars_total') / looked) : '–';
  }

  function renderPools(m) {
    const pools = samplesOf(m, 'inference_pool_ready_pods').map((s) => s.labels.name);
    if (pools.length === 0) {
      replace('pools', el('div', 'empty', 'No pools configured.'));
      return;
    }
    const cards = pools.map((pool) => {
      const c = el('div', 'card pool');
      c.append(el('h3', '', pool));
      const facts = el('div', 'facts');
      const fact = (label, value) => facts.append(el('span', 'label', label), value);
      const labels = { name: pool };
      fact('ready', metricEl('span', m, 'inference_pool_ready_pods', labels, fmt, 'v'));
      fact('avg KV use', metricEl('span', m, 'inference_pool_average_kv_cache_utilization', labels, percent, 'v'));
      fact('avg queue', metricEl('span', m, 'inference_pool_average_queue_size', labels, fmt, 'v'));
      fact('prefix hits', el('span', 'v', prefixHitRatio(m, pool)));
      c.append(facts);
      const charts = el('div', 'charts');
      charts.append(chart('in flight', seriesOf((h) => h.inFlight.get(pool) || 0)),
        chart('engine queue', seriesOf((h) => h.queue.get(pool) || 0)));
      c.append(charts);
      return c;
    });
    replace('pools', ...cards);
  }

  function renderEndpoints(m) {
    const endpoints = samplesOf(m, 'infergate_endpoint_in_flight_requests');
    if (endpoints.length === 0) {
      replace('endpoints', el('div', 'empty', 'No endpoints.'));
      return;
    }
    const rows = [];
    let pool = null;
    for (const { labels } of endpoints) {
      if (labels.pool !== pool) {
        pool = labels.pool;
        const g = el('tr', 'group');
        const td = el('td', '', 'pool ' + pool);
        td.colSpan = 9;
        g.append(td);
        rows.push(g);
      }
      const healthy = findSample(m, 'infergate_endpoint_scrape_healthy', labels);
      const ejected = findSample(m, 'infergate_endpoint_ejected', labels);
      const scrape = metricEl('td', m, 'infergate_endpoint_scrape_healthy', labels,
        (v) => (v === 1 ? 'up' : 'failing'));
      scrape.classList.add('text');
      const badge = (e, good) => {
        const text = e.textContent;
        e.textContent = '';
        e.append(el('span', 'badge ' + (good ? 'good' : 'bad'), text));
        return e;
      };
      badge(scrape, healthy && healthy.value === 1);
      const ej = metricEl('td', m, 'infergate_endpoint_ejected', labels, (v) => (v === 1 ? 'ejected' : 'no'));
      if (ejected && ejected.value === 1) badge(ej, false);
      const kv = metricEl('td', m, 'infergate_endpoint_kv_cache_utilization', labels, percent);
      const kvSample = findSample(m, 'infergate_endpoint_kv_cache_utilization', labels);
      if (kvSample) kv.append(bar(kvSample.value));
      const name = el('td', 'text');
      name.append(el('b', '', labels.endpoint), el('span', 'hint', labels.address));
      rows.push(row([
        name, scrape, ej,
        metricEl('td', m, 'infergate_endpoint_queue_size', labels),
        metricEl('td', m, 'infergate_endpoint_running_requests', labels),
        kv,
        metricEl('td', m, 'infergate_endpoint_in_flight_requests', labels),
        metricEl('td', m, 'infergate_endpoint_requests_total', labels),
        metricEl('td', m, 'infergate_endpoint_scrape_age_seconds', labels, seconds),
      ]));
    }
    replace('endpoints', table(['endpoint', 'scrape', 'ejected', 'queue', 'running', 'KV use',
      'in flight', 'requests', 'scrape age'], rows));
  }

  function renderModels(m, rates) {
    const totals = sumBy(m, 'llm_d_epp_request_total', 'model_name');
    if (totals.size === 0) {
      replace('models', el('div', 'empty', 'No requests by model yet.'));
      return;
    }
    const errors = sumBy(m, 'llm_d_epp_request_error_total', 'model_name');
    const ttft = 'llm_d_epp_request_ttft_seconds';
    const rows = [...totals.keys()].sort().map((model) => {
      const ofModel = (l) => l.model_name === model;
      return row([
        el('td', 'text', model || '(none)'),
        fmt(rates.byModel.get(model) || 0),
        fmt(totals.get(model)),
        fmt(errors.get(model) || 0),
        seconds(histogramQuantile(m, ttft, 0.5, ofModel)),
        seconds(histogramQuantile(m, ttft, 0.9, ofModel)),
      ]);
    });
    replace('models', table(['model', 'rate /s', 'requests', 'errors', 'TTFT p50', 'TTFT p90'], rows));
  }

  function renderFlow(m) {
    const queues = samplesOf(m, 'inference_extension_flow_control_queue_size');
    const saturation = samplesOf(m, 'inference_extension_flow_control_pool_saturation');
    if (queues.length === 0 && saturation.length === 0) {
      replace('flow', el('div', 'empty', 'Flow control is off, or no pool has queued yet.'));
      return;
    }
    const rows = saturation.map(({ labels }) => row([
      el('td', 'text', labels.inference_pool),
      el('td', 'text', 'saturation'),
      metricEl('td', m, 'inference_extension_flow_control_pool_saturation', labels),
    ]));
    for (const { labels } of queues) {
      rows.push(row([
        el('td', 'text', labels.inference_pool),
        el('td', 'text', 'queued, priority ' + labels.priority),
        metricEl('td', m, 'inference_extension_flow_control_queue_size', labels),
      ]));
    }
    replace('flow', table(['pool', 'what', 'value'], rows));
  }

  // "ep-1  5.25 = queue 2 + kv-cache-utilization 1.45 + ...": a total and its scorers' shares.
  function why(e) {
    const w = el('td', 'why');
    w.append(el('b', '', e.endpoint), ' ' + fmt(e.total));
    const shares = e.shares.map((s) => `${s.scorer.replace(/-scorer$/, '')} ${fmt(s.weighted)}`);
    w.append(el('br'), shares.length > 0 ? '= ' + shares.join(' + ') : '(no scorers)');
    return w;
  }

  function renderDecisions(data) {
    if (!data) return;
    const decisions = data.decisions || [];
    if (decisions.length === 0) {
      replace('decisions', el('div', 'empty',
        'No decisions yet: they are recorded while this page is open.'));
      return;
    }
    const rows = decisions.slice(0, 8).map((d) => {
      const runner = d.runners_up && d.runners_up[0];
      return row([
        el('td', 'text', seconds(d.age_seconds) + ' ago'),
        el('td', 'text', d.pool),
        el('td', 'text', d.target_model),
        `${d.candidates} of ${d.endpoints}`,
        why(d.chosen),
        runner ? why(runner) : el('td', 'why', '(no other candidate)'),
        el('td', 'text', d.profile + ' / ' + d.picker),
      ]);
    });
    replace('decisions', table(['when', 'pool', 'model', 'candidates', 'chosen: total = weighted scores',
      'runner-up', 'profile / picker'], rows, 'decisions'));
  }

  // ---- Polling ---------------------------------------------------------------------------

  // The body and, for /metrics, when the gateway rendered it (seconds on its clock).
  async function fetchText(path) {
    const res = await fetch(path, { headers: requestHeaders, cache: 'no-store' });
    if (!res.ok) {
      const hint = res.status === 401 ? ' (open /dashboard#token=<admin token>)' : '';
      throw new Error(`${path}: HTTP ${res.status}${hint}`);
    }
    const clock = Number(res.headers.get('x-infergate-clock-seconds'));
    return { text: await res.text(), clock: clock > 0 ? clock : performance.now() / 1000 };
  }

  function setStatus(text, error) {
    const s = document.getElementById('status');
    s.textContent = text;
    s.classList.toggle('error', error);
  }

  async function poll() {
    try {
      const [metrics, decisions] = await Promise.all([
        fetchText('/metrics'),
        fetchText('/dashboard/decisions').catch(() => null),
      ]);
      const m = parseExposition(metrics.text);
      const rates = remember(m, metrics.clock);
      renderOverview(m, rates);
      renderPools(m);
      renderEndpoints(m);
      renderModels(m, rates);
      renderFlow(m);
      renderDecisions(decisions ? JSON.parse(decisions.text) : null);
      setStatus('updated ' + new Date().toLocaleTimeString('en-GB'), false);
      document.body.setAttribute('data-polls', String((Number(document.body.getAttribute('data-polls')) || 0) + 1));
    } catch (e) {
      setStatus(String(e.message || e), true);
    }
    setTimeout(poll, POLL_MS);
  }

  poll();
})();
