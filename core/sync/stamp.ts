/**
 * Re-stamps a record batch with another producer's id, epoch and base sequence, as the
 * forwarder sends an outbox batch under its own idempotent producer. The producer fields are
 * inside the CRC, so it is computed again; nothing else changes.
 */
import { crc32c } from '../codec/crc32c.ts'
import { CRC_START } from '../codec/record-batch.ts'

export function stampProducer(batch: Uint8Array, producerId: number, producerEpoch: number, baseSequence: number): Uint8Array {
  const out = new Uint8Array(batch)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  view.setBigInt64(43, BigInt(producerId))
  view.setInt16(51, producerEpoch)
  view.setInt32(53, baseSequence)
  view.setUint32(17, crc32c(out, CRC_START, out.length))
  return out
}
