/**
 * Property under a store that fails (test/chaos/faulty-storage.ts): commits that fail before
 * applying, commits that apply and then fail (the outcome unknown to the caller), failed reads.
 * Generated rounds of transactions (sends over two partitions, offsets for a group, then commit,
 * abort or crash) run as an application would: a failed send aborts the transaction, a failed
 * commit or abort is tried again, a producer that finds itself fenced is replaced. Afterwards
 * (faults off, every open transaction finished by new producers and maintenance):
 *   - every transaction the application saw committed is read by read_committed, whole, at the
 *     offsets its sends were answered with; none it aborted, crashed or gave up on before a
 *     commit is seen at all; one whose commit it gave up on is seen whole or not at all;
 *   - nothing else is read (no record of a failed send outside a committed transaction);
 *   - the group's offset is the one of the last round that committed (only id A sends offsets).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient } from '../../core/client/client.ts'
import type { Producer } from '../../core/client/producer.ts'
import type { Transaction } from '../../core/client/transaction.ts'
import { isEdgelogError } from '../../core/errors.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { FaultyStorage, NO_FAULTS, seededRandom } from '../chaos/faulty-storage.ts'
import { clock } from '../core/helpers.ts'
import { readPartition } from './helpers.ts'

const RATES = { commitFailsBefore: 0.06, commitFailsAfter: 0.06, readFails: 0.03, slowCommit: 0, maxDelayMs: 0 }
const ATTEMPTS = 30

interface Round { id: 0 | 1; sends: Array<{ partition: number; count: number }>; offset: number | null; end: 'commit' | 'abort' | 'crash' }
const roundArb: fc.Arbitrary<Round> = fc.record({
  id: fc.constantFrom(0 as const, 1 as const),
  sends: fc.array(fc.record({ partition: fc.nat({ max: 1 }), count: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 4 }),
  offset: fc.option(fc.nat({ max: 1000 })),
  end: fc.constantFrom('commit' as const, 'commit' as const, 'abort' as const, 'crash' as const),
})

type Outcome = 'committed' | 'not-committed' | 'unknown'
interface Sent { value: string; partition: number; offset: number }

/** `fn` until it succeeds (a store fault is retriable), at most ATTEMPTS times; the last error otherwise. */
async function persist<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      if (attempt >= ATTEMPTS || !(isEdgelogError(error) && error.retriable)) throw error
    }
  }
}

async function runRounds(rounds: Round[], seed: number) {
  const faulty = new FaultyStorage(new MemoryStorage(), NO_FAULTS, seededRandom(seed))
  const time = clock(Date.now())
  const broker = new LocalBroker({ storage: faulty, now: time.now, transactionCleanupIntervalMs: 0 })
  const log = createClient(broker)
  await broker.createTopics({ topics: [{ topic: 'out', numPartitions: 2 }, { topic: 'in', numPartitions: 1 }] })
  faulty.rates = RATES
  const producers: Array<Producer | undefined> = [undefined, undefined]
  const fresh = (id: number) => (producers[id] = log.producer({ transactionalId: id === 0 ? 'A' : 'B', transactionTimeout: 1000, retry: { retries: 3, initialRetryTime: 1 } }))
  const results: Array<{ round: Round; outcome: Outcome; sent: Sent[] }> = []
  let counter = 0
  for (const round of rounds) {
    const sent: Sent[] = []
    let outcome: Outcome = 'not-committed'
    let txn: Transaction | undefined
    try {
      txn = await persist(() => (producers[round.id] ?? fresh(round.id)).transaction())
    } catch {
      fresh(round.id)
      results.push({ round, outcome, sent })
      continue
    }
    let failed = false
    for (const { partition, count } of round.sends) {
      const values = Array.from({ length: count }, () => `r${results.length}-${++counter}`)
      try {
        const [meta] = await txn.send({ topic: 'out', messages: values.map((value) => ({ value, partition })) })
        values.forEach((value, i) => sent.push({ value, partition, offset: Number(meta.baseOffset) + i }))
      } catch {
        failed = true
        break
      }
    }
    const offset = round.id === 0 ? round.offset : null
    if (!failed && offset !== null) {
      try {
        await txn.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: String(offset) }] }] })
      } catch {
        failed = true
      }
    }
    if (round.end === 'crash') {
      producers[round.id] = undefined
    } else if (round.end === 'commit' && !failed) {
      try {
        await persist(() => txn!.commit())
        outcome = 'committed'
      } catch {
        // Given up: the coordinator may hold PrepareCommit (committed on recovery) or Ongoing.
        outcome = 'unknown'
        fresh(round.id)
      }
    } else {
      try {
        await persist(() => txn!.abort())
      } catch {
        fresh(round.id) // its epoch is unknown now: a new producer (whose init aborts what is open)
      }
    }
    results.push({ round: { ...round, offset }, outcome, sent })
  }
  // Recovery: no more faults; each id's new producer aborts what is open, maintenance finishes Prepare*.
  faulty.rates = NO_FAULTS
  for (const id of ['A', 'B']) await (await log.producer({ transactionalId: id }).transaction()).abort()
  time.advance(2000)
  await broker.runMaintenance({})
  return { broker, results, faulty }
}

describe('transactions over a failing store', () => {
  it('committed transactions are read whole, others never; offsets follow the commits', async () => {
    const injected = { failedBefore: 0, ambiguous: 0, failedReads: 0, rounds: 0, committed: 0, unknown: 0 }
    await fc.assert(fc.asyncProperty(fc.array(roundArb, { minLength: 1, maxLength: 12 }), fc.integer(), async (rounds, seed) => {
      const { broker, results, faulty } = await runRounds(rounds, seed)
      const read = new Map<string, { partition: number; offset: number }>()
      for (let p = 0; p < 2; p++) {
        const { records } = await readPartition(broker, 'out', p, 'read_committed')
        for (const r of records) {
          expect(read.has(r.value!)).toBe(false) // never twice
          read.set(r.value!, { partition: p, offset: r.offset })
        }
      }
      let expectedOffset = -1
      const accounted = new Set<string>()
      for (const { round, outcome, sent } of results) {
        const seen = sent.filter((s) => read.has(s.value))
        if (outcome === 'committed') {
          for (const s of sent) expect(read.get(s.value)).toEqual({ partition: s.partition, offset: s.offset })
        } else if (outcome === 'not-committed') {
          expect(seen).toEqual([])
        } else {
          expect(seen.length === 0 || seen.length === sent.length).toBe(true) // whole or nothing
        }
        const committed = outcome === 'committed' || (outcome === 'unknown' && seen.length > 0)
        if (committed && round.offset !== null) expectedOffset = round.offset
        for (const s of sent) accounted.add(s.value)
      }
      // Nothing read that no acknowledged send of a committed transaction explains.
      for (const value of read.keys()) expect(accounted.has(value)).toBe(true)
      const unknownWithOffsets = results.some((r) => r.outcome === 'unknown' && r.round.offset !== null && r.sent.length === 0)
      if (!unknownWithOffsets) expect((await broker.fetchOffsets({ groupId: 'g', topics: ['in'] }))[0].offset).toBe(expectedOffset)
      injected.failedBefore += faulty.injected.failedBefore
      injected.ambiguous += faulty.injected.ambiguous
      injected.failedReads += faulty.injected.failedReads
      injected.rounds += results.length
      injected.committed += results.filter((r) => r.outcome === 'committed').length
      injected.unknown += results.filter((r) => r.outcome === 'unknown').length
    }), { numRuns: Number(process.env.TXN_RUNS ?? 40) })
    console.log(`txn faults: ${JSON.stringify(injected)}`)
    expect(injected.ambiguous).toBeGreaterThan(0)
    expect(injected.committed).toBeGreaterThan(0)
  }, 120_000)
})
