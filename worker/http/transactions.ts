/**
 * Kafka's transaction requests over HTTP (KIP-98; docs/transactions.md), what `edgelog/http`
 * sends for KafkaJS's `producer.transaction()`. Every body but the first names the producer
 * (`producerId`, `producerEpoch`): an older epoch is fenced (PRODUCER_FENCED).
 *
 *   POST /v1/transactions/{id}/producer   { transactionTimeoutMs?, producerId?, producerEpoch? }  InitProducerId
 *   POST /v1/transactions/{id}/partitions { producerId, producerEpoch, topics: [{ topic, partitions }] }  AddPartitionsToTxn
 *   POST /v1/transactions/{id}/groups     { producerId, producerEpoch, groupId }  AddOffsetsToTxn
 *   POST /v1/transactions/{id}/offsets    { producerId, producerEpoch, groupId, offsets: [{ topic, partition, offset }] }  TxnOffsetCommit
 *   POST /v1/transactions/{id}/end        { producerId, producerEpoch, committed }  EndTxn
 *
 * The transactional batches themselves go to the binary produce route with `?transactionalId=`.
 * Access: a token that may write to some topic owns transactional ids (edgelog has no
 * transactional-id grants); adding partitions needs write on their topics, offsets read on the group.
 */
import type { Context, Hono } from 'hono'
import type { OffsetCommit, TopicPartitions } from '../../core/broker.ts'
import { requireGroup, requireTopic } from './auth.ts'
import { fail, readJson } from './errors.ts'
import type { AppEnv } from './app.ts'

type Body = Record<string, unknown>

export function mountTransactions(app: Hono<AppEnv>): void {
  const producer = (id: string, body: Body) => ({ transactionalId: id, producerId: body.producerId as number, producerEpoch: body.producerEpoch as number })
  const writer = (c: { var: AppEnv['Variables'] }) => {
    if (!c.var.principal.writesAnyTopic()) fail('CLUSTER_AUTHORIZATION_FAILED', 'Transactional ids are for tokens that may write to some topic')
  }

  app.post('/v1/transactions/:id/producer', async (c) => {
    writer(c)
    const body = await readJson(c) as Body
    const answer = await c.var.broker.initProducerId({
      transactionalId: c.req.param('id'),
      transactionTimeoutMs: body.transactionTimeoutMs as number | undefined,
      producerId: body.producerId as number | undefined,
      producerEpoch: body.producerEpoch as number | undefined,
    })
    return c.json(answer)
  })

  app.post('/v1/transactions/:id/partitions', async (c) => {
    writer(c)
    const body = await readJson(c) as Body
    const topics = body.topics as TopicPartitions[]
    if (!Array.isArray(topics)) fail('INVALID_REQUEST', 'topics must be an array of { topic, partitions }')
    for (const t of topics) if (typeof t?.topic === 'string') requireTopic(c.var.principal, t.topic, 'write')
    await c.var.broker.addPartitionsToTxn({ ...producer(c.req.param('id'), body), topics })
    return c.json({ ok: true })
  })

  /** A body naming a group: offsets in a transaction need read on it, as Kafka's TxnOffsetCommit. */
  const groupBody = async (c: Context<AppEnv>) => {
    writer(c)
    const body = await readJson(c) as Body
    if (typeof body.groupId !== 'string') fail('INVALID_REQUEST', 'groupId must be a string')
    requireGroup(c.var.principal, body.groupId as string, 'read')
    return { ...producer(c.req.param('id')!, body), body, groupId: body.groupId as string }
  }

  app.post('/v1/transactions/:id/groups', async (c) => {
    const { body: _, ...req } = await groupBody(c)
    await c.var.broker.addOffsetsToTxn(req)
    return c.json({ ok: true })
  })

  app.post('/v1/transactions/:id/offsets', async (c) => {
    const { body, ...req } = await groupBody(c)
    await c.var.broker.txnOffsetCommit({ ...req, offsets: body.offsets as OffsetCommit[] })
    return c.json({ ok: true })
  })

  app.post('/v1/transactions/:id/end', async (c) => {
    writer(c)
    const body = await readJson(c) as Body
    if (typeof body.committed !== 'boolean') fail('INVALID_REQUEST', 'committed must be true (commit) or false (abort)')
    await c.var.broker.endTxn({ ...producer(c.req.param('id'), body), committed: body.committed as boolean })
    return c.json({ ok: true })
  })
}
