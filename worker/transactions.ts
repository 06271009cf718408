/**
 * Transactions at the edge (KIP-98; docs/transactions.md): EdgeBroker's side. Each
 * transactional id's coordinator is a TransactionObject; this forwards the transactional
 * requests to it, and checks every transactional batch with it before a partition object
 * appends it (KIP-890's verification), so a batch that arrives late, after its transaction
 * ended, is refused rather than opening a transaction no coordinator will ever end.
 */
import type { OffsetCommit, TopicPartitions, TxnProducer } from '../core/broker.ts'
import { EdgelogError } from '../core/errors.ts'
import { validateTransactionalId } from '../core/txn/state.ts'
import type { EdgelogEnv } from './env.ts'
import { unwrap } from './rpc.ts'

/** Transactional (0x10) and not a control batch (0x20): attributes' low byte, at offset 22. */
function isTransactionalBatch(batch: Uint8Array): boolean {
  return batch.byteLength >= 61 && (batch[22] & 0x30) === 0x10
}

export class EdgeTransactions {
  constructor(private readonly env: EdgelogEnv) {}

  private coordinator(transactionalId: unknown) {
    const ns = this.env.TRANSACTION
    if (!ns) throw new EdgelogError('UNSUPPORTED_VERSION', 'Transactions need the TRANSACTION Durable Object binding (TransactionObject, see wrangler.jsonc)')
    validateTransactionalId(transactionalId)
    return ns.get(ns.idFromName(transactionalId))
  }

  initProducerId(req: { transactionalId: string; transactionTimeoutMs?: number; producerId?: number; producerEpoch?: number }) {
    return unwrap(this.coordinator(req.transactionalId).initProducerId(req))
  }

  addPartitionsToTxn(req: TxnProducer & { topics: TopicPartitions[] }): Promise<void> {
    return unwrap(this.coordinator(req?.transactionalId).addPartitionsToTxn(req))
  }

  addOffsetsToTxn(req: TxnProducer & { groupId: string }): Promise<void> {
    return unwrap(this.coordinator(req?.transactionalId).addOffsetsToTxn(req))
  }

  txnOffsetCommit(req: TxnProducer & { groupId: string; offsets: OffsetCommit[] }): Promise<void> {
    return unwrap(this.coordinator(req?.transactionalId).txnOffsetCommit(req))
  }

  endTxn(req: TxnProducer & { committed: boolean }): Promise<void> {
    return unwrap(this.coordinator(req?.transactionalId).endTxn(req))
  }

  /**
   * Checks one partition's batches with their coordinator before they are appended: answers a
   * release to await once the append has settled (EndTxn waits for it), or undefined when no
   * batch is transactional (no request to the coordinator at all).
   */
  async verify(transactionalId: string | null | undefined, batches: Uint8Array[], topic: string, partition: number): Promise<(() => Promise<void>) | undefined> {
    const transactional = batches.filter(isTransactionalBatch)
    if (transactional.length === 0) return undefined
    if (typeof transactionalId !== 'string') {
      throw new EdgelogError('INVALID_REQUEST', 'Transactional batches must name their producer\'s transactionalId')
    }
    const view = new DataView(transactional[0].buffer, transactional[0].byteOffset, transactional[0].byteLength)
    const producerId = Number(view.getBigInt64(43))
    const producerEpoch = view.getInt16(51)
    for (const b of transactional) {
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
      if (Number(v.getBigInt64(43)) !== producerId || v.getInt16(51) !== producerEpoch) {
        throw new EdgelogError('INVALID_REQUEST', 'The transactional batches of one request must come from one producer')
      }
    }
    const stub = this.coordinator(transactionalId)
    const lease = await unwrap(stub.verifyAppend({ producerId, producerEpoch, topic, partition }))
    return async () => {
      try { await stub.appendDone(lease) } catch { /* the lease runs out on its own */ }
    }
  }
}
