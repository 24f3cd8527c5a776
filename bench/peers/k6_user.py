"""The k6 script of a peer user: one ``k6/ws`` websocket held, the behavior's calls at its Poisson rates.

Generated from ``spec.behavior_spec`` (embedded as JSON), so the rates, methods, paths and templates
are the behavior's own. Each VU is user ``__VU - 1`` of a users file (token, channels); it waits a
uniform start-up delay, joins its channels, opens its websocket and, inside the socket's event loop,
draws the next action of the merged Poisson process (``SteadySchedule``'s rule), sleeps on
``socket.setTimeout`` until it is due and calls it with ``k6/http`` (blocking the VU: one action at a
time, as a koi). ``koi_schedule_lag`` (start - scheduled, ms) and ``koi_call_from_scheduled`` (end -
scheduled, ms) are recorded for actions started inside the measurement window; ``handleSummary``
writes the window's figures to ``__ENV.SUMMARY``.
"""

from __future__ import annotations

import json
from typing import Any

T0_MARKER = "KOI_BENCH_T0="

_SCRIPT = """\
import http from 'k6/http';
import ws from 'k6/ws';
import { sleep } from 'k6';
import { SharedArray } from 'k6/data';
import { Counter, Trend } from 'k6/metrics';

const SPEC = __SPEC__;
const USERS = new SharedArray('users', function () { return JSON.parse(open(__ENV.USERS)); });
const TARGET = __ENV.TARGET;
const SPREAD = Number(__ENV.SPREAD), SETTLE = Number(__ENV.SETTLE), WINDOW = Number(__ENV.WINDOW);
const TEST_ID = 'bench-peers';

const lag = new Trend('koi_schedule_lag', true);
const callTime = new Trend('koi_call_from_scheduled', true);
const calls = new Counter('koi_calls');
const failed = new Counter('koi_failed');
const skipped = new Counter('koi_skipped');
const events = new Counter('koi_ws_events');
const opened = new Counter('koi_ws_opened');
const wsErrors = new Counter('koi_ws_errors');

export const options = {
  scenarios: {
    users: {
      executor: 'per-vu-iterations', vus: Number(__ENV.VUS), iterations: 1,
      maxDuration: (SPREAD + SETTLE + WINDOW + 120) + 's', gracefulStop: '30s',
    },
  },
  summaryTrendStats: ['p(50)', 'p(99)', 'max', 'count'],
  setupTimeout: '120s',
};

const TOTAL_RATE = SPEC.actions.reduce((sum, a) => sum + a.rate_per_second, 0);

function gap() { return -Math.log(1 - Math.random()) / TOTAL_RATE * 1000; }

function pickAction() {
  let r = Math.random() * TOTAL_RATE;
  for (const a of SPEC.actions) { r -= a.rate_per_second; if (r < 0) return a; }
  return SPEC.actions[SPEC.actions.length - 1];
}

function uuid4() {
  const h = [];
  for (let i = 0; i < 32; i++) h.push(Math.floor(Math.random() * 16).toString(16));
  h[12] = '4';
  h[16] = (8 + Math.floor(Math.random() * 4)).toString(16);
  const s = h.join('');
  return s.slice(0, 8) + '-' + s.slice(8, 12) + '-' + s.slice(12, 16) + '-' + s.slice(16, 20) + '-' + s.slice(20);
}

function randomText() {
  const n = 3 + Math.floor(Math.random() * 10), out = [];
  for (let i = 0; i < n; i++) out.push(SPEC.words[Math.floor(Math.random() * SPEC.words.length)]);
  return out.join(' ');
}

function variable(name, user, call, newest) {
  switch (name) {
    case 'koi.index': return String(user.index);
    case 'koi.id': return TEST_ID + ':' + user.index;
    case 'user.id': return user.user;
    case 'user.name': return user.name;
    case 'workspace': return user.workspace;
    case 'channel.id': return user.channels[call.channel];
    case 'channel.name': return user.channel_names[call.channel];
    case 'message.ts': return newest[user.channels[call.channel]];
    case 'random.int': return String(Math.floor(Math.random() * 1e9));
    case 'random.uuid': return uuid4();
    case 'random.text': return randomText();
    case 'now.ts': return (Date.now() / 1000).toFixed(6);
  }
  return undefined;
}

function renderTemplate(parts, values) {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') { out += p; continue; }
    const v = values(p.v);
    if (v === undefined) throw new Error('skip');
    out += v;
  }
  return out;
}

function renderJson(value, values) {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => renderJson(item, values));
  if ('$t' in value) return renderTemplate(value['$t'], values);
  const out = {};
  for (const k of Object.keys(value)) out[k] = renderJson(value[k], values);
  return out;
}

function query(params) {
  return Object.keys(params).map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(params[k])).join('&');
}

function call(user, label, method, path, params, body, inWindow, newest, scheduledAt) {
  let url = TARGET + path;
  if (params) url += '?' + query(params);
  const options = { headers: { Authorization: 'Bearer ' + user.token }, tags: { name: label } };
  let payload = null;
  if (body !== null && body !== undefined) {
    payload = JSON.stringify(body);
    options.headers['Content-Type'] = 'application/json';
  }
  const res = http.request(method, url, payload, options);
  if (inWindow) callTime.add(Date.now() - scheduledAt);
  let answer = null;
  try { answer = JSON.parse(res.body); } catch (e) { answer = null; }
  if (inWindow) {
    calls.add(1);
    if (res.status !== 200 || !answer || answer.ok !== true) failed.add(1);
  }
  if (answer && params && params.channel && Array.isArray(answer.messages) && answer.messages.length) {
    const ts = answer.messages[0].ts;
    if (typeof ts === 'string') newest[params.channel] = ts;
  }
}

function perform(user, action, scheduledAt, newest, windowStart, windowEnd) {
  const start = Date.now();
  const inWindow = start >= windowStart && start < windowEnd;
  if (inWindow) lag.add(Math.max(0, start - scheduledAt));
  const callFacts = { channel: Math.floor(Math.random() * user.channels.length) };
  const memo = {};
  const values = (name) => {
    if (!(name in memo)) memo[name] = variable(name, user, callFacts, newest);
    return memo[name];
  };
  let path, params = null, body = null;
  try {
    path = renderTemplate(action.path['$t'], values);
    if (action.params) {
      params = {};
      for (const k of Object.keys(action.params)) params[k] = renderTemplate(action.params[k]['$t'], values);
    }
    if (action.body !== null) body = renderJson(action.body, values);
  } catch (e) {
    if (inWindow) skipped.add(1);
    return;
  }
  if (action.stamp_sent_at) body.client_sent_at = start / 1000;
  call(user, action.label, action.method, path, params, body, inWindow, newest, scheduledAt);
}

export function setup() {
  const t0 = Date.now();
  console.log('__T0_MARKER__' + (t0 / 1000));
  return { t0: t0 };
}

export default function (data) {
  const user = USERS[__VU - 1];
  const windowStart = data.t0 + (SPREAD + SETTLE) * 1000, windowEnd = windowStart + WINDOW * 1000;
  sleep(Math.random() * SPREAD);
  const newest = {};
  for (const channel of user.channels) {
    call(user, SPEC.join.label, SPEC.join.method, SPEC.join.path, null, { channel: channel }, false, newest, 0);
  }
  const wsUrl = TARGET.replace('http://', 'ws://').replace('https://', 'wss://') + SPEC.websocket.path;
  ws.connect(wsUrl, { headers: { Authorization: 'Bearer ' + user.token } }, function (socket) {
    let nextAt = Date.now() + gap();
    function fire() {
      const at = nextAt;
      nextAt = at + gap();
      perform(user, pickAction(), at, newest, windowStart, windowEnd);
      socket.setTimeout(fire, Math.max(0, Math.round(nextAt - Date.now())));
    }
    socket.on('open', function () {
      opened.add(1);
      socket.setTimeout(fire, Math.max(0, Math.round(nextAt - Date.now())));
      socket.setInterval(function () { socket.ping(); }, SPEC.websocket.ping_interval_seconds * 1000);
      socket.setTimeout(function () { socket.close(); }, Math.max(0, windowEnd - Date.now()) + 2000);
    });
    socket.on('message', function (message) {
      const now = Date.now();
      if (now >= windowStart && now < windowEnd) events.add(1);
      let event;
      try { event = JSON.parse(message); } catch (e) { return; }
      if (event && event.type === 'message' && typeof event.channel === 'string' && typeof event.ts === 'string') {
        newest[event.channel] = event.ts;
      }
    });
    socket.on('error', function () { wsErrors.add(1); });
  });
}

function values(metric) { return metric ? metric.values : null; }

export function handleSummary(data) {
  const m = data.metrics;
  const out = {
    lag: values(m.koi_schedule_lag), call: values(m.koi_call_from_scheduled),
    calls: values(m.koi_calls), failed: values(m.koi_failed),
    skipped: values(m.koi_skipped), events: values(m.koi_ws_events), opened: values(m.koi_ws_opened),
    ws_errors: values(m.koi_ws_errors), http_reqs: values(m.http_reqs),
  };
  return { [__ENV.SUMMARY]: JSON.stringify(out) };
}
"""


def k6_script(spec: dict[str, Any]) -> str:
    """The k6 script of ``spec`` (see ``spec.behavior_spec``)."""
    return _SCRIPT.replace("__SPEC__", json.dumps(spec, sort_keys=True)).replace("__T0_MARKER__", T0_MARKER)


def embedded_spec(script: str) -> dict[str, Any]:
    """The spec a generated script carries (what the script's users do)."""
    line = next(line for line in script.splitlines() if line.startswith("const SPEC = "))
    return dict(json.loads(line.removeprefix("const SPEC = ").removesuffix(";")))
