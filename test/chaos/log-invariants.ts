/**
 * What must hold of a partition as stored, whatever happened while it was written: the
 * head, the segments and the batches agree with each other, and every batch is intact.
 */
import { decodeBatch, validateBatch } from '../../core/codec/record-batch.ts'
import type { SegmentInfo } from '../../core/broker.ts'
import type { PartitionHead } from '../../core/log/append-plan.ts'
import type { StorageAdapter } from '../../core/storage.ts'
import type { StoredRecord } from './ledger.ts'

export async function readStream(storage: StorageAdapter, stream: string): Promise<{ records: StoredRecord[]; problems: string[] }> {
  const problems: string[] = []
  const head = await storage.getMeta<PartitionHead>(`head/${stream}`)
  const segments = (await storage.listMeta<SegmentInfo>(`seg/${stream}/`)).map((e) => e.value)
  const batches = await storage.readBatches(stream, 0, { maxBytes: Number.MAX_SAFE_INTEGER })
  const records: StoredRecord[] = []
  if (!head) return { records, problems: batches.length ? [`${stream}: batches but no head`] : [] }
  let expected = head.logStartOffset
  for (const [i, b] of batches.entries()) {
    // The first batch may start before the log start (records deleted below it: DeleteRecords).
    const holdsStart = i === 0 && b.baseOffset <= expected && b.lastOffset >= expected
    if (b.baseOffset !== expected && !holdsStart) problems.push(`${stream}: batch at ${b.baseOffset}, expected ${expected}`)
    try {
      const header = await validateBatch(b.bytes)
      if (header.baseOffset !== b.baseOffset || b.baseOffset + header.lastOffsetDelta !== b.lastOffset) {
        problems.push(`${stream}: batch keyed ${b.baseOffset}..${b.lastOffset} holds ${header.baseOffset}+${header.lastOffsetDelta}`)
      }
      for (const r of (await decodeBatch(b.bytes)).records) {
        if (r.offset >= head.logStartOffset) records.push({ offset: r.offset, value: new TextDecoder().decode(r.value!) })
      }
    } catch (error) {
      problems.push(`${stream}: batch at ${b.baseOffset} is damaged: ${(error as Error).message}`)
    }
    expected = b.lastOffset + 1
  }
  if (expected !== head.nextOffset) problems.push(`${stream}: batches end at ${expected}, head says ${head.nextOffset}`)
  if (segments.length === 0) {
    if (head.nextOffset !== head.logStartOffset) problems.push(`${stream}: records but no segment`)
    return { records, problems }
  }
  const last = segments[segments.length - 1]
  if (last.endOffset !== head.nextOffset) problems.push(`${stream}: last segment ends at ${last.endOffset}, head at ${head.nextOffset}`)
  if (head.activeSegment !== last.baseOffset) problems.push(`${stream}: head's active segment ${head.activeSegment}, last is ${last.baseOffset}`)
  for (const [i, s] of segments.entries()) {
    if (i > 0 && segments[i - 1].endOffset !== s.baseOffset) problems.push(`${stream}: segment ${s.baseOffset} follows one ending at ${segments[i - 1].endOffset}`)
    const inside = batches.filter((b) => b.baseOffset >= s.baseOffset && b.baseOffset < s.endOffset)
    const bytes = inside.reduce((n, b) => n + b.bytes.byteLength, 0)
    if (inside.length !== s.batches || bytes !== s.sizeBytes) {
      problems.push(`${stream}: segment ${s.baseOffset} says ${s.batches} batches / ${s.sizeBytes} bytes, holds ${inside.length} / ${bytes}`)
    }
  }
  return { records, problems }
}
