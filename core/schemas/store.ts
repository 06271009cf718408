/**
 * The registry's store is the log, as Confluent's is: one compacted, single-partition topic
 * (`_schemas`) whose records are Confluent's own keys and values
 *
 *   {"keytype":"SCHEMA","subject":S,"version":V,"magic":1} → {subject, version, id, schemaType?, schema, references?, deleted}
 *   {"keytype":"CONFIG","subject":S|null,"magic":0}        → {compatibilityLevel}      (null value: removed)
 *   {"keytype":"ID_HIGH","magic":0}                         → {id}   (edgelog's: the highest id ever given)
 *
 * and whose state every reader rebuilds by reading the topic in order (a fold). Writers may
 * be many (Worker isolates, browser tabs, processes), so every write is a compare-and-set on
 * the log itself: the store writes with a fixed idempotent producer id and the sequence that
 * follows the last batch it has read. The partition (its single writer) stores a batch only
 * when that sequence is the next one; another writer's batch in between makes it refuse
 * (OUT_OF_ORDER_SEQUENCE_NUMBER), and the store reads again, checks again and retries. So a
 * version number or an id is never given twice, and a check (compatibility) always holds
 * against the state the write lands on. When the log forgot the producer, a new epoch is opened
 * with a NOOP record first (a new epoch alone is not a compare-and-set). Batches from any other
 * producer are ignored.
 */
import type { Broker } from '../broker.ts'
import { decodeBatch, encodeBatch, type RecordInput } from '../codec/record-batch.ts'
import { isEdgelogError } from '../errors.ts'
import { SchemaRegistryError } from './errors.ts'
import type { CompatibilityLevel, SchemaReference } from './schema-types.ts'

export const SCHEMAS_TOPIC = '_schemas'
/** The registry's producer id: far above any id a broker hands out (they count from 0). */
export const REGISTRY_PRODUCER_ID = 2 ** 48 + 0x5c4e4d
const READ_BYTES = 1024 * 1024
const CONFLICTS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'DUPLICATE_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'STORAGE_CONFLICT'])

export interface StoredVersion {
  subject: string
  version: number
  id: number
  schemaType?: string
  schema: string
  references?: SchemaReference[]
  deleted: boolean
}

export type RegistryRecord =
  | { kind: 'schema'; subject: string; version: number; value: StoredVersion | null }
  | { kind: 'config'; subject: string | null; value: { compatibilityLevel: CompatibilityLevel } | null }
  | { kind: 'idHigh'; id: number }

/** The registry's state as of `nextOffset`. */
export class RegistryState {
  /** subject → version → record (soft-deleted ones included). */
  readonly subjects = new Map<string, Map<number, StoredVersion>>()
  readonly configs = new Map<string | null, CompatibilityLevel>()
  maxId = 0
  nextOffset = 0
  topicId: string | undefined
  /** The registry producer's epoch and next sequence, from the last batch it wrote. */
  epoch = 0
  nextSequence = 0

  /** Forgets everything (the topic was deleted or created again): read from the start. */
  clear(): void {
    this.subjects.clear()
    this.configs.clear()
    this.maxId = 0
    this.nextOffset = 0
    this.topicId = undefined
    this.epoch = 0
    this.nextSequence = 0
  }

  apply(record: RegistryRecord): void {
    switch (record.kind) {
      case 'schema': {
        let versions = this.subjects.get(record.subject)
        if (record.value === null) {
          versions?.delete(record.version)
          if (versions?.size === 0) this.subjects.delete(record.subject)
          return
        }
        if (!versions) this.subjects.set(record.subject, (versions = new Map()))
        versions.set(record.version, record.value)
        this.maxId = Math.max(this.maxId, record.value.id)
        return
      }
      case 'config':
        if (record.value === null) this.configs.delete(record.subject)
        else this.configs.set(record.subject, record.value.compatibilityLevel)
        return
      case 'idHigh':
        this.maxId = Math.max(this.maxId, record.id)
    }
  }

  /** Every stored version with this id. */
  versionsWithId(id: number): StoredVersion[] {
    const out: StoredVersion[] = []
    for (const versions of this.subjects.values()) for (const v of versions.values()) if (v.id === id) out.push(v)
    return out
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function keyOf(record: RegistryRecord): string {
  switch (record.kind) {
    case 'schema': return JSON.stringify({ keytype: 'SCHEMA', subject: record.subject, version: record.version, magic: 1 })
    case 'config': return JSON.stringify({ keytype: 'CONFIG', subject: record.subject, magic: 0 })
    case 'idHigh': return JSON.stringify({ keytype: 'ID_HIGH', magic: 0 })
  }
}

function valueOf(record: RegistryRecord): string | null {
  switch (record.kind) {
    case 'schema': return record.value === null ? null : JSON.stringify(record.value)
    case 'config': return record.value === null ? null : JSON.stringify(record.value)
    case 'idHigh': return JSON.stringify({ id: record.id })
  }
}

/** A stored record back as a RegistryRecord (undefined: not one of ours, ignored). */
export function parseRecord(key: Uint8Array | null, value: Uint8Array | null): RegistryRecord | undefined {
  if (!key) return undefined
  let k: Record<string, unknown>, v: Record<string, unknown> | null
  try {
    k = JSON.parse(decoder.decode(key))
    v = value === null ? null : JSON.parse(decoder.decode(value))
  } catch {
    return undefined
  }
  if (typeof k !== 'object' || k === null) return undefined
  if (k.keytype === 'SCHEMA' && typeof k.subject === 'string' && Number.isInteger(k.version)) {
    if (v !== null && (typeof v !== 'object' || !Number.isInteger(v.id) || typeof v.schema !== 'string')) return undefined
    return { kind: 'schema', subject: k.subject, version: k.version as number, value: v === null ? null : { ...(v as unknown as StoredVersion), deleted: v.deleted === true } }
  }
  if (k.keytype === 'CONFIG' && (typeof k.subject === 'string' || k.subject === null || k.subject === undefined)) {
    if (v !== null && typeof v?.compatibilityLevel !== 'string') return undefined
    return { kind: 'config', subject: (k.subject as string | undefined) ?? null, value: v as { compatibilityLevel: CompatibilityLevel } | null }
  }
  if (k.keytype === 'ID_HIGH' && v !== null && Number.isInteger(v.id)) return { kind: 'idHigh', id: v.id as number }
  return undefined
}

export interface SchemaStoreOptions {
  topic?: string
  /** State kept between uses (a Worker isolate keeps one per deployment and reads only what is new). */
  state?: RegistryState
  now?: () => number
  /** Attempts of a conflicting write before giving up (50002). Default 30. */
  maxAttempts?: number
}

export class SchemaStore {
  readonly topic: string
  state: RegistryState
  private readonly now: () => number
  private readonly maxAttempts: number
  private ensured = false
  /** Writes from this object go one at a time (others are serialised by the log). */
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly broker: Broker, options: SchemaStoreOptions = {}) {
    this.topic = options.topic ?? SCHEMAS_TOPIC
    this.state = options.state ?? new RegistryState()
    this.now = options.now ?? Date.now
    this.maxAttempts = options.maxAttempts ?? 30
  }

  /** Reads what was appended since the last read (from the start if the topic was created again). */
  async refresh(): Promise<RegistryState> {
    for (;;) {
      let result
      try {
        result = await this.broker.fetch({ topic: this.topic, partition: 0, offset: this.state.nextOffset, maxBytes: READ_BYTES })
      } catch (error) {
        if (isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) {
          if (this.state.nextOffset > 0 || this.state.topicId !== undefined) this.reset()
          return this.state
        }
        if (isEdgelogError(error, 'OFFSET_OUT_OF_RANGE')) { this.reset(); continue }
        throw storeError(error)
      }
      if (result.topicId !== undefined && this.state.topicId !== undefined && result.topicId !== this.state.topicId) { this.reset(); continue }
      if (result.highWatermark < this.state.nextOffset) { this.reset(); continue }
      this.state.topicId ??= result.topicId
      if (result.batches.length === 0) return this.state
      for (const bytes of result.batches) await this.applyBatch(bytes)
      if (this.state.nextOffset >= result.highWatermark) return this.state
    }
  }

  private reset(): void {
    this.state.clear()
    this.ensured = false
  }

  private async applyBatch(bytes: Uint8Array): Promise<void> {
    const { header, records } = await decodeBatch(bytes)
    const next = header.baseOffset + header.lastOffsetDelta + 1
    // Checked after the decode: a concurrent refresh of the same state may have applied it.
    if (next <= this.state.nextOffset) return
    if (header.producerId === REGISTRY_PRODUCER_ID && !header.isControl) {
      for (const r of records) {
        if (r.offset < this.state.nextOffset) continue
        const parsed = parseRecord(r.key, r.value)
        if (parsed) this.state.apply(parsed)
      }
      this.state.epoch = header.producerEpoch
      this.state.nextSequence = header.baseSequence + header.lastOffsetDelta + 1
    }
    this.state.nextOffset = next
  }

  private async ensureTopic(): Promise<void> {
    if (this.ensured) return
    try {
      await this.broker.metadata({ topics: [this.topic] })
    } catch (error) {
      if (!isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw storeError(error)
      try {
        await this.broker.createTopics({ topics: [{ topic: this.topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] })
      } catch (e) {
        if (!isEdgelogError(e, 'TOPIC_ALREADY_EXISTS')) throw storeError(e)
      }
    }
    this.ensured = true
  }

  /**
   * Reads the latest state, lets `plan` decide what to write (it throws a typed error to
   * refuse: nothing is written), and appends that as one batch, compare-and-set on the log.
   * On a conflict it starts again from a fresh read. Returns what `plan` returned.
   */
  write<T>(plan: (state: RegistryState) => { records: RegistryRecord[]; result: T }): Promise<T> {
    const run = this.queue.then(() => this.writeNow(plan))
    this.queue = run.catch(() => {})
    return run
  }

  private async writeNow<T>(plan: (state: RegistryState) => { records: RegistryRecord[]; result: T }): Promise<T> {
    await this.ensureTopic()
    let bumpEpoch = false
    let lastConflictAt = -1
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const state = await this.refresh()
      if (bumpEpoch) {
        // The log takes a new epoch at sequence 0 whatever was written before it: that is no
        // compare-and-set (a tab whose view of the log is behind would land a plan made on old
        // state). So the new epoch opens with a NOOP record, harmless wherever it lands; the
        // real write follows at sequence 1, a compare-and-set again, after a read that includes it.
        await this.openEpoch(state.epoch + 1)
        bumpEpoch = false
        continue
      }
      const { records, result } = plan(state)
      if (records.length === 0) return result
      const epoch = state.epoch
      const sequence = state.nextSequence
      const timestamp = this.now()
      const batch = encodeBatch(records.map((r): RecordInput => {
        const value = valueOf(r)
        return { key: encoder.encode(keyOf(r)), value: value === null ? null : encoder.encode(value), timestamp }
      }), { producerId: REGISTRY_PRODUCER_ID, producerEpoch: epoch, baseSequence: sequence })
      const readAt = state.nextOffset
      let code: string | undefined
      try {
        const [answer] = await this.broker.produce({ acks: -1, entries: [{ topic: this.topic, partition: 0, batch }] })
        code = answer.error?.code
        if (!code && answer.baseOffset < readAt) code = 'DUPLICATE_SEQUENCE_NUMBER' // another writer's batch answered as ours
        if (code && !CONFLICTS.has(code)) throw new SchemaRegistryError('STORE_ERROR', `Error in the backend data store: ${answer.error!.code}: ${answer.error!.message}`, { retriable: true })
      } catch (error) {
        if (error instanceof SchemaRegistryError) throw error
        if (isEdgelogError(error) && CONFLICTS.has(error.code)) code = error.code
        else throw storeError(error)
      }
      if (!code) {
        await this.refresh()
        return result
      }
      // A conflict: someone wrote first (read again), or the log forgot the producer (expired
      // state, a compacted-away last batch): then start a new epoch, which is also a compare-and-set.
      bumpEpoch = code === 'UNKNOWN_PRODUCER_ID' || (lastConflictAt === readAt)
      lastConflictAt = readAt
    }
    throw new SchemaRegistryError('OPERATION_TIMEOUT', `Gave up writing to ${this.topic} after ${this.maxAttempts} conflicting attempts`, { retriable: true })
  }

  /** Writes Confluent's NOOP record under `epoch`, sequence 0; losing to another writer's is fine. */
  private async openEpoch(epoch: number): Promise<void> {
    const batch = encodeBatch([{ key: encoder.encode(NOOP_KEY), value: null, timestamp: this.now() }], { producerId: REGISTRY_PRODUCER_ID, producerEpoch: epoch, baseSequence: 0 })
    try {
      const [answer] = await this.broker.produce({ acks: -1, entries: [{ topic: this.topic, partition: 0, batch }] })
      const code = answer.error?.code
      if (code && !CONFLICTS.has(code)) throw new SchemaRegistryError('STORE_ERROR', `Error in the backend data store: ${code}: ${answer.error!.message}`, { retriable: true })
    } catch (error) {
      if (error instanceof SchemaRegistryError) throw error
      if (!(isEdgelogError(error) && CONFLICTS.has(error.code))) throw storeError(error)
    }
  }
}

/** Confluent's KafkaStore writes the same key to check it reads its own writes; readers ignore it. */
const NOOP_KEY = '{"keytype":"NOOP","magic":0}'

function storeError(error: unknown): SchemaRegistryError {
  if (error instanceof SchemaRegistryError) return error
  const message = isEdgelogError(error) ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error)
  return new SchemaRegistryError('STORE_ERROR', `Error in the backend data store: ${message}`, { cause: error, retriable: true })
}
