/**
 * Confluent's broker-side schema validation (`confluent.value.schema.validation`,
 * `confluent.key.schema.validation`): before a batch is stored, each record's value (key) must
 * be in Confluent's wire format (magic byte 0, a 4-byte schema id) with the id of a live
 * version of subject `<topic>-value` (`<topic>-key`, TopicNameStrategy) in the log's own
 * registry (the `_schemas` topic), and the payload must be a valid value of that schema (Avro
 * that decodes whole with it; JSON that its JSON Schema accepts) — a step past Confluent's
 * brokers, which check the id only. Otherwise the batch is refused with INVALID_RECORD and
 * nothing is stored. The registry is read once and again only when an id is not known yet;
 * each id's schema is parsed once.
 */
import { EdgelogError } from '../errors.ts'
import type { Broker } from '../broker.ts'
import type { TopicConfig } from '../config.ts'
import { decodeBatch } from '../codec/record-batch.ts'
import { SchemaRegistry } from './registry.ts'
import { decodeWith, MAGIC_BYTE, SchemaSerde } from './serde.ts'
import type { SchemaStore } from './store.ts'

export function validatesSchemas(config: TopicConfig): boolean {
  return config['confluent.value.schema.validation'] === true || config['confluent.key.schema.validation'] === true
}

export class SchemaValidator {
  private readonly store: SchemaStore
  /** Parsed schemas by id, with their references (an id never changes meaning). */
  private readonly schemas: SchemaSerde

  constructor(broker: Broker) {
    const registry = new SchemaRegistry(broker)
    this.store = registry.store
    this.schemas = new SchemaSerde(registry)
  }

  /** Throws INVALID_RECORD naming the first record that fails; resolves when every record passes. */
  async check(topic: string, config: TopicConfig, batches: Uint8Array[]): Promise<void> {
    const fields: Array<['key' | 'value', string]> = []
    if (config['confluent.value.schema.validation']) fields.push(['value', `${topic}-value`])
    if (config['confluent.key.schema.validation']) fields.push(['key', `${topic}-key`])
    for (const batch of batches) {
      const { header, records } = await decodeBatch(batch)
      const batchBase = header.baseOffset
      for (const record of records) {
        for (const [field, subject] of fields) {
          const bytes = record[field]
          // A tombstone (null value) carries no schema, as with Confluent.
          if (bytes === null && field === 'value') continue
          const id = schemaIdOf(bytes)
          if (id === undefined) {
            throw new EdgelogError('INVALID_RECORD', `Topic '${topic}' validates ${field}s against subject '${subject}': record ${record.offset - batchBase} of a batch has no schema id (Confluent's wire format: magic byte 0, then a 4-byte id)`)
          }
          if (!(await this.known(subject, id))) {
            throw new EdgelogError('INVALID_RECORD', `Topic '${topic}' validates ${field}s against subject '${subject}': schema id ${id} is not a live version of it`)
          }
          const schema = await this.schemas.schema(id)
          try {
            decodeWith(schema, bytes!.subarray(5))
          } catch (e) {
            throw new EdgelogError('INVALID_RECORD', `Topic '${topic}' validates ${field}s against subject '${subject}': record ${record.offset - batchBase} of a batch does not match schema id ${id}: ${(e as Error).message}`, { cause: e })
          }
        }
      }
    }
  }

  private async known(subject: string, id: number): Promise<boolean> {
    const live = (state: SchemaStore['state']) => [...(state.subjects.get(subject)?.values() ?? [])].some((v) => v.id === id && !v.deleted)
    if (live(this.store.state)) return true
    // Registered since the last read: read what the registry wrote since.
    return live(await this.store.refresh())
  }
}

function schemaIdOf(bytes: Uint8Array | null): number | undefined {
  if (!bytes || bytes.byteLength < 5 || bytes[0] !== MAGIC_BYTE) return undefined
  return new DataView(bytes.buffer, bytes.byteOffset, 5).getUint32(1)
}
