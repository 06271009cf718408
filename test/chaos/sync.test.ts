/**
 * Chaos for sync: a browser-like log follows a leader and produces to followed topics through
 * its outbox while its own store fails (commits failing before or after applying, failed
 * reads), the link to the leader drops requests and answers, and the log restarts over the
 * same store. Afterwards the leader holds every acknowledged record exactly once, in order per
 * producer and partition, and the replica holds the leader's batches at the leader's offsets.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient } from '../../core/client/client.ts'
import type { Broker } from '../../core/broker.ts'
import { EdgelogError } from '../../core/errors.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { openLog } from '../../core/open-log.ts'
import { decodeBatch } from '../../core/codec/record-batch.ts'
import { FaultyStorage, NO_FAULTS, seededRandom, type FaultRates } from './faulty-storage.ts'
import { Ledger, recordValue, type StoredRecord } from './ledger.ts'
import { report, scaled } from './scale.ts'

interface Workload {
  seed: number
  partitions: number
  producers: Array<{ sends: number; retries: number }>
  recordsPerSend: number
  faults: FaultRates
  link: { dropRequest: number; dropAnswer: number }
  restarts: number
}

const workloads: fc.Arbitrary<Workload> = fc.record({
  seed: fc.integer(),
  partitions: fc.integer({ min: 1, max: 3 }),
  producers: fc.array(fc.record({ sends: fc.integer({ min: 1, max: 10 }), retries: fc.integer({ min: 0, max: 5 }) }), { minLength: 1, maxLength: 3 }),
  recordsPerSend: fc.integer({ min: 1, max: 20 }),
  faults: fc.record({
    commitFailsBefore: fc.double({ min: 0, max: 0.15, noNaN: true }),
    commitFailsAfter: fc.double({ min: 0, max: 0.15, noNaN: true }),
    readFails: fc.double({ min: 0, max: 0.05, noNaN: true }),
    slowCommit: fc.double({ min: 0, max: 0.2, noNaN: true }),
    maxDelayMs: fc.constantFrom(1, 5),
  }),
  link: fc.record({ dropRequest: fc.double({ min: 0, max: 0.3, noNaN: true }), dropAnswer: fc.double({ min: 0, max: 0.3, noNaN: true }) }),
  restarts: fc.integer({ min: 0, max: 2 }),
})

/** The leader behind a link that loses requests (not processed) and answers (processed, then lost). */
function lossyLink(leader: LocalBroker, random: () => number, rates: { dropRequest: number; dropAnswer: number }, stats: { requests: number; dropped: number; lost: number }) {
  let on = true
  const broker = new Proxy(leader, {
    get: (target, name, receiver) => {
      const value = Reflect.get(target, name, receiver)
      if (typeof value !== 'function' || name === 'close') return value
      return async (...args: unknown[]) => {
        stats.requests++
        if (on && random() < rates.dropRequest) { stats.dropped++; throw new EdgelogError('NETWORK_EXCEPTION', 'request lost') }
        const result = await value.apply(target, args)
        if (on && random() < rates.dropAnswer) { stats.lost++; throw new EdgelogError('NETWORK_EXCEPTION', 'answer lost') }
        return result
      }
    },
  }) as Broker
  return { broker, calm: () => { on = false } }
}

async function readAll(broker: Broker, topic: string, partition: number): Promise<Array<StoredRecord & { crc: number }>> {
  const out: Array<StoredRecord & { crc: number }> = []
  let offset = 0
  for (;;) {
    const r = await broker.fetch({ topic, partition, offset, maxBytes: 1 << 22 })
    if (r.batches.length === 0) break
    for (const b of r.batches) {
      const { header, records } = await decodeBatch(b)
      for (const rec of records) out.push({ offset: rec.offset, value: new TextDecoder().decode(rec.value!), crc: header.crc })
      offset = header.baseOffset + header.lastOffsetDelta + 1
    }
  }
  return out
}

async function run(w: Workload) {
  const random = seededRandom(w.seed)
  const leader = new LocalBroker({ storage: new MemoryStorage() })
  await createClient(leader, { onClose: async () => {} }).admin().createTopics({ topics: [{ topic: 'orders', numPartitions: w.partitions }] })
  const stats = { requests: 0, dropped: 0, lost: 0 }
  const link = lossyLink(leader, random, w.link, stats)
  // The follower's store outlives its log (IndexedDB across reloads).
  const memory = new MemoryStorage()
  memory.close = async () => {}
  const store = new FaultyStorage(memory, NO_FAULTS, seededRandom(w.seed + 1))
  const open = () => openLog({ storage: store, follow: { leader: link.broker, source: 'leader', topics: ['orders'], maxWaitMs: 50, discoveryIntervalMs: 100 } })
  let log = await open()
  await log.sync.status()
  // Wait for the first sync (the replica topic must exist before producing to it).
  for (let i = 0; i < 200 && !(await log.admin().listTopics()).includes('orders'); i++) await new Promise((r) => setTimeout(r, 10))
  store.rates = w.faults
  const ledger = new Ledger()
  let restarts = 0
  let restarting: Promise<void> | undefined
  const producing = w.producers.map(async (spec, n) => {
    const name = `p${n}`
    ledger.producer(name, true)
    for (let send = 0; send < spec.sends; send++) {
      await restarting
      const messages = Array.from({ length: w.recordsPerSend }, (_, i) => ({ value: recordValue(name, send, i), partition: Math.floor(random() * w.partitions) }))
      try {
        const producer = log.producer({ idempotent: true, retry: { retries: spec.retries, initialRetryTime: 1, maxRetryTime: 10 } })
        const answers = await producer.send({ topic: 'orders', acks: -1, messages })
        // Acknowledged: in the outbox, durably. Its leader offsets are not known yet (-1).
        ledger.acknowledge(name, send, answers.map((a) => ({ partition: a.partition, baseOffset: -1, values: messages.filter((m) => m.partition === a.partition).map((m) => m.value) })))
      } catch {
        ledger.reject()
      }
    }
  })
  const chaos = (async () => {
    for (let i = 0; i < w.restarts; i++) {
      await new Promise((r) => setTimeout(r, 5 + random() * 40))
      let done!: () => void
      restarting = new Promise((r) => (done = r))
      await log.close().catch(() => {})
      log = await open()
      restarts++
      done()
    }
  })()
  await Promise.all([...producing, chaos])
  store.rates = NO_FAULTS
  link.calm()
  await log.sync.flush(30_000)
  const atLeader = new Map<number, StoredRecord[]>()
  const details: string[] = []
  let replicaMismatch = 0
  for (let p = 0; p < w.partitions; p++) {
    const leaderRecords = await readAll(leader, 'orders', p)
    atLeader.set(p, leaderRecords)
    // The replica catches up to exactly the leader's batches.
    const deadline = Date.now() + 10_000
    let replica = await readAll(log.broker, 'orders', p)
    while (replica.length < leaderRecords.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
      replica = await readAll(log.broker, 'orders', p)
    }
    if (JSON.stringify(replica) !== JSON.stringify(leaderRecords)) {
      replicaMismatch++
      details.push(`partition ${p}: replica ${replica.length} records, leader ${leaderRecords.length}`)
    }
  }
  const verdict = ledger.verify(atLeader)
  const dead = (await log.sync.deadLetters()).length
  await log.close()
  await leader.close()
  return { verdict, ledger, stats, restarts, replicaMismatch, dead, details: [...details, ...verdict.details], injected: store.injected }
}

describe('chaos: sync through faults, lost requests and answers, restarts', () => {
  it('delivers every acknowledged record to the leader exactly once, in order, and the replica matches', async () => {
    const totals = { runs: 0, acknowledged: 0, rejectedSends: 0, lost: 0, duplicated: 0, outOfOrder: 0, replicaMismatch: 0, deadLetters: 0, requests: 0, droppedRequests: 0, lostAnswers: 0, ambiguousCommits: 0, restarts: 0 }
    const seed = Number(process.env.EDGELOG_CHAOS_SEED ?? Date.now() % 2 ** 31)
    try {
      await fc.assert(fc.asyncProperty(workloads, async (w) => {
        const o = await run(w)
        totals.runs++
        totals.acknowledged += o.verdict.acknowledged
        totals.rejectedSends += o.ledger.rejectedSends
        totals.lost += o.verdict.lost
        totals.duplicated += o.verdict.duplicated
        totals.outOfOrder += o.verdict.outOfOrder
        totals.replicaMismatch += o.replicaMismatch
        totals.deadLetters += o.dead
        totals.requests += o.stats.requests
        totals.droppedRequests += o.stats.dropped
        totals.lostAnswers += o.stats.lost
        totals.ambiguousCommits += o.injected.ambiguous
        totals.restarts += o.restarts
        // A loop that hammers the leader is a failure too (a few hundred requests make a run).
        const spinning = o.stats.requests > 20_000 ? 1 : 0
        if (spinning) o.details.push(`${o.stats.requests} requests to the leader in one run`)
        const bad = o.verdict.lost + o.verdict.duplicated + o.verdict.outOfOrder + o.replicaMismatch + o.dead + spinning
        if (bad > 0) throw new Error(`workload ${JSON.stringify(w)}\n${o.details.join('\n')}`)
      }), { numRuns: scaled(8, 60), seed, endOnFailure: true })
    } finally {
      report('sync', { seed, ...totals })
    }
    expect(totals.lost + totals.duplicated).toBe(0)
  })
})
