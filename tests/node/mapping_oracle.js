#!/usr/bin/env node
// Runs Segment's real mapping engine (@segment/actions-core) for the differential tests.
//
//   node mapping_oracle.js product MAPPINGS.jsonl EVENTS.jsonl   one answer per mapping x event, mapping-major
//   node mapping_oracle.js pairs PAIRS.jsonl                     one answer per {"mapping", "event"?} line
//
// Each answer is one JSON line:
//   {"ok": <result>}                      transform() returned a value (JSON.stringify decides the bytes)
//   {"undefined": true}                   it returned undefined, or something JSON cannot write (a function)
//   {"kind": "validation"|"runtime", "errors": ["...", ...]}
// Validation failures of object mappings arrive as one AggregateError whose message embeds stack traces, so
// the inner messages are listed instead.
'use strict'
const fs = require('fs')
const { transform } = require('@segment/actions-core')

function lines(path) {
  return fs.readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '')
}

function answer(mapping, event, hasEvent) {
  let result
  try {
    result = hasEvent ? transform(mapping, event) : transform(mapping)
  } catch (e) {
    const aggregate = e && e.name === 'AggregateError' && typeof e[Symbol.iterator] === 'function'
    const errors = aggregate ? [...e].map((x) => x.message) : [e && e.message !== undefined ? e.message : String(e)]
    const kind = aggregate || (e && e.name === 'ValidationError') ? 'validation' : 'runtime'
    return JSON.stringify({ kind, errors })
  }
  const text = JSON.stringify(result)
  return text === undefined ? '{"undefined":true}' : '{"ok":' + text + '}'
}

const [mode, ...files] = process.argv.slice(2)
const out = []
if (mode === 'product') {
  const mappings = lines(files[0]).map((l) => JSON.parse(l).mapping)
  const events = lines(files[1]).map((l) => JSON.parse(l))
  for (const mapping of mappings) {
    for (const event of events) out.push(answer(mapping, event, true))
  }
} else if (mode === 'pairs') {
  for (const line of lines(files[0])) {
    const pair = JSON.parse(line)
    out.push(answer(pair.mapping, pair.event, 'event' in pair))
  }
} else {
  process.stderr.write('usage: mapping_oracle.js product MAPPINGS EVENTS | pairs PAIRS\n')
  process.exit(2)
}
process.stdout.write(out.join('\n') + '\n')
