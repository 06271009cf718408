/**
 * One reader per owned partition: finds its start (the committed offset, else autoOffsetReset),
 * long-polls the broker, decodes what comes back and hands the messages to batch processing,
 * then moves its position on. Seek and revoke bump its generation, so that work started before
 * them is dropped rather than applied.
 */
import { EdgelogError, isEdgelogError } from '../../errors.ts'
import { decodeBatchInto, decodeRecordsInto, readBatchHeader } from '../../codec/record-batch.ts'
import { kafkaMessageOf, recordBytesView, type KafkaMessage } from '../messages.ts'
import { deserializeMessages } from '../serializers.ts'
import { CONSUMER_EVENTS } from './api.ts'
import { CommittedFilter } from './committed-filter.ts'
import { autoCommit } from './commit-policy.ts'
import { HandlerError, processBatch } from './batch-processor.ts'
import type { ConsumerRuntime } from './runtime.ts'
import type { FetchResult } from '../../broker.ts'

/** Start unknown: ask the group for its committed offset (then autoOffsetReset). */
export const ASK_THE_GROUP = -1
/** No committed offset to use (none, or it fell out of the log): autoOffsetReset decides. */
export const RESET_BY_POLICY = -2

export interface PartitionReader {
  topic: string
  partition: number
  /** Next offset to fetch, or ASK_THE_GROUP / RESET_BY_POLICY until it is known. */
  position: number
  /** Bumped by seek and revoke: work started under an older one is stale. */
  generation: number
  /** Bumped by seek alone: an offset processed before a seek is not resolved after it. */
  seeks: number
  revoked: boolean
  /** Processing in progress (awaited on revoke, so that offsets are final before commit). */
  processing: Promise<unknown> | null
  highWatermark: number
  /** Set by revoke: resolves once the reader is torn down (its offsets committed or dropped). */
  stopped?: Promise<void>
  /** Aborted when the reader ends (revoke, stop): cancels its parked long poll at once. */
  abort: AbortController
}

export function newPartitionReader(topic: string, partition: number, position: number): PartitionReader {
  return { topic, partition, position, generation: 0, seeks: 0, revoked: false, processing: null, highWatermark: -1, abort: new AbortController() }
}

/** Ends the reader's fetch in flight (the broker releases its socket or timer; the loop sees it is no longer live). */
export function abortReader(reader: PartitionReader): void {
  if (!reader.abort.signal.aborted) reader.abort.abort(new EdgelogError('CLOSED', `The reader of ${reader.topic}-${reader.partition} stopped`))
}

async function committedOffset(rt: ConsumerRuntime, topic: string, partition: number): Promise<number> {
  if (rt.config.groupId === undefined) return -1
  const offsets = await rt.broker.fetchOffsets({ groupId: rt.config.groupId, topics: [topic], requireStable: !rt.config.readUncommitted })
  return offsets.find((o) => o.topic === topic && o.partition === partition)?.offset ?? -1
}

async function resetPosition(rt: ConsumerRuntime, topic: string, partition: number): Promise<number> {
  const policy = rt.config.autoOffsetReset ?? (rt.fromBeginning ? 'earliest' : 'latest')
  if (policy === 'none') throw new EdgelogError('OFFSET_OUT_OF_RANGE', `No valid committed offset for ${topic}-${partition} and autoOffsetReset is 'none'`)
  const [found] = await rt.broker.listOffsets({ topic, partitions: [partition], spec: policy, isolationLevel: rt.config.readUncommitted ? 0 : 1 })
  return found.offset
}

/**
 * The next fetch, asked for while the current one is handed out (Kafka's Java consumer fetches
 * ahead the same way): used only if the reader then stands exactly where it starts, in the same
 * generation; anything else (a seek, a pause, a partial resolve, a revocation) drops it.
 */
interface Prefetch { offset: number; generation: number; result: Promise<FetchResult | { failed: unknown }>; cancel: () => void }

function fetchRequest(rt: ConsumerRuntime, reader: PartitionReader, offset: number) {
  return {
    topic: reader.topic, partition: reader.partition, offset,
    maxBytes: rt.config.maxBytesPerPartition ?? 1024 * 1024,
    maxWaitMs: rt.config.maxWaitTimeInMs ?? 5000, minBytes: rt.config.minBytes ?? 1,
    // KafkaJS's readUncommitted (default false): read_committed stops at the last stable offset.
    isolationLevel: rt.config.readUncommitted ? 0 as const : 1 as const,
    // KIP-392: a replicated cluster may answer from a replica in the consumer's rack.
    ...(rt.config.rackId ? { rackId: rt.config.rackId } : {}),
  }
}

function startPrefetch(rt: ConsumerRuntime, reader: PartitionReader, offset: number, generation: number): Prefetch {
  const controller = new AbortController()
  const onStop = () => controller.abort(reader.abort.signal.reason)
  reader.abort.signal.addEventListener('abort', onStop, { once: true })
  rt.emitter.emit(CONSUMER_EVENTS.FETCH_START, { nodeId: 0, topic: reader.topic, partition: reader.partition })
  const result = rt.broker.fetch(fetchRequest(rt, reader, offset), { signal: controller.signal })
    .then((r) => r, (failed: unknown) => ({ failed }))
    .finally(() => reader.abort.signal.removeEventListener('abort', onStop))
  return { offset, generation, result, cancel: () => controller.abort(new EdgelogError('CLOSED', 'prefetch dropped')) }
}

/** Reads the partition until the consumer stops or the partition is revoked. */
export async function readLoop(rt: ConsumerRuntime, reader: PartitionReader): Promise<void> {
  let failures = 0
  let prefetch: Prefetch | undefined
  const dropPrefetch = () => { prefetch?.cancel(); prefetch = undefined }
  const live = () => rt.running && !reader.revoked
  try {
    while (live()) {
      const step = await readStep(rt, reader, prefetch, failures)
      prefetch = step.prefetch
      failures = step.failures
      if (step.stop) return
    }
  } finally {
    dropPrefetch()
  }
}

async function readStep(rt: ConsumerRuntime, reader: PartitionReader, ahead: Prefetch | undefined, failuresBefore: number): Promise<{ prefetch?: Prefetch; failures: number; stop?: boolean }> {
  let failures = failuresBefore
  const live = () => rt.running && !reader.revoked
  if (rt.paused.has(reader.topic, reader.partition)) {
    ahead?.cancel()
    await rt.wakeups.sleep(1000)
    return { failures }
  }
  const generation = reader.generation
  // A fetch made ahead is used only from exactly where it starts, in the same generation.
  const usable = ahead && ahead.offset === reader.position && ahead.generation === generation ? ahead : undefined
  if (ahead && !usable) ahead.cancel()
  let prefetch: Prefetch | undefined
  try {
    if (reader.position < 0) {
      // Start where the group committed (assign may have failed to ask), else where autoOffsetReset says.
      const committed = reader.position === RESET_BY_POLICY ? -1 : await committedOffset(rt, reader.topic, reader.partition)
      const position = committed >= 0 ? committed : await resetPosition(rt, reader.topic, reader.partition)
      if (generation === reader.generation) {
        reader.position = position
        if (committed >= 0) rt.offsets.assign(reader.topic, reader.partition, committed)
        else rt.offsets.reset(reader.topic, reader.partition, position)
      }
      return { failures }
    }
    const from = reader.position
    const started = Date.now()
    const signal = reader.abort.signal
    let result: FetchResult
    if (usable) {
      const r = await untilAborted(usable.result, signal)
      if ('failed' in r) throw r.failed
      result = r
    } else {
      rt.emitter.emit(CONSUMER_EVENTS.FETCH_START, { nodeId: 0, topic: reader.topic, partition: reader.partition })
      // A broker that cannot cancel the long poll is not waited for once the reader ends.
      result = await untilAborted(rt.broker.fetch(fetchRequest(rt, reader, from), { signal }), signal)
    }
    if (generation !== reader.generation || !live()) return { failures }
    reader.highWatermark = result.highWatermark
    rt.emitter.emit(CONSUMER_EVENTS.FETCH, { numberOfBatches: result.batches.length, duration: Date.now() - started, nodeId: 0, topic: reader.topic, partition: reader.partition })
    if (result.batches.length === 0) return { failures: 0 }
    const { messages, nextOffset } = await decodeFetched(result.batches, from, new CommittedFilter(result.abortedTransactions))
    if (rt.config.deserializers) await deserializeMessages(messages, reader.topic, reader.partition, rt.config.deserializers)
    if (generation !== reader.generation || !live()) return { failures }
    // Out of its session, the member may no longer own this partition: hand nothing over (and
    // do not fetch the same records again in a tight loop until the partition is given up).
    if (rt.member && !rt.member.checkSession()) {
      await rt.wakeups.sleep(100)
      return { failures }
    }
    let next = nextOffset
    if (messages.length > 0) {
      // While these are handed out, the next fetch is on its way.
      prefetch = startPrefetch(rt, reader, nextOffset, generation)
      const done = rt.semaphore.run(() => processBatch(rt, reader, messages, generation, from, nextOffset))
      reader.processing = done
      try {
        next = await done
      } finally {
        reader.processing = null
      }
    } else if (generation === reader.generation && nextOffset > from) {
      // Only markers or aborted records (KafkaJS's isEmptyDueToFiltering): resolve past them and
      // commit as after a batch, so the group's offset (and lag) moves past a transaction's end.
      rt.offsets.resolve(reader.topic, reader.partition, nextOffset - 1)
      await autoCommit(rt)
    }
    if (generation === reader.generation) reader.position = Math.max(from, next)
    return { prefetch, failures: 0 }
  } catch (caught) {
    prefetch?.cancel()
    if (!live()) return { failures, stop: true }
    const fromHandler = caught instanceof HandlerError
    const error = fromHandler ? caught.error : caught
    if (!fromHandler && isEdgelogError(error, 'OFFSET_OUT_OF_RANGE') && reader.position >= 0 && rt.config.autoOffsetReset !== 'none' && failures === 0) {
      // The position fell out of the log (retention): start again where autoOffsetReset says.
      if (generation === reader.generation) reader.position = RESET_BY_POLICY
      return { failures: failures + 1 }
    }
    failures++
    // The user's handler failing is retried (the message is read again); so are retriable broker errors.
    const retriable = fromHandler || (isEdgelogError(error) && error.retriable)
    if (!retriable || failures > (rt.config.retry?.retries ?? 5)) {
      rt.crash(error)
      return { failures, stop: true }
    }
    const base = rt.config.retry?.initialRetryTime ?? 300
    await rt.wakeups.sleep(Math.min(rt.config.retry?.maxRetryTime ?? 30_000, base * (rt.config.retry?.multiplier ?? 2) ** (failures - 1)))
    return { failures }
  }
}

/** `promise`, or the signal's reason as soon as it is aborted (what `promise` does later is ignored). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value) },
      (error) => { signal.removeEventListener('abort', onAbort); reject(error) },
    )
  })
}

/** The fetched batches' messages from `from` on, and the offset after the last batch. */
async function decodeFetched(batches: Uint8Array[], from: number, filter: CommittedFilter): Promise<{ messages: KafkaMessage[]; nextOffset: number }> {
  const messages: KafkaMessage[] = []
  let nextOffset = from
  for (const bytes of batches) {
    const header = readBatchHeader(bytes)
    nextOffset = Math.max(nextOffset, header.baseOffset + header.lastOffsetDelta + 1)
    if (!filter.keep(header, bytes)) continue
    // Straight into messages (records below `from` are checked, not built).
    if (header.compression === 'none') decodeRecordsInto(bytes, header, messages, kafkaMessageOf, recordBytesView, from)
    else await decodeBatchInto(bytes, header, messages, kafkaMessageOf, recordBytesView, from)
    nextOffset = Math.max(nextOffset, header.baseOffset + header.lastOffsetDelta + 1)
  }
  return { messages, nextOffset }
}
