/**
 * Each level × typical changes, as Confluent's documentation tabulates them: every change from
 * an old schema to a new one has two verdicts, given here by hand from the Avro specification's
 * resolution rules (and Confluent's JSON Schema rules) — can the new schema read the old one's
 * data (backward), can the old schema read the new one's (forward) — and Confluent's
 * definitions give each level's: BACKWARD[_TRANSITIVE] the first, FORWARD[_TRANSITIVE] the
 * second, FULL[_TRANSITIVE] both, NONE always. Every change runs at all seven levels against a
 * registry over an in-process log: registered (a new version) or refused with 409 and nothing
 * stored, and the compatibility endpoint agrees. (compatibility.test.ts has the cases where the
 * transitive levels differ, over longer histories.)
 */
import { describe, expect, it } from 'vitest'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { COMPATIBILITY_LEVELS, SchemaRegistry, isSchemaRegistryError, type CompatibilityLevel } from '../../core/schemas/index.ts'

interface Change { name: string; old: unknown; next: unknown; backward: boolean; forward: boolean; type?: 'JSON' }

const rec = (fields: unknown[], name = 'Order', extra: Record<string, unknown> = {}) => ({ type: 'record', name, namespace: 'shop', fields, ...extra })
const f = (name: string, type: unknown, extra: Record<string, unknown> = {}) => ({ name, type, ...extra })
const ID = f('id', 'long')
const one = (field: unknown) => rec([ID, field])
const status = (symbols: string[]) => one(f('status', { type: 'enum', name: 'Status', symbols }))

const avro: Change[] = [
  { name: 'add a field with a default', old: rec([ID]), next: one(f('qty', 'int', { default: 1 })), backward: true, forward: true },
  { name: 'add a field without a default', old: rec([ID]), next: one(f('qty', 'int')), backward: false, forward: true },
  { name: 'remove a field that has a default', old: one(f('qty', 'int', { default: 1 })), next: rec([ID]), backward: true, forward: true },
  { name: 'remove a field without a default', old: one(f('qty', 'int')), next: rec([ID]), backward: true, forward: false },
  { name: 'promote int to long', old: one(f('qty', 'int')), next: one(f('qty', 'long')), backward: true, forward: false },
  { name: 'narrow long to int', old: one(f('qty', 'long')), next: one(f('qty', 'int')), backward: false, forward: true },
  { name: 'promote float to double', old: one(f('price', 'float')), next: one(f('price', 'double')), backward: true, forward: false },
  { name: 'string to bytes (either way readable)', old: one(f('note', 'string')), next: one(f('note', 'bytes')), backward: true, forward: true },
  { name: 'add an enum symbol', old: status(['NEW', 'PAID']), next: status(['NEW', 'PAID', 'SHIPPED']), backward: true, forward: false },
  { name: 'remove an enum symbol', old: status(['NEW', 'PAID', 'SHIPPED']), next: status(['NEW', 'PAID']), backward: false, forward: true },
  { name: 'make a field nullable (a union with null)', old: one(f('note', 'string')), next: one(f('note', ['null', 'string'])), backward: true, forward: false },
  { name: 'add a branch to a union', old: one(f('note', ['null', 'string'], { default: null })), next: one(f('note', ['null', 'string', 'int'], { default: null })), backward: true, forward: false },
  { name: 'rename a field, the new name aliasing the old', old: one(f('qty', 'int')), next: one(f('quantity', 'int', { aliases: ['qty'] })), backward: true, forward: false },
  { name: 'change a field to an unrelated type', old: one(f('qty', 'int')), next: one(f('qty', 'string')), backward: false, forward: false },
  { name: 'rename the record without an alias', old: rec([ID]), next: rec([ID], 'Purchase'), backward: false, forward: false },
  { name: 'change only the documentation', old: rec([ID]), next: rec([f('id', 'long', { doc: 'the order number' })], 'Order', { doc: 'An order' }), backward: true, forward: true },
]

const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'object', properties, ...extra })
const closed = (properties: Record<string, unknown>) => obj(properties, { additionalProperties: false })
const S = { type: 'string' }

const json: Change[] = ([
  { name: 'add an optional property to a closed content model', old: closed({ a: S }), next: closed({ a: S, b: { type: 'integer' } }), backward: true, forward: false },
  { name: 'add a property to an open content model', old: obj({ a: S }), next: obj({ a: S, b: { type: 'integer' } }), backward: false, forward: true },
  { name: 'widen integer to number', old: closed({ n: { type: 'integer' } }), next: closed({ n: { type: 'number' } }), backward: true, forward: false },
  { name: 'extend an enum', old: closed({ s: { enum: ['NEW', 'PAID'] } }), next: closed({ s: { enum: ['NEW', 'PAID', 'SHIPPED'] } }), backward: true, forward: false },
  { name: 'raise maxLength', old: closed({ a: { type: 'string', maxLength: 10 } }), next: closed({ a: { type: 'string', maxLength: 20 } }), backward: true, forward: false },
  { name: 'change a property to an unrelated type', old: closed({ a: S }), next: closed({ a: { type: 'boolean' } }), backward: false, forward: false },
] as Change[]).map((c) => ({ ...c, type: 'JSON' as const }))

/** Confluent's definition of each level, for one step of history. */
function verdict(level: CompatibilityLevel, c: Change): boolean {
  if (level === 'NONE') return true
  if (level.startsWith('BACKWARD')) return c.backward
  if (level.startsWith('FORWARD')) return c.forward
  return c.backward && c.forward
}

const cases = [...avro, ...json].flatMap((c) => COMPATIBILITY_LEVELS.map((level) => ({ ...c, level, compatible: verdict(level, c) })))

describe('compatibility matrix: every level × typical changes', () => {
  it('covers the seven levels for every change, both verdicts at each level but NONE', () => {
    expect(COMPATIBILITY_LEVELS).toHaveLength(7)
    expect(cases).toHaveLength((avro.length + json.length) * 7)
    for (const level of COMPATIBILITY_LEVELS.filter((l) => l !== 'NONE')) {
      const at = cases.filter((c) => c.level === level)
      expect(at.some((c) => c.compatible) && at.some((c) => !c.compatible), level).toBe(true)
    }
  })

  it.each(cases.map((c) => [`${c.level} ${c.type ?? 'AVRO'}: ${c.name} → ${c.compatible ? 'compatible' : 'incompatible'}`, c] as const))('%s', async (_name, c) => {
    const registry = new SchemaRegistry(new LocalBroker({ storage: new MemoryStorage() }))
    const subject = 'orders-value'
    const schemaType = c.type
    await registry.register(subject, { schema: JSON.stringify(c.old), schemaType })
    await registry.setConfig(subject, c.level)

    const check = await registry.testCompatibility(subject, 'latest', { schema: JSON.stringify(c.next), schemaType }, { verbose: true })
    expect(check.is_compatible, check.messages?.join('\n')).toBe(c.compatible)

    const outcome = await registry.register(subject, { schema: JSON.stringify(c.next), schemaType }).then(() => 'registered', (e) => e)
    if (c.compatible) {
      expect(outcome).toBe('registered')
      expect(await registry.versions(subject)).toEqual([1, 2])
    } else {
      expect(isSchemaRegistryError(outcome, 'INCOMPATIBLE_SCHEMA'), String(outcome)).toBe(true)
      expect(await registry.versions(subject)).toEqual([1])
    }
  })
})
