/**
 * KIP-360 in edgelog: a send whose outcome is unknown (stored, but its answer lost and the
 * retries exhausted) must never let a later send reuse its sequence numbers. Before the fix,
 * the next send of the same size was answered as a "duplicate" of the stored batch, and its
 * records were acknowledged without ever being stored.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { openLog } from '../../core/open-log.ts'
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { EdgelogError } from '../../core/errors.ts'
import { decodeBatch, encodeBatch } from '../../core/codec/record-batch.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import type { Broker } from '../../core/broker.ts'

let log: EdgelogClient

afterEach(async () => { await log?.close() })

/** A broker whose next `n` produce answers are lost after the records were stored. */
function losingAnswers(broker: Broker) {
  let lose = 0
  const lossy = Object.create(broker) as Broker
  lossy.produce = async (req) => {
    const results = await broker.produce(req)
    if (lose > 0) { lose--; throw new EdgelogError('NETWORK_EXCEPTION', 'the answer was lost', { retriable: true }) }
    return results
  }
  return { broker: lossy, loseNext: (n: number) => { lose = n } }
}

async function values(topic: string, partition = 0): Promise<Array<{ offset: number; value: string }>> {
  const { batches } = await log.broker.fetch({ topic, partition, offset: 0, maxBytes: 1 << 24 })
  const out: Array<{ offset: number; value: string }> = []
  for (const b of batches) for (const r of (await decodeBatch(b)).records) out.push({ offset: r.offset, value: new TextDecoder().decode(r.value!) })
  return out
}

describe('a send with an unknown outcome (KIP-360)', () => {
  it('never acknowledges a later send that was not stored', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const lossy = losingAnswers(log.broker)
    const producer = createClient(lossy.broker, { onClose: async () => {} }).producer({ idempotent: true, retry: { retries: 1, initialRetryTime: 1 } })
    await producer.send({ topic: 't', messages: [{ value: 'a0' }, { value: 'a1' }] })
    // Stored, but both answers lost: the send rejects and its outcome is unknown to the caller.
    lossy.loseNext(2)
    await expect(producer.send({ topic: 't', messages: [{ value: 'b0' }, { value: 'b1' }] })).rejects.toMatchObject({ code: 'NETWORK_EXCEPTION' })
    // The same number of records again: must be stored, at the offsets answered.
    const [ack] = await producer.send({ topic: 't', messages: [{ value: 'c0' }, { value: 'c1' }] })
    const stored = await values('t')
    expect(stored.map((r) => r.value)).toEqual(['a0', 'a1', 'b0', 'b1', 'c0', 'c1'])
    expect(stored.find((r) => r.offset === Number(ack.baseOffset))?.value).toBe('c0')
    // And the partition goes on without OUT_OF_ORDER_SEQUENCE_NUMBER.
    const [next] = await producer.send({ topic: 't', messages: [{ value: 'd0' }] })
    expect(next.baseOffset).toBe('6')
  })

  it('a send that was refused and not stored does not wedge the partition', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    let refuse = 0
    const broker = log.broker
    const refusing = Object.create(broker) as Broker
    refusing.produce = async (req) => {
      if (refuse > 0) { refuse--; throw new EdgelogError('NETWORK_EXCEPTION', 'the request never arrived', { retriable: true }) }
      return broker.produce(req)
    }
    const producer = createClient(refusing, { onClose: async () => {} }).producer({ idempotent: true, retry: { retries: 0 } })
    await producer.send({ topic: 't', messages: [{ value: 'a' }] })
    refuse = 1
    await expect(producer.send({ topic: 't', messages: [{ value: 'lost' }] })).rejects.toThrow()
    await producer.send({ topic: 't', messages: [{ value: 'b' }] })
    await producer.send({ topic: 't', messages: [{ value: 'c' }] })
    expect((await values('t')).map((r) => r.value)).toEqual(['a', 'b', 'c'])
  })

  it('the log refuses a batch that reuses a stored sequence for other records', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const { producerId, producerEpoch } = await log.broker.initProducerId({})
    const enc = (v: string) => encodeBatch([{ key: null, value: new TextEncoder().encode(v), timestamp: 1 }], { producerId, producerEpoch, baseSequence: 0 })
    const [first] = await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: enc('x') }] })
    expect(first.baseOffset).toBe(0)
    // The same bytes again: a retry, answered with the stored offset.
    const [retry] = await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: enc('x') }] })
    expect(retry).toMatchObject({ baseOffset: 0 })
    // Other records under the same sequence: not a retry; refused, nothing stored.
    const [other] = await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: enc('y') }] })
    expect(other.error?.code).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
    expect((await values('t')).map((r) => r.value)).toEqual(['x'])
  })
})
