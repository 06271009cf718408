/**
 * A follower keeps the idempotent producers' state as its leader does (Kafka's followers
 * rebuild it from the batches they append), so that after a failover the new leader still
 * recognises a retried batch as a duplicate instead of storing it twice. The entries commit
 * with the batches they describe.
 */
import type { StorageAdapter } from '../storage.ts'
import { keys } from '../log/keys.ts'
import { lastSequence, recordBatch, type ProducerEntry } from '../log/producer-state.ts'

/** The producer-state writes for `batches` (those at or past `from`, the follower's log end). */
export async function followerProducerState(
  storage: StorageAdapter, stream: string, batches: Uint8Array[], from: number, now: number,
): Promise<Array<{ key: string; value: ProducerEntry }>> {
  const entries = new Map<number, ProducerEntry | undefined>()
  for (const bytes of batches) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const baseOffset = Number(view.getBigInt64(0))
    const producerId = Number(view.getBigInt64(43))
    if (producerId < 0 || baseOffset + view.getInt32(23) < from) continue
    if (!entries.has(producerId)) entries.set(producerId, await storage.getMeta<ProducerEntry>(keys.producer(stream, producerId)))
    const baseSequence = view.getInt32(53)
    const batch = { firstSeq: baseSequence, lastSeq: lastSequence(baseSequence, view.getInt32(57)), baseOffset, crc: view.getUint32(17) }
    entries.set(producerId, recordBatch(entries.get(producerId), producerId, view.getInt16(51), batch, now))
  }
  return [...entries].flatMap(([producerId, value]) => (value ? [{ key: keys.producer(stream, producerId), value }] : []))
}
