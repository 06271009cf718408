/**
 * Kafka's DeleteRecords over HTTP (KafkaJS admin.deleteTopicRecords, kafka-delete-records.sh):
 *
 *   POST /v1/topics/{topic}/delete-records   { "partitions": [{ "partition": 0, "offset": 42 }] }
 *     → 200 { "partitions": [{ "partition": 0, "lowWatermark": 42 }] }
 *
 * `offset` is a number or a decimal string; -1 means the partition's high watermark. Records
 * before it are deleted (whole batches: a batch holding `offset` stays, reads below it get
 * OFFSET_OUT_OF_RANGE). An offset at or below the log start changes nothing. When a partition
 * fails (OFFSET_OUT_OF_RANGE past the high watermark, POLICY_VIOLATION on a compact-only topic,
 * UNKNOWN_TOPIC_OR_PARTITION), the answer has that error's status and `error`, and still lists
 * every partition with its own result; `?errors=inline` answers 200 with the per-partition errors
 * only (Kafka's DeleteRecords response; edgelog/http asks for that). Admin on the topic required.
 */
import type { Hono } from 'hono'
import { validateTopicName } from '../../core/log/topic-registry.ts'
import { requireTopic } from './auth.ts'
import { fail, readJson, statusOf } from './errors.ts'
import type { AppEnv } from './app.ts'

export function mountDeleteRecords(app: Hono<AppEnv>): void {
  app.post('/v1/topics/:topic/delete-records', async (c) => {
    const topic = c.req.param('topic')
    validateTopicName(topic)
    requireTopic(c.var.principal, topic, 'admin')
    const body = await readJson(c)
    const partitions = body.partitions
    if (!Array.isArray(partitions) || partitions.length === 0) fail('INVALID_REQUEST', 'partitions must be a non-empty array of { partition, offset }')
    const entries = partitions.map((p: unknown) => {
      const { partition, offset } = (p ?? {}) as { partition?: unknown; offset?: unknown }
      if (typeof partition !== 'number' || !Number.isInteger(partition)) fail('INVALID_REQUEST', `partition must be an integer, got ${JSON.stringify(partition)}`)
      const n = typeof offset === 'string' && /^-?\d+$/.test(offset.trim()) ? Number(offset) : offset
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) fail('OFFSET_OUT_OF_RANGE', `offset must be an integer (-1: the high watermark), got ${JSON.stringify(offset)}`)
      return { partition, offset: n }
    })
    const results = await c.var.broker.deleteRecords({ topic, partitions: entries })
    const answer = results.map((r) => (r.error ? { partition: r.partition, lowWatermark: r.lowWatermark, error: r.error } : { partition: r.partition, lowWatermark: r.lowWatermark }))
    const failed = results.find((r) => r.error)
    if (!failed || c.req.query('errors') === 'inline') return c.json({ partitions: answer })
    return c.json({ error: failed.error, partitions: answer }, statusOf(failed.error!.code) as 400)
  })
}
