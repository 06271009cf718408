/** The partition's aborted-transaction index: range answers against a brute-force scan; pruning and truncation. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { PartitionTxns, txnKeys, type AbortedTxn } from '../../core/log/txn-index.ts'

/** Non-overlapping per producer, markers in offset order: what a log's appends produce. */
const indexArb = fc.array(fc.record({ producer: fc.nat({ max: 3 }), span: fc.nat({ max: 30 }), gap: fc.nat({ max: 10 }) }), { maxLength: 40 }).map((steps) => {
  const out: AbortedTxn[] = []
  let offset = 0
  for (const s of steps) {
    offset += s.gap + s.span + 1
    out.push({ producerId: s.producer, firstOffset: Math.max(0, offset - s.span - 1), lastOffset: offset })
  }
  return out
})

async function loaded(aborted: AbortedTxn[], ongoing: Array<{ producerId: number; producerEpoch: number; firstOffset: number }> = []) {
  const storage = new MemoryStorage()
  const stream = 't/0'
  await storage.commit({ meta: [
    { key: txnKeys.partition(stream), value: { ongoing, lastAborted: aborted.at(-1)?.lastOffset ?? -1 } },
    ...aborted.map((t) => ({ key: txnKeys.aborted(stream, t.lastOffset), value: t })),
  ] })
  const txns = new PartitionTxns(stream)
  await txns.load(storage)
  return { txns, storage, stream }
}

describe('aborted transaction index', () => {
  it('answers exactly the aborted transactions overlapping a range, by first offset', async () => {
    await fc.assert(fc.asyncProperty(indexArb, fc.nat({ max: 500 }), fc.nat({ max: 100 }), async (aborted, from, length) => {
      const { txns } = await loaded(aborted)
      const to = from + length + 1
      const brute = aborted.filter((t) => t.lastOffset >= from && t.firstOffset < to).sort((a, b) => a.firstOffset - b.firstOffset)
      expect(txns.abortedIn(from, to)).toEqual(brute)
    }))
  })

  it('LSO: the oldest ongoing transaction, never below the log start', async () => {
    const { txns } = await loaded([], [{ producerId: 1, producerEpoch: 0, firstOffset: 7 }, { producerId: 2, producerEpoch: 0, firstOffset: 4 }])
    expect(txns.lastStableOffset(20, 0)).toBe(4)
    expect(txns.lastStableOffset(20, 5)).toBe(5)
    const { txns: none } = await loaded([])
    expect(none.lastStableOffset(20, 0)).toBe(20)
  })

  it('prune and truncate change the stored index with the log, and the in-memory one after', async () => {
    const aborted = [{ producerId: 1, firstOffset: 0, lastOffset: 3 }, { producerId: 2, firstOffset: 2, lastOffset: 8 }, { producerId: 1, firstOffset: 10, lastOffset: 12 }]
    const { txns, storage, stream } = await loaded(aborted, [{ producerId: 3, producerEpoch: 0, firstOffset: 9 }, { producerId: 4, producerEpoch: 0, firstOffset: 14 }])
    const pruned = txns.prune(10)
    await storage.commit({ meta: pruned.meta })
    pruned.apply()
    expect(txns.aborted.map((t) => t.lastOffset)).toEqual([12])
    expect(txns.lastStableOffset(20, 10)).toBe(10) // producer 3's first offset moved up to the log start
    const cut = txns.truncate(12)
    await storage.commit({ meta: cut.meta })
    cut.apply()
    expect(txns.aborted).toEqual([])
    expect([...txns.ongoing.keys()]).toEqual([3])
    const reread = new PartitionTxns(stream)
    await reread.load(storage)
    expect(reread.aborted).toEqual([])
    expect(reread.lastStableOffset(12, 10)).toBe(10)
  })
})
