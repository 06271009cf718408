/**
 * Hands a fetched batch to the user's eachBatch or eachMessage and resolves offsets as messages
 * are processed: a message is resolved once its handler returned, so a failure, a pause, a seek
 * or a revoke stops at the first message not yet processed, and that one is read again.
 */
import { parseOffset, type KafkaMessage } from '../messages.ts'
import { OffsetTracker, type OffsetEntry } from '../offset-tracker.ts'
import { EdgelogError } from '../../errors.ts'
import { CONSUMER_EVENTS, type Batch, type Offsets } from './api.ts'
import { autoCommit, commitOffsets, commitsWithinBatch, maybeCommit } from './commit-policy.ts'
import type { PartitionReader } from './partition-reader.ts'
import type { ConsumerRuntime } from './runtime.ts'

/** A failure of the user's handler (retried: the message is read again). */
export class HandlerError {
  constructor(readonly error: unknown) {}
}

/**
 * Hands a batch to the user's code; resolves offsets as messages are processed. Returns the
 * next offset to read: past the batch, or where processing stopped (pause, seek, revoke).
 */
export async function processBatch(
  rt: ConsumerRuntime, reader: PartitionReader, messages: KafkaMessage[], generation: number, from: number, nextOffset: number,
): Promise<number> {
  const { topic, partition } = reader
  const seeks = reader.seeks
  const isStale = () => generation !== reader.generation || reader.revoked
  const seeked = () => seeks !== reader.seeks
  if (!rt.running || isStale()) return from
  const pause = () => { rt.pause([{ topic, partitions: [partition] }]); return () => rt.resume([{ topic, partitions: [partition] }]) }
  const heartbeat = async () => { await rt.member?.heartbeat() }
  const batch = makeBatch(topic, partition, reader.highWatermark, messages)
  const info = {
    topic, partition, highWatermark: batch.highWatermark, offsetLag: batch.offsetLag(), offsetLagLow: batch.offsetLagLow(),
    batchSize: messages.length, firstOffset: batch.firstOffset(), lastOffset: batch.lastOffset(),
  }
  const startedAt = Date.now()
  rt.emitter.emit(CONSUMER_EVENTS.START_BATCH_PROCESS, info)
  let next = from
  if (rt.runConfig.eachBatch) {
    let resolved = -1
    try {
      await rt.runConfig.eachBatch({
        batch,
        resolveOffset: (offset) => {
          const n = parseOffset(offset)
          if (seeked()) return
          rt.offsets.resolve(topic, partition, n)
          resolved = Math.max(resolved, n)
        },
        heartbeat, pause,
        commitOffsetsIfNecessary: async (offsets) => {
          if (offsets === undefined || offsets === null) await maybeCommit(rt, true)
          else await commitOffsets(rt, flattenOffsets(offsets))
        },
        uncommittedOffsets: () => rt.offsets.uncommitted(),
        isRunning: () => rt.running,
        isStale,
      })
    } catch (error) {
      if (!seeked()) reader.position = resolved >= 0 ? resolved + 1 : from
      await autoCommit(rt).catch(() => {})
      throw new HandlerError(error)
    }
    if (rt.runConfig.eachBatchAutoResolve && !seeked()) {
      rt.offsets.resolve(topic, partition, Number(batch.lastOffset()))
      next = nextOffset
    } else {
      next = resolved >= 0 ? resolved + 1 : from
    }
  } else {
    let completed = true
    const eachMessage = rt.runConfig.eachMessage!
    const entry: OffsetEntry | undefined = rt.offsets.entry(topic, partition)
    const commitWithin = commitsWithinBatch(rt)
    for (const message of messages) {
      if (!rt.running || isStale() || rt.paused.has(topic, partition)) {
        completed = false
        break
      }
      const offset = Number(message.offset)
      try {
        await eachMessage({ topic, partition, message, heartbeat, pause })
      } catch (error) {
        // Not resolved: the message is read again (at least once). What was processed is committed.
        if (!seeked()) reader.position = offset
        await autoCommit(rt).catch(() => {})
        throw new HandlerError(error)
      }
      if (seeked()) {
        completed = false
        break
      }
      if (entry) OffsetTracker.resolveEntry(entry, offset)
      next = offset + 1
      if (commitWithin) await maybeCommit(rt, false)
    }
    if (completed) next = nextOffset
  }
  rt.emitter.emit(CONSUMER_EVENTS.END_BATCH_PROCESS, { ...info, duration: Date.now() - startedAt })
  await autoCommit(rt)
  return next
}

/**
 * KafkaJS's `{ topics: [{ topic, partitions: [{ partition, offset }] }] }` as a list of
 * commits. (A flat `[{ topic, partition, offset }]`, edgelog's earlier shape, is still taken.)
 */
function flattenOffsets(offsets: Offsets | Array<{ topic: string; partition: number; offset: string }>): Array<{ topic: string; partition: number; offset: string; metadata?: string | null }> {
  if (Array.isArray(offsets)) return offsets
  const topics = (offsets as Offsets)?.topics
  if (!Array.isArray(topics)) {
    throw new EdgelogError('INVALID_REQUEST', 'commitOffsetsIfNecessary takes { topics: [{ topic, partitions: [{ partition, offset }] }] }')
  }
  return topics.flatMap((t) => {
    if (!Array.isArray(t?.partitions)) throw new EdgelogError('INVALID_REQUEST', `commitOffsetsIfNecessary: topic ${JSON.stringify(t?.topic)} has no partitions array`)
    return t.partitions.map((p) => ({ topic: t.topic, partition: typeof p?.partition === 'string' ? Number(p.partition) : p?.partition, offset: p?.offset, metadata: (p as { metadata?: string | null }).metadata }))
  })
}

function makeBatch(topic: string, partition: number, highWatermark: number, messages: KafkaMessage[]): Batch {
  const last = messages.length > 0 ? messages[messages.length - 1].offset : String(highWatermark - 1)
  return {
    topic, partition, highWatermark: String(highWatermark), messages,
    isEmpty: () => messages.length === 0,
    firstOffset: () => (messages.length > 0 ? messages[0].offset : null),
    lastOffset: () => last,
    offsetLag: () => String(Math.max(0, highWatermark - 1 - Number(last))),
    offsetLagLow: () => String(Math.max(0, highWatermark - 1 - Number(messages[0]?.offset ?? last))),
  }
}
