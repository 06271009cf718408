/**
 * The cost model of docs/scaling.md against counted figures (issue 19): many partitions on one
 * `wrangler dev`, producers and consumers at once, each partition object's own accounting
 * (GET …/activity: requests, busy time, and SQLite's counts of rows read and written,
 * adapters/durable-object/row-meter.ts). Prints, per produce request and per fetch, the
 * counted rows and object time beside the model's derived ones, and the dollars per million
 * records that follow from the counts at Cloudflare's published prices.
 *   npx tsx bench/simulate.ts [--partitions=20] [--requests=30] [--records=100]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startWranglerDev, type WranglerDev } from '../test/http/wrangler-dev.ts'

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`))
  return hit ? Number(hit.split('=')[1]) : fallback
}
const PARTITIONS = arg('partitions', 20)
const REQUESTS = arg('requests', 30)
const RECORDS = arg('records', 100)

interface Counts { requests: number; busyMs: number; rowsRead: number; rowsWritten: number }

async function call(dev: WranglerDev, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${dev.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  const json = await res.json()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

/** The sum over partitions; the activity calls themselves (one request each, no rows) are taken out. */
async function counts(dev: WranglerDev, topic: string): Promise<Counts> {
  const all = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => call(dev, 'GET', `/v1/topics/${topic}/partitions/${p}/activity`)))
  return {
    requests: all.reduce((n, a) => n + a.requests, 0) - PARTITIONS,
    busyMs: all.reduce((n, a) => n + a.busyMs, 0),
    rowsRead: all.reduce((n, a) => n + a.rowsRead, 0),
    rowsWritten: all.reduce((n, a) => n + a.rowsWritten, 0),
  }
}

const minus = (a: Counts, b: Counts): Counts => ({ requests: a.requests - b.requests, busyMs: a.busyMs - b.busyMs, rowsRead: a.rowsRead - b.rowsRead, rowsWritten: a.rowsWritten - b.rowsWritten })

const dir = mkdtempSync(join(tmpdir(), 'edgelog-bench-simulate-'))
// The cache off: every fetch reaches its object, as the model's "per fetch" row assumes.
const dev = await startWranglerDev(dir, { vars: { EDGELOG_CACHE: 'off' } })
try {
  const topic = `sim-${Date.now()}`
  await call(dev, 'POST', '/v1/topics', { name: topic, partitions: PARTITIONS })
  const value = 'x'.repeat(100)
  // Touch every object once so that construction is not counted with the produce phase.
  await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => call(dev, 'POST', `/v1/topics/${topic}/partitions/${p}/records`, { records: [{ value }] })))
  const start = await counts(dev, topic)

  // Producers: every partition at once, REQUESTS requests of RECORDS records each.
  await Promise.all(Array.from({ length: PARTITIONS }, async (_, p) => {
    for (let r = 0; r < REQUESTS; r++) {
      await call(dev, 'POST', `/v1/topics/${topic}/partitions/${p}/records`, { records: Array.from({ length: RECORDS }, (_, k) => ({ key: `k${k}`, value })) })
    }
  }))
  const produced = await counts(dev, topic)

  // Consumers: every partition read from the start, one batch per fetch (maxBytes 1 byte: the first batch always comes).
  let fetches = 0
  await Promise.all(Array.from({ length: PARTITIONS }, async (_, p) => {
    let offset = 0
    for (;;) {
      const r = await call(dev, 'GET', `/v1/topics/${topic}/partitions/${p}/records?offset=${offset}&maxBytes=1`)
      fetches++
      if (r.records.length === 0 || r.nextOffset >= r.highWatermark) break
      offset = r.nextOffset
    }
  }))
  const consumed = await counts(dev, topic)

  const produce = minus(produced, start)
  const consume = minus(consumed, produced)
  const requests = PARTITIONS * REQUESTS
  const f = (n: number, d = 2) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
  console.log(`\n${PARTITIONS} partitions, ${requests} produce requests of ${RECORDS} records (100 B), then ${fetches} fetches of one batch each; cache off`)
  console.log('| per | object requests | rows written | rows read | object busy ms | model |')
  console.log('|---|---|---|---|---|---|')
  console.log(`| produce request | ${f(produce.requests / requests)} | ${f(produce.rowsWritten / requests)} | ${f(produce.rowsRead / requests)} | ${f(produce.busyMs / requests)} | 1 request, 3–4 rows written, ~5 ms |`)
  console.log(`| fetch | ${f(consume.requests / fetches)} | ${f(consume.rowsWritten / fetches)} | ${f(consume.rowsRead / fetches)} | ${f(consume.busyMs / fetches)} | 1 request, 1 row read per batch, ~2 ms |`)
  // Dollars per million records at the counted rates (docs/scaling.md's prices; included amounts ignored).
  const perMillion = 1e6 / RECORDS
  const dollars = (c: Counts, n: number) => {
    const perReq = { requests: c.requests / n, written: c.rowsWritten / n, read: c.rowsRead / n, gbS: (c.busyMs / n / 1000) * 0.125 }
    return perMillion * (perReq.requests * 0.15e-6 + perReq.written * 1e-6 + perReq.read * 0.001e-6 + perReq.gbS * 12.5e-6 + 0.3e-6)
  }
  console.log(`\nAt the counted rates, per million records: produced $${f(dollars(produce, requests), 4)}, consumed one batch per fetch $${f(dollars(consume, fetches), 4)} (Worker request included; duration as measured by workerd, whose clock moves only at I/O)`)
} finally {
  await dev.kill()
  rmSync(dir, { recursive: true, force: true })
}
