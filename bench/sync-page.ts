/**
 * The sync benchmark's page (bench/sync.ts drives it): openBrowserLog with a remote following
 * an edge topic on `wrangler dev`, side by side with the same page appending to a local log.
 *
 * - catchUp: opens a fresh log following `topic` and times until its replica holds `records`
 *   records (polled with listOffsets every few ms: the replica's high watermark is in the
 *   worker's memory, so the poll touches no IndexedDB), then checks it with log.sync.status().
 *   Meanwhile the main thread is watched: a PerformanceObserver for 'longtask', and gap probes
 *   (a setTimeout(0) chain and a requestAnimationFrame chain: the longest time between two
 *   callbacks).
 * - localAppend: a fresh local (not followed) log, producer.send of `perSend` records of 100
 *   bytes at a time to one partition.
 * - openFollowing / produce / flush / closeLog: the outbox path (the harness takes the page
 *   offline between them).
 * `worker` chooses the log's worker: '/worker.js' (edgelog's own) or '/sync-worker.js' (the
 * same with timing probes, bench/sync-worker.ts).
 */
import { openBrowserLog } from '../adapters/indexeddb/browser-log.ts'
import type { EdgelogClient } from '../core/client/client.ts'

const g = globalThis as Record<string, unknown>
g.__name ??= (f: unknown) => f

const encoder = new TextEncoder()
/** The same 100-byte values as bench/sync.ts writes at the edge. */
const value = (i: number) => encoder.encode(`${i}`.padStart(10, '0').padEnd(100, 'x'))
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function workerFor(path: string | undefined): (() => Worker) | undefined {
  return path ? () => new Worker(path, { type: 'module', name: 'edgelog' }) : undefined
}

async function deleteDatabase(name: string): Promise<void> {
  await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = q.onblocked = r })
}

/** Watches the main thread: long tasks (PerformanceObserver) and the longest gaps of a setTimeout(0) and a rAF chain. */
function mainThreadProbe(): () => { longTasks: number; longestTaskMs: number; longTaskTotalMs: number; maxTimeoutGapMs: number; maxRafGapMs: number } {
  let longTasks = 0
  let longestTaskMs = 0
  let longTaskTotalMs = 0
  let supported = true
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      longTasks++
      longTaskTotalMs += e.duration
      longestTaskMs = Math.max(longestTaskMs, e.duration)
    }
  })
  try {
    observer.observe({ type: 'longtask' })
  } catch {
    supported = false
  }
  let running = true
  let maxTimeoutGapMs = 0
  let last = performance.now()
  const tick = () => {
    const now = performance.now()
    maxTimeoutGapMs = Math.max(maxTimeoutGapMs, now - last)
    last = now
    if (running) setTimeout(tick, 0)
  }
  setTimeout(tick, 0)
  let maxRafGapMs = 0
  let lastFrame = -1
  const frame = (t: number) => {
    if (lastFrame >= 0) maxRafGapMs = Math.max(maxRafGapMs, t - lastFrame)
    lastFrame = t
    if (running) requestAnimationFrame(frame)
  }
  requestAnimationFrame(frame)
  return () => {
    running = false
    for (const e of observer.takeRecords()) {
      longTasks++
      longTaskTotalMs += e.duration
      longestTaskMs = Math.max(longestTaskMs, e.duration)
    }
    observer.disconnect()
    if (!supported) longestTaskMs = Number.NaN
    const r = (x: number) => Math.round(x * 10) / 10
    return { longTasks, longestTaskMs: r(longestTaskMs), longTaskTotalMs: r(longTaskTotalMs), maxTimeoutGapMs: r(maxTimeoutGapMs), maxRafGapMs: r(maxRafGapMs) }
  }
}

/** The replica's high watermark of partition 0 (-1 while the replica topic does not exist here yet). */
async function replicaEnd(log: EdgelogClient, topic: string): Promise<number> {
  try {
    const [o] = await log.broker.listOffsets({ topic, partitions: [0], spec: 'latest' })
    return o.offset
  } catch {
    return -1
  }
}

interface CatchUpParams { name: string; url: string; topic: string; records: number; worker?: string; pollMs?: number; maxWaitMs?: number; profile?: boolean }

async function catchUp(p: CatchUpParams): Promise<unknown> {
  await deleteDatabase(p.name)
  await sleep(50)
  const stopProbe = mainThreadProbe()
  const t0 = performance.now()
  const log = await openBrowserLog({ name: p.name, worker: workerFor(p.worker), remote: { url: p.url, follow: [p.topic], maxWaitMs: p.maxWaitMs } })
  const opened = performance.now()
  let firstRecordAt = 0
  let topicAt = 0
  for (;;) {
    const end = await replicaEnd(log, p.topic)
    if (end >= 0 && topicAt === 0) topicAt = performance.now()
    if (end > 0 && firstRecordAt === 0) firstRecordAt = performance.now()
    if (end >= p.records) break
    await sleep(p.pollMs ?? 5)
  }
  const done = performance.now()
  const main = stopProbe()
  const status = await log.sync.status()
  const held = status.topics.find((t) => t.topic === p.topic)?.partitions.reduce((n, x) => n + x.highWatermark, 0) ?? -1
  if (held !== p.records) throw new Error(`log.sync.status() shows ${held} records in the replica of ${p.topic}, expected ${p.records}`)
  const profile = p.profile ? await workerProfile('get') : undefined
  await log.close()
  await deleteDatabase(p.name)
  const ms = done - t0
  return {
    ms, recPerSec: rate(p.records, ms),
    openMs: opened - t0, toTopicMs: topicAt - t0, toFirstRecordMs: firstRecordAt - t0,
    afterFirstRecordRecPerSec: rate(p.records, done - firstRecordAt),
    main, profile,
  }
}

interface AppendParams { name: string; records: number; perSend: number; acks: -1 | 1; worker?: string }

async function localAppend(p: AppendParams): Promise<unknown> {
  await deleteDatabase(p.name)
  const values = Array.from({ length: p.records }, (_, i) => value(i))
  const t0 = performance.now()
  const log = await openBrowserLog({ name: p.name, worker: workerFor(p.worker) })
  await log.admin().createTopics({ topics: [{ topic: 'local', numPartitions: 1 }] })
  const producer = log.producer()
  await producer.connect()
  const opened = performance.now()
  // Let the tasks that built the values and opened the log end first: the probe watches the sends only.
  await sleep(50)
  const stopProbe = mainThreadProbe()
  const t1 = performance.now()
  for (let base = 0; base < p.records; base += p.perSend) {
    const messages = []
    for (let i = base; i < Math.min(p.records, base + p.perSend); i++) messages.push({ partition: 0, value: values[i] })
    await producer.send({ topic: 'local', acks: p.acks, messages })
  }
  const done = performance.now()
  const main = stopProbe()
  await producer.disconnect()
  const [o] = await log.broker.listOffsets({ topic: 'local', partitions: [0], spec: 'latest' })
  if (o.offset !== p.records) throw new Error(`the local log holds ${o.offset} records, expected ${p.records}`)
  await log.close()
  await deleteDatabase(p.name)
  const ms = done - t1
  return { ms, recPerSec: rate(p.records, ms), openMs: opened - t0, main }
}

// ---- the outbox path, in steps (the harness takes the page offline between them)

let open: { log: EdgelogClient; name: string; topic: string } | undefined

async function openFollowing(p: { name: string; url: string; topic: string; worker?: string; maxWaitMs?: number }): Promise<void> {
  await deleteDatabase(p.name)
  const log = await openBrowserLog({ name: p.name, worker: workerFor(p.worker), remote: { url: p.url, follow: [p.topic], maxWaitMs: p.maxWaitMs } })
  open = { log, name: p.name, topic: p.topic }
  // The replica topic exists once the first discovery ran (producing needs the edge's topic id).
  while (await replicaEnd(log, p.topic) < 0) await sleep(10)
  for (;;) {
    const s = await log.sync.status()
    if (s.follower === 'online') break
    await sleep(10)
  }
}

async function produce(p: { records: number; perSend: number }): Promise<unknown> {
  const { log, topic } = open!
  const producer = log.producer({ idempotent: true })
  await producer.connect()
  const values = Array.from({ length: p.records }, (_, i) => value(i))
  const t0 = performance.now()
  let pending = 0
  for (let base = 0; base < p.records; base += p.perSend) {
    const messages = []
    for (let i = base; i < Math.min(p.records, base + p.perSend); i++) messages.push({ partition: 0, value: values[i] })
    const sent = await producer.send({ topic, messages })
    for (const m of sent) if (m.pending) pending++
  }
  const ms = performance.now() - t0
  await producer.disconnect()
  const status = await log.sync.status()
  return { ms, recPerSec: rate(p.records, ms), pendingMetadata: pending, waiting: status.outbox.waiting, forwarder: status.forwarder }
}

/**
 * Times log.sync.flush() from now (the edge reachable again). Meanwhile the outbox is watched
 * every `pollMs` through log.sync.status() to see when the first batch left it.
 */
async function flush(p: { records: number; pollMs?: number }): Promise<unknown> {
  const { log } = open!
  let firstDeliveryAt = 0
  let watching = true
  const watch = (async () => {
    while (watching && firstDeliveryAt === 0) {
      const s = await log.sync.status()
      if (s.outbox.waiting < p.records) firstDeliveryAt = performance.now()
      else await sleep(p.pollMs ?? 20)
    }
  })()
  const t0 = performance.now()
  await log.sync.flush(300_000)
  const done = performance.now()
  watching = false
  await watch
  const status = await log.sync.status()
  if (status.outbox.waiting !== 0 || status.outbox.deadLetters !== 0) throw new Error(`after flush: ${JSON.stringify(status.outbox)}`)
  const ms = done - t0
  return {
    ms, recPerSec: rate(p.records, ms),
    toFirstDeliveryMs: (firstDeliveryAt || done) - t0,
    afterFirstDeliveryRecPerSec: rate(p.records, done - (firstDeliveryAt || t0)),
  }
}

async function closeLog(): Promise<void> {
  if (!open) return
  await open.log.close()
  await deleteDatabase(open.name)
  open = undefined
}

/** The timing probes' sums from bench/sync-worker.ts (over a BroadcastChannel); or sets its what-ifs. */
function workerProfile(command: 'get' | 'reset' | { holdFollower?: boolean; maxBatchesPerRequest?: number; wakeOnOnline?: boolean; boundedReads?: boolean }): Promise<unknown> {
  const message = typeof command === 'string' ? { kind: command } : { kind: 'what-if', ...command }
  const channel = new BroadcastChannel('edgelog-bench-profile')
  return new Promise((resolve) => {
    const timer = setTimeout(() => { channel.close(); resolve(undefined) }, 2_000)
    channel.onmessage = (e) => {
      if (e.data?.kind !== 'profile') return
      clearTimeout(timer)
      channel.close()
      resolve(e.data.profile)
    }
    channel.postMessage(message)
  })
}

// For the probe worker's wakeOnOnline what-if: the page's own 'online' event, passed on.
addEventListener('online', () => {
  const channel = new BroadcastChannel('edgelog-bench-profile')
  channel.postMessage({ kind: 'online' })
  channel.close()
})

g.bench = { catchUp, localAppend, openFollowing, produce, flush, closeLog, workerProfile }
g.edgelogReady = true
