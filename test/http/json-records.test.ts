/**
 * The JSON produce route's encoding (worker/http/records.ts), in Node: utf8 strings go into the
 * batch as strings (the record encoder writes them), and what is stored must be exactly what
 * encoding each string with TextEncoder first would store — the bytes, the partition a key
 * hashes to, and batches packed within the limit.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeBatch, validateBatch } from '../../core/codec/record-batch.ts'
import { murmur2, toPositive } from '../../core/partitioner.ts'
import { toPartitionBatches } from '../../worker/http/records.ts'

const encoder = new TextEncoder()
// Any UTF-16 string, lone surrogates included (TextEncoder writes U+FFFD for them).
const text = fc.string({ unit: fc.oneof(fc.constantFrom('a', 'é', '€', '😀', '\ud800', '\udc00'), fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))), maxLength: 40 })
const record = fc.record({ key: fc.option(text, { nil: null }), value: fc.option(text, { nil: null }), headers: fc.dictionary(fc.string({ maxLength: 5 }), fc.option(text, { nil: null }), { maxKeys: 2 }) })

describe('JSON records into batches', () => {
  it('stores each string as its TextEncoder bytes, in the partition its key hashes to, within the batch limit', async () => {
    await fc.assert(fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 4 }), async (records, partitions) => {
      const limit = 2_000
      const groups = toPartitionBatches(records, partitions, { encoding: 'utf8', maxRecords: 1000, maxBatchBytes: limit, targetBatchBytes: 600 })
      const seen = new Set<number>()
      for (const g of groups) {
        let at = 0
        for (const batch of g.batches) {
          expect(batch.byteLength).toBeLessThanOrEqual(limit)
          await validateBatch(batch)
          for (const r of (await decodeBatch(batch)).records) {
            const i = g.indexes[at++]
            seen.add(i)
            const sent = records[i]
            expect(r.key).toEqual(sent.key === null ? null : encoder.encode(sent.key))
            expect(r.value).toEqual(sent.value === null ? null : encoder.encode(sent.value))
            expect(r.headers).toEqual(Object.entries(sent.headers).map(([key, v]) => ({ key, value: v === null ? null : encoder.encode(v) })))
            if (sent.key !== null) expect(g.partition).toBe(toPositive(murmur2(encoder.encode(sent.key))) % partitions)
          }
        }
      }
      expect(seen.size).toBe(records.length)
    }), { numRuns: 150 })
  })

  it('refuses a record that cannot fit a batch of the limit (multi-byte characters counted as bytes)', () => {
    // 700 three-byte characters: 2,100 bytes, over a 2,000-byte limit though only 700 characters.
    expect(() => toPartitionBatches([{ value: '€'.repeat(700) }], 1, { encoding: 'utf8', maxRecords: 10, maxBatchBytes: 2_000 })).toThrow(/MESSAGE_TOO_LARGE|needs a record batch/)
  })
})
