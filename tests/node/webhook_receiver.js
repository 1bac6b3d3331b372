#!/usr/bin/env node
// A webhook receiver that checks X-Signature exactly as Segment's documentation shows:
//   crypto.createHmac('sha1', secret).update(JSON.stringify(req.body)).digest('hex')
// where req.body is the parsed JSON body (for a batch from Webhooks (Actions), JSON.stringify(req.body[0])).
//   node webhook_receiver.js SECRET
// Prints {"port": N} once listening, then one JSON line per request: {"ok": bool, "items": n}. 401 when the
// signature does not match.
'use strict'
const http = require('http')
const crypto = require('crypto')
const secret = process.argv[2]

const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    let body
    try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch (e) { res.writeHead(400); res.end(); return }
    const signed = Array.isArray(body) ? body[0] : body
    const expected = crypto.createHmac('sha1', secret).update(JSON.stringify(signed)).digest('hex')
    const ok = req.headers['x-signature'] === expected
    process.stdout.write(JSON.stringify({ ok, items: Array.isArray(body) ? body.length : 1 }) + '\n')
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
    res.end(ok ? '{}' : '{"error":"bad signature"}')
  })
})
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
