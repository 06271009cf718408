/**
 * What a read_committed consumer drops, as Kafka's Java consumer does it (KafkaJS's
 * filterAbortedMessages, per batch): the fetch answers the aborted transactions overlapping
 * its batches (producer id, first offset); walking the batches in offset order, a producer
 * enters the aborted set once a batch reaches its transaction's first offset, its
 * transactional batches are skipped while it is there, and its abort marker takes it out.
 * Control batches (the markers) are never handed to the application, in either isolation level.
 */
import type { BatchHeader } from '../../codec/record-batch.ts'
import { decodeRecords } from '../../codec/record-batch.ts'
import { readControlRecord } from '../../codec/control-batch.ts'

export class CommittedFilter {
  private readonly pending: Array<{ producerId: number; firstOffset: number }>
  private next = 0
  private readonly abortedProducers = new Set<number>()

  constructor(abortedTransactions: Array<{ producerId: number; firstOffset: number }> | undefined) {
    this.pending = (abortedTransactions ?? []).slice().sort((a, b) => a.firstOffset - b.firstOffset)
  }

  /** Whether the batch's records go to the application. */
  keep(header: BatchHeader, bytes: Uint8Array): boolean {
    if (header.producerId >= 0) {
      const lastOffset = header.baseOffset + header.lastOffsetDelta
      while (this.next < this.pending.length && this.pending[this.next].firstOffset <= lastOffset) {
        this.abortedProducers.add(this.pending[this.next++].producerId)
      }
    }
    if (header.isControl) {
      // Markers are written uncompressed, one record.
      if (this.abortedProducers.size > 0 && header.compression === 'none') {
        const [record] = decodeRecords(bytes, header)
        if (record && readControlRecord(record)?.type === 'abort') this.abortedProducers.delete(header.producerId)
      }
      return false
    }
    return !(header.isTransactional && this.abortedProducers.has(header.producerId))
  }
}
