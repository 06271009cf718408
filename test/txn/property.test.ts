/**
 * Property: under generated interleavings of transactional producers (commit, abort, crash,
 * fencing, timeouts) with plain sends, maintenance and DeleteRecords, at every step
 *   - a read_committed reader gets exactly the committed records, in offset order, up to where
 *     it stops (the last stable offset), and nothing of an open or aborted transaction;
 *   - a read_uncommitted reader gets every acknowledged record;
 *   - the group offset sent with sendOffsets is the one of the last committed transaction;
 * and once every transaction has ended, read_committed reaches the high watermark, and a
 * KafkaJS-shaped consumer (readUncommitted false, the default) reads exactly the committed records.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { actionArb } from './model.ts'
import { consumeCommitted, runWorkload } from './checks.ts'

describe('transactions: property', () => {
  it('read_committed sees exactly the committed records; offsets move only on commit', async () => {
    const totals = { runs: 0, commits: 0, aborts: 0, crashes: 0, fences: 0, timeouts: 0, zombieRefusals: 0, trims: 0, records: 0 }
    await fc.assert(fc.asyncProperty(fc.array(actionArb, { minLength: 1, maxLength: 60, size: 'large' }), async (actions) => {
      const { broker, log, work } = await runWorkload(actions)
      // The consumer reads from the log start of each partition: what is left after trims.
      const states = await broker.describePartitions({ topic: 'out' })
      const committed = work.records.filter((r) => r.status === 'committed' && r.offset >= states[r.partition].logStartOffset)
      const seen = await consumeCommitted(log, `c${totals.runs}`, committed.length)
      expect([...seen].sort()).toEqual(committed.map((r) => r.value).sort())
      totals.runs++
      totals.records += work.records.length
      for (const k of Object.keys(work.stats) as Array<keyof typeof work.stats>) totals[k] += work.stats[k]
      await log.close()
    }), { numRuns: Number(process.env.TXN_RUNS ?? 40) })
    console.log(`txn property: ${JSON.stringify(totals)}`)
    // The generator reaches every path it is meant to.
    for (const k of ['commits', 'aborts', 'crashes', 'fences', 'timeouts', 'zombieRefusals', 'trims'] as const) expect(totals[k]).toBeGreaterThan(0)
  }, 120_000)
})
