/** DeleteRecords: the log start moves up; segments keep agreeing with the batches held. */
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { readStream } from '../chaos/log-invariants.ts'
import { batchOf, openPartition, readAll } from './helpers.ts'

describe('deleteRecordsBefore', () => {
  for (const offset of [0, 1, 3, 4, 7, 12, 20, 29, 30]) {
    it(`at ${offset}: whole batches below go, segments agree, the log goes on`, async () => {
      const storage = new MemoryStorage()
      const { log } = await openPartition({ 'segment.bytes': 250 }, { storage })
      // 10 batches of 3 records: offsets 0..29, a few batches per segment.
      for (let i = 0; i < 10; i++) await log.append(batchOf([`${i}a`, `${i}b`, `${i}c`]))
      await log.deleteRecordsBefore(offset)
      expect(log.logStartOffset).toBe(offset)
      const { problems } = await readStream(storage, 't1/0')
      expect(problems).toEqual([])
      if (offset < 30) {
        const records = await readAll(log, offset)
        expect(records[0].offset).toBe(offset)
        expect(records.at(-1)!.offset).toBe(29)
      }
      if (offset > 0) await expect(log.read(offset - 1, 1000)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
      expect((await log.append(batchOf(['next']))).baseOffset).toBe(30)
      expect((await readStream(storage, 't1/0')).problems).toEqual([])
      const reopened = await openPartition({ 'segment.bytes': 250 }, { storage })
      expect(reopened.log.logStartOffset).toBe(offset)
      expect(reopened.log.highWatermark).toBe(31)
    })
  }

  it('refuses an offset past the end, and changes nothing', async () => {
    const { log, storage } = await openPartition()
    await log.append(batchOf(['a']))
    await expect(log.deleteRecordsBefore(5)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    expect(log.logStartOffset).toBe(0)
    expect((await readStream(storage, 't1/0')).records).toHaveLength(1)
  })
})
