/**
 * Issue 19's benchmarks (docs/benchmarks.md, docs/scaling.md), both setups in one run, each
 * its own `wrangler dev`:
 *   before: EDGELOG_WAIT=object, EDGELOG_CACHE=off (long polls and tails parked in the object,
 *           every read from the object), as edgelog was;
 *   after:  the defaults (waiting in the Worker on hibernatable watch sockets; sealed segments
 *           through the Workers Cache API).
 * 1. Idle followers: F followers (half long-poll loops, half SSE tails), each on its own
 *    partition, nothing produced for W seconds: the objects' busy time (their own accounting,
 *    GET …/activity) and requests, scaled to 1,000 followers for one hour.
 * 2. Wake latency: one append under an idle long poll, produce to answer, median of 20.
 * 3. Reads of a sealed range: R concurrent readers re-reading the sealed segments, records/s
 *    and MB/s, from the cache (after) against the object (before).
 *   npx tsx bench/scale.ts [--followers=50] [--window=30] [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startWranglerDev, type WranglerDev } from '../test/http/wrangler-dev.ts'

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`))
  return hit ? Number(hit.split('=')[1]) : fallback
}
const quick = process.argv.includes('--quick')
const FOLLOWERS = arg('followers', quick ? 10 : 50)
const WINDOW_S = arg('window', quick ? 8 : 30)
const POLL_WAIT_MS = 5_000
const READERS = 8
const READ_ROUNDS = quick ? 5 : 20

async function call(dev: WranglerDev, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${dev.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return res.json()
}

async function activityOf(dev: WranglerDev, topic: string, partitions: number) {
  const all = await Promise.all(Array.from({ length: partitions }, (_, p) => call(dev, 'GET', `/v1/topics/${topic}/partitions/${p}/activity`)))
  return { busyMs: all.reduce((n, a) => n + a.busyMs, 0), requests: all.reduce((n, a) => n + a.requests, 0), watchers: all.reduce((n, a) => n + a.watchers, 0) }
}

async function idleFollowers(dev: WranglerDev) {
  const topic = `idle-${Date.now()}`
  await call(dev, 'POST', '/v1/topics', { name: topic, partitions: FOLLOWERS })
  const stop = new AbortController()
  const loops: Promise<unknown>[] = []
  for (let p = 0; p < FOLLOWERS; p++) {
    if (p % 2 === 0) {
      loops.push((async () => {
        while (!stop.signal.aborted) {
          await fetch(`${dev.url}/v1/topics/${topic}/partitions/${p}/records?offset=0&maxWaitMs=${POLL_WAIT_MS}`, { signal: stop.signal }).then((r) => r.arrayBuffer()).catch(() => {})
        }
      })())
    } else {
      loops.push(fetch(`${dev.url}/v1/topics/${topic}/partitions/${p}/tail?offset=0&maxWaitMs=${POLL_WAIT_MS}`, { signal: stop.signal })
        .then(async (r) => { for await (const _ of r.body!) { /* idle comments */ } }).catch(() => {}))
    }
  }
  await new Promise((r) => setTimeout(r, 2_000))
  const start = await activityOf(dev, topic, FOLLOWERS)
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000))
  const end = await activityOf(dev, topic, FOLLOWERS)
  const seconds = (performance.now() - t0) / 1000
  stop.abort()
  await Promise.allSettled(loops)
  const scale = (1000 / FOLLOWERS) * (3600 / seconds)
  return {
    busySecondsPer1000PerHour: ((end.busyMs - start.busyMs) / 1000) * scale,
    requestsPer1000PerHour: (end.requests - start.requests) * scale,
    watchers: end.watchers,
  }
}

async function wakeLatency(dev: WranglerDev) {
  const topic = `wake-${Date.now()}`
  await call(dev, 'POST', '/v1/topics', { name: topic, partitions: 1 })
  const samples: number[] = []
  for (let i = 0; i < 20; i++) {
    const poll = fetch(`${dev.url}/v1/topics/${topic}/partitions/0/records?offset=${i}&maxWaitMs=10000`).then((r) => r.json())
    await new Promise((r) => setTimeout(r, 50))
    const t0 = performance.now()
    await Promise.all([poll, call(dev, 'POST', `/v1/topics/${topic}/partitions/0/records`, { records: [{ value: `v${i}` }] })])
    samples.push(performance.now() - t0)
  }
  samples.sort((a, b) => a - b)
  return { medianMs: samples[10], p90Ms: samples[17] }
}

async function sealedReads(dev: WranglerDev) {
  const topic = `sealed-${Date.now()}`
  await call(dev, 'POST', '/v1/topics', { name: topic, partitions: 1, config: { 'segment.bytes': String(256 * 1024) } })
  const value = 'x'.repeat(100)
  for (let i = 0; i < 10; i++) {
    await call(dev, 'POST', `/v1/topics/${topic}/partitions/0/records`, { records: Array.from({ length: 1000 }, (_, k) => ({ key: `k${k}`, value })) })
  }
  const state = await call(dev, 'GET', `/v1/topics/${topic}`)
  const sealedEnd = state.partitions[0].segments.at(-2).endOffset as number
  const readRange = async () => {
    let offset = 0
    let bytes = 0
    while (offset < sealedEnd) {
      const res = await fetch(`${dev.url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=65536`, { headers: { accept: 'application/vnd.kafka.record-batch' } })
      bytes += (await res.arrayBuffer()).byteLength
      offset = Number(res.headers.get('edgelog-next-offset'))
    }
    return bytes
  }
  await readRange() // warm: the cache (after), the object's pages (both)
  const before = (await activityOf(dev, topic, 1)).requests
  const t0 = performance.now()
  let bytes = 0
  await Promise.all(Array.from({ length: READERS }, async () => { for (let r = 0; r < READ_ROUNDS; r++) bytes += await readRange() }))
  const seconds = (performance.now() - t0) / 1000
  const requests = (await activityOf(dev, topic, 1)).requests - before
  const records = sealedEnd * READERS * READ_ROUNDS
  return { recordsPerS: records / seconds, mbPerS: bytes / seconds / 1e6, objectRequests: requests }
}

async function run(label: string, vars: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), `edgelog-bench-scale-${label}-`))
  const dev = await startWranglerDev(dir, { vars })
  try {
    const idle = await idleFollowers(dev)
    const wake = await wakeLatency(dev)
    const reads = await sealedReads(dev)
    return { idle, wake, reads }
  } finally {
    await dev.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}

const before = await run('before', { EDGELOG_WAIT: 'object', EDGELOG_CACHE: 'off' })
const after = await run('after', {})
const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
console.log(`\nIdle followers: ${FOLLOWERS} (half long polls with maxWaitMs=${POLL_WAIT_MS}, half SSE tails), one per partition, ${WINDOW_S} s, scaled to 1,000 followers for 1 hour`)
console.log('| | object busy (wake) time, s | object requests | ')
console.log('|---|---|---|')
console.log(`| before (waiting in the object) | ${f(before.idle.busySecondsPer1000PerHour)} | ${f(before.idle.requestsPer1000PerHour)} |`)
console.log(`| after (waiting in the Worker) | ${f(after.idle.busySecondsPer1000PerHour, 1)} | ${f(after.idle.requestsPer1000PerHour)} |`)
// workerd's clock moves only at I/O, so a request that does no I/O wait measures 0 ms: "after" is a floor.
console.log(after.idle.busySecondsPer1000PerHour >= 0.1
  ? `| ratio | ${f(before.idle.busySecondsPer1000PerHour / after.idle.busySecondsPer1000PerHour, 0)}x | |`
  : '| ratio | (after below the clock\'s resolution: workerd\'s clock moves only at I/O) | |')
console.log(`\nWake latency (append under an idle long poll, produce sent to poll answered): before median ${f(before.wake.medianMs, 1)} ms (p90 ${f(before.wake.p90Ms, 1)}), after median ${f(after.wake.medianMs, 1)} ms (p90 ${f(after.wake.p90Ms, 1)})`)
console.log(`\nSealed range re-read by ${READERS} readers x ${READ_ROUNDS} rounds (binary, 64 KiB fetches)`)
console.log('| | records/s | MB/s | object requests |')
console.log('|---|---|---|---|')
console.log(`| from the object (before) | ${f(before.reads.recordsPerS)} | ${f(before.reads.mbPerS, 1)} | ${before.reads.objectRequests} |`)
console.log(`| from the Cache API (after) | ${f(after.reads.recordsPerS)} | ${f(after.reads.mbPerS, 1)} | ${after.reads.objectRequests} |`)
console.log(`| ratio | ${f(after.reads.recordsPerS / before.reads.recordsPerS, 2)}x | | |`)
