#!/usr/bin/env node
// A Segment -> Pendo relay in plain Node.js (node:http, node:crypto; no dependencies).
//
// Receives Segment's classic webhook (one event per POST, or a JSON array of events as Webhooks (Actions)
// batches them), checks X-Signature when SEGMENT_SHARED_SECRET is set, and forwards each event to Pendo
// BEFORE answering, so that once Segment has its 2xx, Pendo has the data:
//   track    -> POST {PENDO_URL}/data/track                                       (x-pendo-integration-key: PENDO_TRACK_SECRET)
//   identify -> POST {PENDO_URL}/api/v1/metadata/visitor/custom/value?create=true (x-pendo-integration-key: PENDO_INTEGRATION_KEY)
//   group    -> POST {PENDO_URL}/api/v1/metadata/account/custom/value?create=true
//   page, screen, alias: nothing.
// Answers: 200 (Pendo took it, or refused part of it with a 4xx: retrying would not help, the refusals are
// listed in "refused"); 502 when Pendo answered 5xx or could not be reached (Segment retries); 401 bad or
// missing signature; 400 not JSON; 413 body over 1 MiB; 405 other methods.
//
// Environment: PORT (0: any free port), HOST (127.0.0.1), PENDO_URL, PENDO_TRACK_SECRET,
// PENDO_INTEGRATION_KEY, SEGMENT_SHARED_SECRET (optional). Prints {"relay": "http://HOST:PORT"} once listening;
// exits 0 on SIGINT or SIGTERM.
'use strict';

const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');

const MAX_BODY = 1 << 20;
const PENDO_TIMEOUT_MS = 4000;

function fail(message) {
  process.stderr.write(`relay: ${message}\n`);
  process.exit(2);
}

const env = process.env;
const HOST = env.HOST || '127.0.0.1';
const PORT = env.PORT === undefined || env.PORT === '' ? 0 : Number(env.PORT);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) fail(`PORT must be a port number (got ${JSON.stringify(env.PORT)})`);
for (const name of ['PENDO_URL', 'PENDO_TRACK_SECRET', 'PENDO_INTEGRATION_KEY']) {
  if (!env[name]) fail(`${name} is required`);
}
let pendo;
try {
  pendo = new URL(env.PENDO_URL);
} catch (e) {
  fail(`PENDO_URL must be an http(s) URL (got ${JSON.stringify(env.PENDO_URL)})`);
}
if (pendo.protocol !== 'http:' && pendo.protocol !== 'https:') fail(`PENDO_URL must be an http(s) URL (got ${JSON.stringify(env.PENDO_URL)})`);
const PENDO_PREFIX = pendo.pathname.replace(/\/+$/, '');
const TRACK_SECRET = env.PENDO_TRACK_SECRET;
const INTEGRATION_KEY = env.PENDO_INTEGRATION_KEY;
const SECRET = env.SEGMENT_SHARED_SECRET || null;

const client = pendo.protocol === 'https:' ? https : http;
const agent = new client.Agent({ keepAlive: true });

// -- reading Segment events ---------------------------------------------------------------------------------

// get(event, ['context', 'page', 'url']) as Segment's mapping-kit reads a path: a falsy value stops the walk.
function get(value, keys) {
  for (const key of keys) {
    if (!value) return value;
    value = typeof value === 'object' && !Array.isArray(value) && Object.prototype.hasOwnProperty.call(value, key) ? value[key] : undefined;
    if (value === undefined) return undefined;
  }
  return value;
}

// An id as Pendo takes it: a string; numbers become strings (1 -> "1", 1.5 -> "1.5"); null, "", objects,
// arrays and booleans are not ids.
function toId(value) {
  if (value === undefined || value === null || value === '' || typeof value === 'object' || typeof value === 'boolean') return null;
  return String(value);
}

// Milliseconds since the epoch of an ISO-8601 date or date-time; no offset means UTC (Date.parse would read
// a date-time without offset as local time, and rolls 2024-02-30 over to March), so the fields are read
// here and the arithmetic is done in UTC.
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;
function isoToMs(text) {
  const m = ISO.exec(text);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  let ms = dayMs(year, month, day);
  if (m[4] !== undefined) {
    const [h, mi, s] = [Number(m[4]), Number(m[5]), Number(m[6] || 0)];
    if (h > 23 || mi > 59 || s > 60) return null;
    ms += ((h * 60 + mi) * 60 + s) * 1000;
    if (m[7]) ms += Number((m[7] + '00').slice(0, 3));
  }
  const offset = m[8];
  if (offset && offset !== 'Z') {
    const digits = offset.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (hours > 23 || minutes > 59) return null;
    ms -= (offset[0] === '+' ? 1 : -1) * (hours * 60 + minutes) * 60000;
  }
  return ms;
}
function daysIn(year, month) {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}
function dayMs(year, month, day) {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not
  d.setUTCHours(0, 0, 0, 0);
  return d.getTime();
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// The Pendo requests for one Segment event: [{path, key, body}].
function pendoCalls(event) {
  if (!isPlainObject(event)) return [];
  switch (event.type) {
    case 'track': return track(event);
    case 'identify': return metadata(event.userId, event.traits, '/api/v1/metadata/visitor/custom/value?create=true', 'visitorId');
    case 'group': return metadata(event.groupId, event.traits, '/api/v1/metadata/account/custom/value?create=true', 'accountId');
    default: return []; // page, screen, alias: nothing in Pendo
  }
}

function track(event) {
  const name = event.event;
  if (typeof name !== 'string' || name === '') return []; // Pendo requires an event name
  const visitorId = toId(event.userId);
  if (visitorId === null) return []; // the Track Events API needs a visitorId: anonymous tracks are not sent
  const inProperties = get(event, ['properties', 'groupId']);
  const accountId = toId(inProperties !== undefined && inProperties !== null ? inProperties : get(event, ['context', 'groupId']));
  let timestamp = null;
  if (typeof event.timestamp === 'string') timestamp = isoToMs(event.timestamp);
  else if (typeof event.timestamp === 'number' && Number.isFinite(event.timestamp)) timestamp = Math.trunc(event.timestamp);
  if (timestamp === null) timestamp = Date.now(); // Pendo requires a timestamp; Segment always sets one
  const context = {};
  const fields = [['ip', ['ip']], ['userAgent', ['userAgent']], ['url', ['page', 'url']], ['title', ['page', 'title']]];
  for (const [field, path] of fields) {
    const value = get(event, ['context', ...path]);
    if (value !== undefined) context[field] = value;
  }
  const body = { type: 'track', event: name, visitorId };
  if (accountId !== null) body.accountId = accountId;
  body.timestamp = timestamp;
  body.properties = isPlainObject(event.properties) ? event.properties : {};
  body.context = context;
  return [{ path: '/data/track', key: TRACK_SECRET, body }];
}

function metadata(rawId, traits, path, idField) {
  const id = toId(rawId);
  if (id === null) return []; // the Metadata API needs an id
  if (!isPlainObject(traits) || Object.keys(traits).length === 0) return []; // nothing to set
  return [{ path, key: INTEGRATION_KEY, body: [{ [idField]: id, values: traits }] }];
}

// -- talking to Pendo ---------------------------------------------------------------------------------------

async function postToPendo(call) {
  const data = Buffer.from(JSON.stringify(call.body), 'utf8');
  const first = await sendOnce(data, call);
  // Pendo may close an idle keep-alive connection as it is reused: once more, on a fresh one.
  return first.retry ? sendOnce(data, call) : first;
}

function sendOnce(data, call) {
  return new Promise((resolve) => {
    const req = client.request(
      {
        protocol: pendo.protocol,
        hostname: pendo.hostname.replace(/^\[|\]$/g, ''),
        port: pendo.port || undefined,
        path: PENDO_PREFIX + call.path,
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': data.length,
          'x-pendo-integration-key': call.key,
          'User-Agent': 'segpendo-node-relay/1.0',
        },
        timeout: PENDO_TIMEOUT_MS,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => resolve({ status: null, text: String(e.message || e) }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PENDO_TIMEOUT_MS} ms`)));
    req.on('error', (e) => {
      const retry = req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE');
      resolve({ status: null, text: `${e.code || 'error'}: ${e.message}`, retry });
    });
    req.end(data);
  });
}

// -- the webhook --------------------------------------------------------------------------------------------

function answer(res, status, body, headers) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...(headers || {}) });
  res.end(text);
}

function signatureProblem(raw, parsed, given) {
  if (!given) return 'X-Signature: required (HMAC-SHA1 of the body with the shared secret)';
  const claimed = Buffer.from(String(given).trim().toLowerCase(), 'latin1');
  const matches = (bytes) => {
    const expected = Buffer.from(crypto.createHmac('sha1', SECRET).update(bytes).digest('hex'), 'latin1');
    return expected.length === claimed.length && crypto.timingSafeEqual(expected, claimed);
  };
  if (matches(raw)) return null;
  // A batch: Segment signs JSON.stringify(body[0]), the first item only (as its documentation shows).
  if (Array.isArray(parsed) && parsed.length > 0 && matches(Buffer.from(JSON.stringify(parsed[0]), 'utf8'))) return null;
  return 'X-Signature: does not match the body (wrong shared secret, or the body was changed)';
}

// Segment delivers at least once: the messageIds of the last REMEMBERED events forwarded, so that a
// re-delivery reaches Pendo once (an event is remembered once Pendo took, or refused, all its requests).
const REMEMBERED = 100000;
const forwardedIds = new Set();

function remember(event) {
  const id = isPlainObject(event) ? event.messageId : undefined;
  if (typeof id !== 'string' || id === '') return;
  forwardedIds.delete(id);
  forwardedIds.add(id);
  if (forwardedIds.size > REMEMBERED) forwardedIds.delete(forwardedIds.values().next().value);
}

async function forward(events) {
  let forwarded = 0;
  let ignored = 0;
  let again = 0;
  const refused = [];
  for (let index = 0; index < events.length; index++) {
    const event = events[index];
    if (isPlainObject(event) && typeof event.messageId === 'string' && forwardedIds.has(event.messageId)) {
      again++; // a re-delivery: Pendo has it
      continue;
    }
    const calls = pendoCalls(event);
    if (calls.length === 0) ignored++;
    for (const call of calls) {
      const { status, text } = await postToPendo(call);
      if (status === null) return [502, { error: `Pendo could not be reached: ${text}`, event: index, forwarded }];
      // Pendo down (5xx) or busy (429): Segment is asked to deliver the event again
      if (status >= 500 || status === 429) {
        return [status === 429 ? 503 : 502, { error: `Pendo answered ${status}`, event: index, forwarded }];
      }
      if (status >= 400) refused.push({ event: index, path: call.path.split('?')[0], status, reason: text.slice(0, 300) });
      else forwarded++;
    }
    remember(event);
  }
  const body = { ok: true, events: events.length, forwarded, ignored };
  if (again) body.already_forwarded = again;
  if (refused.length) {
    body.refused = refused;
    body.note = 'Pendo refused some requests (4xx): retrying would not help, so they are not retried';
  }
  return [200, body];
}

function handle(req, res) {
  if (!['POST', 'PUT', 'PATCH'].includes(req.method)) {
    req.resume();
    return answer(res, 405, { error: `${req.method} is not allowed: Segment webhooks are POST` }, { Allow: 'POST, PUT, PATCH' });
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY) {
    const refuse = () => answer(res, 413, { error: `body of ${declared} bytes is over ${MAX_BODY}` }, { Connection: 'close' });
    if (declared > 4 * MAX_BODY) return refuse();
    req.resume(); // read it, so that a client still sending it gets the answer
    return req.on('end', refuse);
  }
  const chunks = [];
  let size = 0;
  let tooBig = false;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      if (!tooBig) answer(res, 413, { error: `body is over ${MAX_BODY} bytes` }, { Connection: 'close' });
      tooBig = true;
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (tooBig) return;
    const raw = Buffer.concat(chunks);
    let parsed;
    let parseError = null;
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
    } catch (e) {
      parseError = e;
    }
    if (SECRET !== null) {
      const problem = signatureProblem(raw, parseError ? undefined : parsed, req.headers['x-signature']);
      if (problem) return answer(res, 401, { error: problem });
    }
    if (parseError) return answer(res, 400, { error: `body is not JSON: ${parseError.message}` });
    let events;
    if (Array.isArray(parsed)) events = parsed;
    else if (isPlainObject(parsed)) events = [parsed];
    else return answer(res, 400, { error: 'body must be a Segment event (a JSON object) or a JSON array of events' });
    forward(events).then(
      ([status, body]) => answer(res, status, body),
      (e) => answer(res, 500, { error: `relay failed: ${e && e.message}` }),
    );
  });
}

const server = http.createServer(handle);
server.keepAliveTimeout = 30000;
server.on('error', (e) => {
  process.stderr.write(`relay: cannot listen on ${HOST}:${PORT}: ${e.message}\n`);
  process.exit(1);
});
server.listen(PORT, HOST, () => {
  const host = HOST.includes(':') ? `[${HOST}]` : HOST;
  const url = `http://${host}:${server.address().port}`;
  process.stdout.write(`{"relay": ${JSON.stringify(url)}}\n`); // the same line as the Python relay's
});

function shutdown() {
  server.close(() => process.exit(0));
  if (server.closeAllConnections) server.closeAllConnections();
  agent.destroy();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
