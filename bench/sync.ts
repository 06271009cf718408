/**
 * The sync benchmark (issue 14): the browser log following an edge topic on `wrangler dev`,
 * each figure a ratio against a baseline measured side by side in the same run.
 *
 *   npx tsx bench/sync.ts [catch-up records=100000] [forwarded records=50000] [runs=5]
 *
 * 1. Catch-up: `records` 100-byte records are written at the edge beforehand (from Node, over
 *    the binary HTTP API, 1,000 per send); a page opens a fresh log with
 *    `remote: { url, follow: [topic] }` and the clock runs from the openBrowserLog call until
 *    its replica holds all of them. Baseline: the same page appending the same records to a
 *    fresh local log (producer.send of 1,000 at a time, acks=1: relaxed durability, as the
 *    follower's replica writes; acks=-1 shown too).
 * 2. Forwarding: a page following a fresh edge topic goes offline
 *    (`page.context().setOffline(true)`), produces `forwarded` records to it (1,000 per send;
 *    they wait in the outbox), comes back online, and log.sync.flush() is timed. Baseline:
 *    edgelog/http from Node (connect({ url }).producer({ idempotent: true }), 1,000 per send)
 *    to the same wrangler dev.
 * 3. Main-thread responsiveness during each catch-up of (1): the longest 'longtask'
 *    (PerformanceObserver) and the longest gaps of a setTimeout(0) and a rAF chain.
 *
 * One warm-up of each first, then `runs` rounds (order alternating); medians are reported.
 * A last pass repeats (1) and (2) once with bench/sync-worker.ts (the same worker with timing
 * probes) to show where the time goes, then (2) with that worker's what-ifs (the forwarder
 * woken on the page's 'online' event, more batches per request, bounded outbox reads, the
 * follower held): diagnosis of the proposed fixes, not counted in the figures.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { Browser, bundle, serve } from '../test/browser/harness.ts'
import { ROOT, startWranglerDev } from '../test/http/wrangler-dev.ts'
import './built.ts'

type HttpModule = typeof import('../adapters/http/index.ts')
type CodecModule = typeof import('../core/codec/record-batch.ts')
// The Node side runs the built package (dist/), as users run it (bench/built.ts builds it if missing).
const http = (await import(`${ROOT}dist/adapters/http/index.js`)) as HttpModule
const codec = (await import(`${ROOT}dist/core/codec/record-batch.js`)) as CodecModule

const RECORDS = Number(process.argv[2] ?? 100_000)
const FORWARD = Number(process.argv[3] ?? 50_000)
const RUNS = Number(process.argv[4] ?? 5)
const PER_SEND = 1000
const DEV_ARGS = (process.env.WRANGLER_DEV_ARGS ?? '--log-level warn').split(' ').filter(Boolean)

const encoder = new TextEncoder()
const value = (i: number) => `${i}`.padStart(10, '0').padEnd(100, 'x')
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const k = (n: number) => `${Math.round(n / 1000).toLocaleString('en')} k`
const ms = (n: number) => `${Math.round(n).toLocaleString('en')} ms`

interface MainThread { longTasks: number; longestTaskMs: number; longTaskTotalMs: number; maxTimeoutGapMs: number; maxRafGapMs: number }
interface CatchUp { ms: number; recPerSec: number; openMs: number; toTopicMs: number; toFirstRecordMs: number; afterFirstRecordRecPerSec: number; main: MainThread; profile?: Profile }
interface Append { ms: number; recPerSec: number; openMs: number; main: MainThread }
interface Produced { ms: number; recPerSec: number; pendingMetadata: number; waiting: number; forwarder: string }
interface Flushed { ms: number; recPerSec: number; toFirstDeliveryMs: number; afterFirstDeliveryRecPerSec: number }
interface Profile { sinceMs: number; probes: Record<string, { calls: number; ms: number; maxMs: number; bytes: number; batches: number }> }

const bench = <T>(page: Page, fn: string, arg?: unknown): Promise<T> =>
  page.evaluate(([fn, arg]) => (globalThis as any).bench[fn as string](arg), [fn, arg] as const) as Promise<T>

/** Writes `count` records (value(0..count-1)) to partition 0 of `topic` at the edge, `PER_SEND` per send. */
async function writeAtEdge(url: string, topic: string, count: number, options: { idempotent?: boolean; preferredBatchBytes?: number } = {}): Promise<{ ms: number; recPerSec: number }> {
  const client = http.connect({ url, preferredBatchBytes: options.preferredBatchBytes })
  const producer = client.producer({ idempotent: options.idempotent ?? false })
  await producer.connect()
  const sends = []
  for (let base = 0; base < count; base += PER_SEND) {
    sends.push(Array.from({ length: Math.min(PER_SEND, count - base) }, (_, i) => ({ partition: 0, value: encoder.encode(value(base + i)) })))
  }
  const t0 = performance.now()
  for (const messages of sends) await producer.send({ topic, acks: -1, messages })
  const elapsed = performance.now() - t0
  await producer.disconnect()
  await client.close()
  return { ms: elapsed, recPerSec: Math.round((count / elapsed) * 1000) }
}

/**
 * One fetch from partition 0 of `topic`, so that its Durable Object is running before a timed
 * write (the page's topic was touched the same way by its follower before it went offline).
 */
async function touchPartition(url: string, topic: string): Promise<void> {
  const broker = new http.HttpBroker({ url })
  await broker.fetch({ topic, partition: 0, offset: 0, maxBytes: 1 })
  await broker.close()
}

async function createTopics(url: string, topics: string[]): Promise<void> {
  const client = http.connect({ url })
  await client.admin().createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 1 })) })
  await client.close()
}

/** Reads partition 0 of `topic` back from the edge: exactly value(0..count-1), once each, in order. */
async function verifyAtEdge(url: string, topic: string, count: number): Promise<void> {
  const broker = new http.HttpBroker({ url })
  let offset = 0
  let next = 0
  for (;;) {
    const r = await broker.fetch({ topic, partition: 0, offset, maxBytes: 8 << 20 })
    for (const b of r.batches) {
      await codec.validateBatch(b)
      for (const rec of codec.decodeRecords(b)) {
        if (rec.offset < offset) continue
        const text = new TextDecoder().decode(rec.value!)
        if (text !== value(next)) throw new Error(`${topic}: offset ${rec.offset} holds ${text.slice(0, 12)}…, expected record ${next}`)
        next++
        offset = rec.offset + 1
      }
    }
    if (offset >= r.highWatermark) break
  }
  await broker.close()
  if (next !== count) throw new Error(`${topic}: ${next} records at the edge, expected ${count}`)
}

function profileTable(profile: Profile | undefined, wallMs: number): string[] {
  if (!profile) return ['(no profile: the probe worker did not answer)']
  const out = [`| where (worker, summed; calls overlap when nested or concurrent) | calls | total (of ${ms(wallMs)}) | max | per call | batches | MB |`, '|---|---|---|---|---|---|---|']
  for (const [name, p] of Object.entries(profile.probes).sort((a, b) => b[1].ms - a[1].ms)) {
    out.push(`| ${name} | ${p.calls} | ${ms(p.ms)} | ${p.maxMs.toFixed(1)} ms | ${(p.ms / p.calls).toFixed(1)} ms | ${p.batches || ''} | ${p.bytes ? (p.bytes / 1e6).toFixed(1) : ''} |`)
  }
  return out
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'edgelog-bench-sync-'))
  const dev = await startWranglerDev(join(tmp, 'wrangler'), { vars: { EDGELOG_CORS_ORIGINS: '*' }, args: DEV_ARGS })
  const dir = await bundle({ page: 'bench/sync-page.ts', worker: 'adapters/indexeddb/worker.ts', 'sync-worker': 'bench/sync-worker.ts' })
  const server = await serve(dir)
  const browser = new Browser()
  await browser.start()
  const version = browser.context!.browser()?.version() ?? 'chromium'
  const out: string[] = []
  const loadAtStart = loadavg()[0]
  try {
    const page = await browser.tab(server.url)
    const url = dev.url

    // ------------------------------------------------ 1 + 3: catch-up vs local append
    await createTopics(url, ['catchup'])
    await touchPartition(url, 'catchup')
    const written = await writeAtEdge(url, 'catchup', RECORDS)
    await verifyAtEdge(url, 'catchup', RECORDS)
    console.error(`wrote ${RECORDS} records at the edge in ${ms(written.ms)} (${k(written.recPerSec)} rec/s)`)
    let db = 0
    const catchUp = (worker?: string) => bench<CatchUp>(page, 'catchUp', { name: `catchup-${db++}`, url, topic: 'catchup', records: RECORDS, worker, profile: worker !== undefined })
    const append = (acks: -1 | 1) => bench<Append>(page, 'localAppend', { name: `local-${db++}`, records: RECORDS, perSend: PER_SEND, acks })
    // Warm-up (JIT, wrangler's objects, Chromium's IndexedDB): not counted.
    await catchUp()
    await append(1)
    const catchUps: CatchUp[] = []
    const relaxed: Append[] = []
    const strict: Append[] = []
    for (let r = 0; r < RUNS; r++) {
      if (r % 2 === 0) {
        catchUps.push(await catchUp())
        relaxed.push(await append(1))
        strict.push(await append(-1))
      } else {
        strict.push(await append(-1))
        relaxed.push(await append(1))
        catchUps.push(await catchUp())
      }
      console.error(`round ${r + 1}: catch-up ${k(catchUps[r].recPerSec)} rec/s (longest task ${catchUps[r].main.longestTaskMs} ms), local append ${k(relaxed[r].recPerSec)} (acks=1) / ${k(strict[r].recPerSec)} (acks=-1)`)
    }

    // ------------------------------------------------ 2: outbox forwarding vs edgelog/http from Node
    let topicN = 0
    type WhatIf = { holdFollower?: boolean; maxBatchesPerRequest?: number; wakeOnOnline?: boolean; boundedReads?: boolean }
    const forwardRound = async (worker?: string, whatIf?: WhatIf): Promise<{ produced: Produced; flushed: Flushed; profile?: Profile }> => {
      const topic = `fwd-${topicN++}`
      await createTopics(url, [topic])
      await bench(page, 'openFollowing', { name: `outbox-${db++}`, url, topic, worker })
      await page.context().setOffline(true)
      const produced = await bench<Produced>(page, 'produce', { records: FORWARD, perSend: PER_SEND })
      if (produced.waiting !== FORWARD) throw new Error(`${produced.waiting} records in the outbox after producing ${FORWARD} offline`)
      if (worker) await bench(page, 'workerProfile', whatIf ?? {})
      if (worker) await bench(page, 'workerProfile', 'reset')
      await page.context().setOffline(false)
      const flushed = await bench<Flushed>(page, 'flush', { records: FORWARD })
      const profile = worker ? await bench<Profile>(page, 'workerProfile', 'get') : undefined
      if (worker) await bench(page, 'workerProfile', {})
      await bench(page, 'closeLog')
      await verifyAtEdge(url, topic, FORWARD)
      return { produced, flushed, profile }
    }
    const nodeRound = async (preferredBatchBytes?: number) => {
      const topic = `node-${topicN++}`
      await createTopics(url, [topic])
      await touchPartition(url, topic)
      const result = await writeAtEdge(url, topic, FORWARD, { idempotent: true, preferredBatchBytes })
      await verifyAtEdge(url, topic, FORWARD)
      return result
    }
    await forwardRound()
    await nodeRound()
    const forwards: Array<{ produced: Produced; flushed: Flushed }> = []
    const nodes: Array<{ recPerSec: number }> = []
    const nodes60: Array<{ recPerSec: number }> = []
    for (let r = 0; r < RUNS; r++) {
      if (r % 2 === 0) {
        forwards.push(await forwardRound())
        nodes.push(await nodeRound())
        nodes60.push(await nodeRound(60 * 1024))
      } else {
        nodes60.push(await nodeRound(60 * 1024))
        nodes.push(await nodeRound())
        forwards.push(await forwardRound())
      }
      console.error(`round ${r + 1}: flush ${k(forwards[r].flushed.recPerSec)} rec/s (first delivery after ${ms(forwards[r].flushed.toFirstDeliveryMs)}), Node edgelog/http ${k(nodes[r].recPerSec)} rec/s`)
    }

    // ------------------------------------------------ profile pass (not counted)
    const profiledCatchUp = await catchUp('/sync-worker.js')
    const profiledForward = await forwardRound('/sync-worker.js')
    // What-ifs (diagnosis only): the forwarder alone (the follower's fetches held during the
    // flush), and with more batches per request.
    const whatIfs: Array<[string, Awaited<ReturnType<typeof forwardRound>>]> = []
    for (const [label, w] of [
      ['forwarder woken by the page\'s online event', { wakeOnOnline: true }],
      ['follower held during the flush', { holdFollower: true }],
      ['20 batches per request', { maxBatchesPerRequest: 20 }],
      ['outbox reads bounded to what is sent', { boundedReads: true }],
      ['woken on online, 20 batches per request', { wakeOnOnline: true, maxBatchesPerRequest: 20 }],
      ['woken on online, 20 batches per request, bounded reads', { wakeOnOnline: true, maxBatchesPerRequest: 20, boundedReads: true }],
      ['the same, follower held', { wakeOnOnline: true, maxBatchesPerRequest: 20, boundedReads: true, holdFollower: true }],
    ] as Array<[string, WhatIf]>) whatIfs.push([label, await forwardRound('/sync-worker.js', w)])

    // ------------------------------------------------ report
    const cu = median(catchUps.map((c) => c.recPerSec))
    const la1 = median(relaxed.map((c) => c.recPerSec))
    const la2 = median(strict.map((c) => c.recPerSec))
    const fl = median(forwards.map((f) => f.flushed.recPerSec))
    const nd = median(nodes.map((n) => n.recPerSec))
    const nd60 = median(nodes60.map((n) => n.recPerSec))
    const list = (xs: number[], f: (n: number) => string) => xs.map(f).join(', ')
    out.push(`Load average (1 min) ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`)
    out.push(`Chromium ${version}; wrangler dev ${DEV_ARGS.join(' ')} (workerd, SQLite Durable Objects) on loopback; 100-byte records, ${PER_SEND.toLocaleString('en')} per send, 1 partition; medians of ${RUNS} after a warm-up`)
    out.push('', `1. Catch-up of a follower: ${RECORDS.toLocaleString('en')} records at the edge (written from Node at ${k(written.recPerSec)} rec/s beforehand)`)
    out.push('| | rec/s (median) | runs | ratio |', '|---|---|---|---|')
    out.push(`| page opens a log following the topic, until its replica holds all (from the openBrowserLog call) | ${k(cu)} | ${list(catchUps.map((c) => c.recPerSec), k)} | |`)
    out.push(`| same page, producer.send to a local log, acks=1 (relaxed, as replica writes) | ${k(la1)} | ${list(relaxed.map((c) => c.recPerSec), k)} | **catch-up / local append = ${(cu / la1).toFixed(2)}x** (aim ≥ 0.5x) |`)
    out.push(`| same page, producer.send to a local log, acks=-1 (strict) | ${k(la2)} | ${list(strict.map((c) => c.recPerSec), k)} | catch-up / this = ${(cu / la2).toFixed(2)}x |`)
    out.push(`- catch-up, median: ${ms(median(catchUps.map((c) => c.ms)))} in all; openBrowserLog ${ms(median(catchUps.map((c) => c.openMs)))}, replica topic there after ${ms(median(catchUps.map((c) => c.toTopicMs)))}, first record after ${ms(median(catchUps.map((c) => c.toFirstRecordMs)))}; from the first record on ${k(median(catchUps.map((c) => c.afterFirstRecordRecPerSec)))} rec/s`)
    out.push(`- local append: opening the log and creating the topic (not counted) ${ms(median(relaxed.map((c) => c.openMs)))}`)
    out.push('', '3. Main thread during each catch-up (the follower runs in the log\'s worker)')
    out.push('| | longest long task | long tasks (total) | longest setTimeout(0) gap | longest rAF gap |', '|---|---|---|---|---|')
    for (const [i, c] of catchUps.entries()) out.push(`| catch-up run ${i + 1} | ${c.main.longestTaskMs} ms | ${c.main.longTasks} (${c.main.longTaskTotalMs} ms) | ${c.main.maxTimeoutGapMs} ms | ${c.main.maxRafGapMs} ms |`)
    out.push(`| **median** | **${median(catchUps.map((c) => c.main.longestTaskMs))} ms** (aim < 50 ms) | | ${median(catchUps.map((c) => c.main.maxTimeoutGapMs))} ms | ${median(catchUps.map((c) => c.main.maxRafGapMs))} ms |`)
    out.push(`| for comparison, local append acks=1 (the producer encodes on the page), median | ${median(relaxed.map((c) => c.main.longestTaskMs))} ms | | ${median(relaxed.map((c) => c.main.maxTimeoutGapMs))} ms | ${median(relaxed.map((c) => c.main.maxRafGapMs))} ms |`)
    out.push('', `2. Forwarding the outbox: ${FORWARD.toLocaleString('en')} records produced offline to a followed topic, then online: log.sync.flush()`)
    out.push('| | rec/s (median) | runs | ratio |', '|---|---|---|---|')
    out.push(`| page: log.sync.flush() from the moment the page is online again | ${k(fl)} | ${list(forwards.map((f) => f.flushed.recPerSec), k)} | **flush / Node = ${(fl / nd).toFixed(2)}x** (aim ≥ 0.5x) |`)
    out.push(`| Node: edgelog/http connect({ url }).producer({ idempotent: true }), 1,000 per send (one ~110 KB batch per request) | ${k(nd)} | ${list(nodes.map((n) => n.recPerSec), k)} | |`)
    out.push(`| Node: the same with preferredBatchBytes 60 KiB (two batches per request, the outbox's batch size) | ${k(nd60)} | ${list(nodes60.map((n) => n.recPerSec), k)} | flush / this = ${(fl / nd60).toFixed(2)}x |`)
    out.push(`- flush, median: ${ms(median(forwards.map((f) => f.flushed.ms)))} in all; first batch out of the outbox after ${ms(median(forwards.map((f) => f.flushed.toFirstDeliveryMs)))} (log.sync.status() polled every 20 ms); from then on ${k(median(forwards.map((f) => f.flushed.afterFirstDeliveryRecPerSec)))} rec/s`)
    out.push(`- producing them offline into the outbox (acks=-1, idempotent): ${k(median(forwards.map((f) => f.produced.recPerSec)))} rec/s`)
    out.push('', `Profile (one more run of each with bench/sync-worker.ts, the log's worker with timing probes; not counted above)`)
    out.push(`Catch-up: ${ms(profiledCatchUp.ms)} (${k(profiledCatchUp.recPerSec)} rec/s), first record after ${ms(profiledCatchUp.toFirstRecordMs)}`)
    out.push(...profileTable(profiledCatchUp.profile, profiledCatchUp.ms))
    out.push('', `Forwarding: flush ${ms(profiledForward.flushed.ms)} (${k(profiledForward.flushed.recPerSec)} rec/s), first delivery after ${ms(profiledForward.flushed.toFirstDeliveryMs)}, then ${k(profiledForward.flushed.afterFirstDeliveryRecPerSec)} rec/s`)
    out.push(...profileTable(profiledForward.profile, profiledForward.flushed.ms))
    out.push('', 'What-ifs in the probe worker (diagnosis, not edgelog as shipped): flush rec/s from online / from the first delivery')
    const shippedLoaded = profiledForward.profile?.probes['IndexedDB getAll on the batch store: values loaded']
    out.push(`- as shipped (probes only): ${k(profiledForward.flushed.recPerSec)} / ${k(profiledForward.flushed.afterFirstDeliveryRecPerSec)} (${shippedLoaded ? (shippedLoaded.bytes / 1e6).toFixed(0) : '?'} MB loaded from IndexedDB)`)
    for (const [label, r] of whatIfs) {
      const rounds = r.profile?.probes['forwarder: one round (forwardOnce)']
      const loaded = r.profile?.probes['IndexedDB getAll on the batch store: values loaded']
      out.push(`- ${label}: ${k(r.flushed.recPerSec)} / ${k(r.flushed.afterFirstDeliveryRecPerSec)} (${rounds?.calls ?? '?'} rounds, ${rounds ? (rounds.ms / rounds.calls).toFixed(0) : '?'} ms each; ${loaded ? (loaded.bytes / 1e6).toFixed(0) : '?'} MB loaded from IndexedDB)`)
    }
    console.log(out.join('\n'))
  } finally {
    await browser.dispose()
    await server.close()
    await dev.kill()
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
