/**
 * The replica routes: what a follower in another process (MirrorMaker) writes through. Admin
 * on the topic is required (a replica's records come from elsewhere, not from a producer).
 *
 *   PUT  /v1/replicas/{topic}                               { topicId, partitions, config, source } → the replica topic
 *   POST /v1/replicas/{topic}/partitions/{p}/records?topicId&logStartOffset&highWatermark   binary batches → { highWatermark, appended }
 *   POST /v1/replicas/{topic}/partitions/{p}/reset          { topicId, logStartOffset, highWatermark }
 *   GET  /v1/replicas/{topic}                               per-partition status (lag, last sync)
 */
import type { Hono } from 'hono'
import { applyTopicConfig, TOPIC_CONFIG_DEFAULTS } from '../../core/config.ts'
import { splitBatches } from '../../core/codec/record-batch.ts'
import { validateTopicName } from '../../core/log/topic-registry.ts'
import { requireTopic } from './auth.ts'
import { fail, intParam, readBody, readJson } from './errors.ts'
import type { AppEnv } from './app.ts'

const MAX_REPLICA_BODY_BYTES = 16 * 1024 * 1024

export function mountReplicaRoutes(app: Hono<AppEnv>): void {
  app.put('/v1/replicas/:topic', async (c) => {
    const topic = adminTopic(c.req.param('topic'), c.var.principal)
    const body = await readJson(c)
    const topicId = stringField(body.topicId, 'topicId')
    const partitions = body.partitions
    if (typeof partitions !== 'number') fail('INVALID_PARTITIONS', 'partitions must be a number')
    const config = body.config
    if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config))) fail('INVALID_CONFIG', 'config must be an object')
    // The leader's config, checked as any topic config (unknown names and bad values refused).
    const entries = Object.entries((config ?? {}) as Record<string, unknown>).map(([name, value]) => ({ name, value: String(value) }))
    const resolved = applyTopicConfig(TOPIC_CONFIG_DEFAULTS, entries)
    const result = await c.var.broker.replicas.ensureTopic({ name: topic, topicId, partitions, config: resolved }, stringField(body.source ?? 'mirror', 'source'))
    return c.json({ topic, topicId, partitions: result.partitions })
  })

  app.get('/v1/replicas/:topic', async (c) => {
    const topic = adminTopic(c.req.param('topic'), c.var.principal)
    return c.json({ topic, partitions: await c.var.broker.replicas.status(topic) })
  })

  app.post('/v1/replicas/:topic/partitions/:p/records', async (c) => {
    const topic = adminTopic(c.req.param('topic'), c.var.principal)
    const partition = intParam(c.req.param('p'), 'partition')!
    const topicId = stringField(c.req.query('topicId'), 'topicId')
    const logStartOffset = intParam(c.req.query('logStartOffset'), 'logStartOffset') ?? 0
    const highWatermark = intParam(c.req.query('highWatermark'), 'highWatermark') ?? 0
    const batches = splitBatches(await readBody(c, MAX_REPLICA_BODY_BYTES))
    return c.json(await c.var.broker.replicas.append({ topic, topicId, partition, batches, logStartOffset, highWatermark }))
  })

  app.post('/v1/replicas/:topic/partitions/:p/reset', async (c) => {
    const topic = adminTopic(c.req.param('topic'), c.var.principal)
    const partition = intParam(c.req.param('p'), 'partition')!
    const body = await readJson(c)
    const logStartOffset = body.logStartOffset
    const highWatermark = body.highWatermark
    if (!Number.isSafeInteger(logStartOffset) || (logStartOffset as number) < 0) fail('INVALID_REQUEST', 'logStartOffset must be a non-negative integer')
    if (!Number.isSafeInteger(highWatermark) || (highWatermark as number) < 0) fail('INVALID_REQUEST', 'highWatermark must be a non-negative integer')
    await c.var.broker.replicas.reset({ topic, topicId: stringField(body.topicId, 'topicId'), partition, logStartOffset: logStartOffset as number, highWatermark: highWatermark as number })
    return c.json({ ok: true })
  })
}

function adminTopic(topic: string | undefined, principal: AppEnv['Variables']['principal']): string {
  validateTopicName(topic)
  requireTopic(principal, topic, 'admin')
  return topic
}

function stringField(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '' || value.length > 256) fail('INVALID_REQUEST', `${name} must be a non-empty string`)
  return value
}
