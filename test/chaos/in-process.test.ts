/**
 * The log in process, under injected storage faults and restarts, with fast-check generating
 * the workloads: idempotent and plain producers with retries, a consumer group committing
 * offsets, maintenance running alongside. Commits fail before applying, apply and then fail
 * (the ambiguous case), run slowly; reads fail; the broker restarts over the same storage
 * (a Durable Object evicted, a worker restarted); and two contexts share one store, as browser
 * tabs share an IndexedDB database. Afterwards nothing acknowledged is missing,
 * nothing is stored twice, each producer's order holds per partition, the stored head and
 * segments agree with the batches, the group reaches every record, and no committed offset
 * was ever ahead of what the handler had finished.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient } from '../../core/client/client.ts'
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import type { Broker } from '../../core/broker.ts'
import { FaultyStorage, NO_FAULTS, SharingHub, seededRandom, type FaultRates } from './faulty-storage.ts'
import { Ledger, recordValue } from './ledger.ts'
import { readStream } from './log-invariants.ts'
import { report, scaled } from './scale.ts'

const TOPIC = 't'
const GROUP = 'g'

interface ProducerSpec { idempotent: boolean; retries: number; sends: number; concurrency: number; maxBatchBytes: number; lingerMs: number }
interface Workload {
  seed: number
  partitions: number
  producers: ProducerSpec[]
  recordsPerSend: number
  faults: FaultRates
  segmentBytes: number
  consumers: number
  restarts: number
  maintenance: boolean
  /** 2: two contexts (browser tabs) share the store, each with its own broker; optimistic commits. */
  contexts: number
}

const workloads: fc.Arbitrary<Workload> = fc.record({
  seed: fc.integer(),
  partitions: fc.integer({ min: 1, max: 4 }),
  producers: fc.array(fc.record({
    idempotent: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    retries: fc.integer({ min: 0, max: 8 }),
    sends: fc.integer({ min: 1, max: 15 }),
    concurrency: fc.integer({ min: 1, max: 3 }),
    maxBatchBytes: fc.constantFrom(200, 1_000, 1 << 20),
    lingerMs: fc.constantFrom(0, 0, 2),
  }), { minLength: 1, maxLength: 4 }),
  recordsPerSend: fc.integer({ min: 1, max: 25 }),
  faults: fc.record({
    commitFailsBefore: fc.double({ min: 0, max: 0.25, noNaN: true }),
    commitFailsAfter: fc.double({ min: 0, max: 0.25, noNaN: true }),
    readFails: fc.double({ min: 0, max: 0.1, noNaN: true }),
    slowCommit: fc.double({ min: 0, max: 0.3, noNaN: true }),
    maxDelayMs: fc.constantFrom(1, 5, 20),
  }),
  segmentBytes: fc.constantFrom(400, 4_000, 1 << 20),
  consumers: fc.integer({ min: 0, max: 2 }),
  restarts: fc.integer({ min: 0, max: 3 }),
  maintenance: fc.boolean(),
  contexts: fc.integer({ min: 1, max: 2 }),
})

/**
 * One process's broker over storage that outlives it: `restart()` closes it and opens a new one
 * on the same store. A request the old one could not finish fails as a dropped connection would.
 */
class RestartableBroker {
  private current: LocalBroker
  restarts = 0
  readonly broker: Broker
  constructor(private readonly open: () => LocalBroker) {
    this.current = open()
    this.broker = new Proxy({} as Broker, {
      get: (_target, name) => {
        if (name === 'close') return async () => {}
        return async (...args: unknown[]) => {
          const target = this.current
          try {
            return await (Reflect.get(target, name) as (...a: unknown[]) => Promise<unknown>).apply(target, args)
          } catch (error) {
            if (target !== this.current || isEdgelogError(error, 'CLOSED')) throw new EdgelogError('NETWORK_EXCEPTION', 'the broker restarted', { cause: error })
            throw error
          }
        }
      },
    })
  }
  async restart(): Promise<void> {
    const old = this.current
    this.current = this.open()
    this.restarts++
    await old.close()
  }
  close(): Promise<void> { return this.current.close() }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Outcome {
  acknowledged: number
  rejectedSends: number
  lost: number
  duplicated: number
  outOfOrder: number
  misplaced: number
  structural: number
  uncommittedAhead: number
  unread: number
  details: string[]
}

async function run(w: Workload): Promise<Outcome & { faults: FaultyStorage['injected']; restarts: number }> {
  const memory = new MemoryStorage()
  const hub = new SharingHub()
  const views = Array.from({ length: w.contexts }, (_, context) =>
    new FaultyStorage(memory, NO_FAULTS, seededRandom(w.seed + context), w.contexts > 1 ? { hub, context } : undefined))
  const pick = seededRandom(w.seed ^ 0x5bd1e995)
  const nodes = views.map((storage) => new RestartableBroker(() => new LocalBroker({ storage })))
  const node = nodes[0]
  const client = (context = 0) => createClient(nodes[context].broker, { onClose: async () => {} })
  await client().admin().createTopics({ topics: [{ topic: TOPIC, numPartitions: w.partitions, configEntries: [{ name: 'segment.bytes', value: String(w.segmentBytes) }] }] })
  for (const v of views) v.rates = w.faults
  const details: string[] = []

  // The group: what each handler finished, and every committed offset checked against it.
  const handled = Array.from({ length: w.partitions }, () => new Set<number>())
  const checkedUpTo = new Array(w.partitions).fill(0)
  let uncommittedAhead = 0
  const checkCommits = async () => {
    for (const { key, value } of await memory.listMeta<{ offset: number }>(`offset/${GROUP}/`)) {
      const p = Number(key.slice(key.lastIndexOf('/') + 1))
      while (checkedUpTo[p] < value.offset) {
        if (!handled[p].has(checkedUpTo[p])) {
          uncommittedAhead++
          details.push(`partition ${p}: offset ${value.offset} committed, ${checkedUpTo[p]} not handled`)
          break
        }
        checkedUpTo[p]++
      }
    }
  }
  const consumers = Array.from({ length: w.consumers }, () => {
    const consumer = client().consumer({ groupId: GROUP, heartbeatInterval: 30, sessionTimeout: 1_500, rebalanceTimeout: 3_000, maxWaitTimeInMs: 50, retry: { retries: 20, initialRetryTime: 5, maxRetryTime: 100 } })
    return consumer
  })
  for (const c of consumers) {
    await c.connect()
    await c.subscribe({ topics: [TOPIC], fromBeginning: true })
    await c.run({ eachMessage: async ({ partition, message }) => { handled[partition].add(Number(message.offset)) } })
  }

  const ledger = new Ledger()
  let producing = true
  const producers = w.producers.map(async (spec, n) => {
    const name = `p${n}`
    ledger.producer(name, spec.idempotent)
    const producer = client(n % w.contexts).producer({
      idempotent: spec.idempotent, maxBatchBytes: spec.maxBatchBytes, lingerMs: spec.lingerMs,
      retry: { retries: spec.retries, initialRetryTime: 1, maxRetryTime: 20 },
    })
    let next = 0
    const worker = async () => {
      for (let send = next++; send < spec.sends; send = next++) {
        const messages = Array.from({ length: w.recordsPerSend }, (_, i) => ({ value: recordValue(name, send, i), partition: Math.floor(pick() * w.partitions) }))
        try {
          const answers = await producer.send({ topic: TOPIC, messages, acks: -1 })
          ledger.acknowledge(name, send, answers.map((a) => ({
            partition: a.partition, baseOffset: Number(a.baseOffset),
            values: messages.filter((m) => m.partition === a.partition).map((m) => m.value),
          })))
        } catch (error) {
          if (!isEdgelogError(error)) details.push(`${name} send ${send}: not an EdgelogError: ${String(error)}`)
          ledger.reject()
        }
      }
    }
    // A producer that cannot even connect (faults) tries again, as an application would.
    for (let attempt = 0; ; attempt++) {
      try { await producer.connect(); break } catch (error) { if (attempt > 50) throw error; await sleep(2) }
    }
    await Promise.all(Array.from({ length: spec.concurrency }, worker))
  })
  const chaos = (async () => {
    for (let i = 0; i < w.restarts && producing; i++) {
      await sleep(5 + pick() * 60)
      if (producing) await nodes[Math.floor(pick() * nodes.length)].restart()
    }
  })()
  const maintenance = (async () => {
    while (w.maintenance && producing) {
      await client().admin().runMaintenance({ topic: TOPIC }).catch(() => {})
      await checkCommits()
      await sleep(10)
    }
  })()
  const committing = (async () => { while (producing) { await checkCommits(); await sleep(15) } })()
  await Promise.all(producers)
  producing = false
  await Promise.all([chaos, maintenance, committing])

  // The faults stop; the log restarts once more from what storage holds, and is checked.
  for (const v of views) v.rates = NO_FAULTS
  await node.restart()
  const stored = new Map<number, Array<{ offset: number; value: string }>>()
  let structural = 0
  const topicRecord = await memory.getMeta<{ topicId: string }>(`topic/${TOPIC}`)
  for (let p = 0; p < w.partitions; p++) {
    const { records, problems } = await readStream(memory, `${topicRecord!.topicId}/${p}`)
    structural += problems.length
    details.push(...problems)
    stored.set(p, records)
  }
  const verdict = ledger.verify(stored)
  details.push(...verdict.details)

  // The group reaches every stored record.
  let unread = 0
  if (consumers.length) {
    const deadline = Date.now() + 30_000
    const missing = () => [...stored].reduce((n, [p, records]) => n + records.filter((r) => !handled[p].has(r.offset)).length, 0)
    while (missing() > 0 && Date.now() < deadline) { await checkCommits(); await sleep(20) }
    unread = missing()
    if (unread) details.push(`group: ${unread} stored records never handled`)
    await Promise.all(consumers.map((c) => c.disconnect()))
    await checkCommits()
  }
  await Promise.all(nodes.map((n) => n.close()))
  const injected = { failedBefore: 0, ambiguous: 0, failedReads: 0, slow: 0, commits: 0 }
  for (const v of views) for (const k of Object.keys(injected) as Array<keyof typeof injected>) injected[k] += v.injected[k]
  return {
    acknowledged: verdict.acknowledged, rejectedSends: ledger.rejectedSends, lost: verdict.lost, duplicated: verdict.duplicated,
    outOfOrder: verdict.outOfOrder, misplaced: verdict.misplaced + verdict.gaps, structural, uncommittedAhead, unread, details,
    faults: injected, restarts: nodes.reduce((n, x) => n + x.restarts, 0),
  }
}

describe('chaos in process: storage faults and restarts under generated workloads', () => {
  it('loses nothing acknowledged, stores nothing twice, and keeps the log whole', async () => {
    const totals = { runs: 0, acknowledged: 0, rejectedSends: 0, lost: 0, duplicated: 0, outOfOrder: 0, misplaced: 0, structural: 0, uncommittedAhead: 0, unread: 0, failedCommits: 0, ambiguousCommits: 0, failedReads: 0, restarts: 0 }
    const seed = Number(process.env.EDGELOG_CHAOS_SEED ?? Date.now() % 2 ** 31)
    try {
      await fc.assert(fc.asyncProperty(workloads, async (w) => {
        const o = await run(w)
        totals.runs++
        totals.acknowledged += o.acknowledged
        totals.rejectedSends += o.rejectedSends
        totals.lost += o.lost
        totals.duplicated += o.duplicated
        totals.outOfOrder += o.outOfOrder
        totals.misplaced += o.misplaced
        totals.structural += o.structural
        totals.uncommittedAhead += o.uncommittedAhead
        totals.unread += o.unread
        totals.failedCommits += o.faults.failedBefore
        totals.ambiguousCommits += o.faults.ambiguous
        totals.failedReads += o.faults.failedReads
        totals.restarts += o.restarts
        const bad = o.lost + o.duplicated + o.outOfOrder + o.misplaced + o.structural + o.uncommittedAhead + o.unread
        if (bad > 0) throw new Error(`workload ${JSON.stringify(w)}\n${o.details.join('\n')}`)
      }), { numRuns: scaled(25, 200), seed, endOnFailure: true })
    } finally {
      report('in-process', { seed, ...totals })
    }
    expect(totals.lost + totals.duplicated).toBe(0)
  })
})
