#!/usr/bin/env node
// Sends Segment events with the real @segment/analytics-node client to a Segment-compatible host.
//   node segment_node_client.js HOST WRITE_KEY [FLUSH_AT] [MAX_RETRIES] < events.jsonl
// Each input line is a Segment event; the matching client call is made with its fields (messageId and
// timestamp kept). Prints one JSON line: {"calls": n, "errors": [...], "built": [payloads as the client built them]}.
'use strict'
const readline = require('readline')
const { Analytics } = require('@segment/analytics-node')

const [host, writeKey, flushAt = '15', maxRetries = '3'] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, flushAt: Number(flushAt), maxRetries: Number(maxRetries), flushInterval: 200, httpRequestTimeout: 5000 })
const errors = []
const built = []
analytics.on('error', (err) => errors.push(String((err && err.reason) || (err && err.message) || err)))
for (const type of ['identify', 'track', 'page', 'screen', 'group', 'alias']) {
  analytics.on(type, (ctx) => built.push(ctx.event || ctx))
}

function params(e) {
  const p = { messageId: e.messageId, timestamp: e.timestamp ? new Date(e.timestamp) : undefined, context: e.context, integrations: e.integrations }
  if (e.userId !== undefined && e.userId !== null && e.userId !== '') p.userId = String(e.userId)
  if (e.anonymousId !== undefined && e.anonymousId !== null && e.anonymousId !== '') p.anonymousId = String(e.anonymousId)
  return p
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  let calls = 0
  for await (const line of rl) {
    if (!line.trim()) continue
    const e = JSON.parse(line)
    const p = params(e)
    switch (e.type) {
      case 'identify': analytics.identify({ ...p, traits: e.traits }); break
      case 'track': analytics.track({ ...p, event: e.event, properties: e.properties }); break
      case 'page': analytics.page({ ...p, name: e.name, category: e.category, properties: e.properties }); break
      case 'screen': analytics.screen({ ...p, name: e.name, category: e.category, properties: e.properties }); break
      case 'group': analytics.group({ ...p, groupId: String(e.groupId), traits: e.traits }); break
      case 'alias': analytics.alias({ ...p, userId: String(e.userId), previousId: String(e.previousId) }); break
      default: throw new Error('unknown type ' + e.type)
    }
    calls++
  }
  await analytics.closeAndFlush({ timeout: 60000 })
  process.stdout.write(JSON.stringify({ calls, errors, built }) + '\n')
}
main().catch((e) => { process.stdout.write(JSON.stringify({ fatal: String(e && e.stack || e) }) + '\n'); process.exit(1) })
