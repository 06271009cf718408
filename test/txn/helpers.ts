/** Reading a partition as a read_committed (or read_uncommitted) consumer does, straight from the broker. */
import type { Broker } from '../../core/broker.ts'
import { decodeBatch, readBatchHeader } from '../../core/codec/record-batch.ts'
import { CommittedFilter } from '../../core/client/consumer/committed-filter.ts'

const decoder = new TextDecoder()

export interface ReadRecord { offset: number; value: string | null; key: string | null }

/** Every record a reader at `isolation` gets from `from` on, and where it stops (LSO or HW). */
export async function readPartition(broker: Broker, topic: string, partition: number, isolation: 'read_committed' | 'read_uncommitted', from = 0): Promise<{ records: ReadRecord[]; end: number }> {
  const out: ReadRecord[] = []
  let offset = from
  for (;;) {
    const result = await broker.fetch({ topic, partition, offset, maxBytes: 4096, isolationLevel: isolation === 'read_committed' ? 1 : 0 })
    if (result.batches.length === 0) return { records: out, end: offset }
    const filter = new CommittedFilter(isolation === 'read_committed' ? result.abortedTransactions : undefined)
    for (const bytes of result.batches) {
      const header = readBatchHeader(bytes)
      offset = Math.max(offset, header.baseOffset + header.lastOffsetDelta + 1)
      if (!filter.keep(header, bytes)) continue
      for (const r of (await decodeBatch(bytes)).records) {
        if (r.offset >= from) out.push({ offset: r.offset, value: r.value && decoder.decode(r.value), key: r.key && decoder.decode(r.key) })
      }
    }
  }
}

export const values = (records: ReadRecord[]) => records.map((r) => r.value)
