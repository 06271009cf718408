/**
 * The compatibility table: typical schema changes × Confluent's seven levels, each with the
 * verdict the Avro specification's resolution rules (and Confluent's documentation for JSON
 * Schema) give. Every case runs against a registry over an in-process log: the history is
 * registered under NONE, the level set, then the next schema registered — 409 and nothing
 * stored when incompatible, a new version when compatible — and the compatibility endpoint's
 * answer must agree.
 */
import { describe, expect, it } from 'vitest'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { SchemaRegistry, isSchemaRegistryError, type CompatibilityLevel } from '../../core/schemas/index.ts'

type Schema = Record<string, unknown> | string | unknown[]
interface Case { name: string; level: CompatibilityLevel; history: Schema[]; next: Schema; compatible: boolean; type?: 'AVRO' | 'JSON' }

const rec = (fields: unknown[], name = 'User', extra: Record<string, unknown> = {}) => ({ type: 'record', name, namespace: 'com.example', fields, ...extra })
const f = (name: string, type: unknown, extra: Record<string, unknown> = {}) => ({ name, type, ...extra })
const NAME = f('name', 'string')
const V1 = rec([NAME])
const withField = (type: unknown, extra: Record<string, unknown> = {}) => rec([NAME, f('age', type, extra)])
const color = (symbols: string[], extra: Record<string, unknown> = {}) => rec([NAME, f('color', { type: 'enum', name: 'Color', symbols, ...extra })])

const avro: Case[] = [
  // BACKWARD: the new schema reads data written with the latest one
  { name: 'add a field with a default', level: 'BACKWARD', history: [V1], next: withField('int', { default: 0 }), compatible: true },
  { name: 'add a field without a default', level: 'BACKWARD', history: [V1], next: withField('int'), compatible: false },
  { name: 'add a nullable field defaulting to null', level: 'BACKWARD', history: [V1], next: withField(['null', 'int'], { default: null }), compatible: true },
  { name: 'remove a field', level: 'BACKWARD', history: [withField('int')], next: V1, compatible: true },
  { name: 'promote int to long', level: 'BACKWARD', history: [withField('int')], next: withField('long'), compatible: true },
  { name: 'promote int to float', level: 'BACKWARD', history: [withField('int')], next: withField('float'), compatible: true },
  { name: 'promote int to double', level: 'BACKWARD', history: [withField('int')], next: withField('double'), compatible: true },
  { name: 'promote long to double', level: 'BACKWARD', history: [withField('long')], next: withField('double'), compatible: true },
  { name: 'promote float to double', level: 'BACKWARD', history: [withField('float')], next: withField('double'), compatible: true },
  { name: 'string to bytes', level: 'BACKWARD', history: [withField('string')], next: withField('bytes'), compatible: true },
  { name: 'bytes to string', level: 'BACKWARD', history: [withField('bytes')], next: withField('string'), compatible: true },
  { name: 'narrow long to int', level: 'BACKWARD', history: [withField('long')], next: withField('int'), compatible: false },
  { name: 'narrow double to float', level: 'BACKWARD', history: [withField('double')], next: withField('float'), compatible: false },
  { name: 'int to string', level: 'BACKWARD', history: [withField('int')], next: withField('string'), compatible: false },
  { name: 'add an enum symbol', level: 'BACKWARD', history: [color(['RED', 'GREEN'])], next: color(['RED', 'GREEN', 'BLUE']), compatible: true },
  { name: 'remove an enum symbol', level: 'BACKWARD', history: [color(['RED', 'GREEN'])], next: color(['RED']), compatible: false },
  { name: 'remove an enum symbol, the reader has an enum default', level: 'BACKWARD', history: [color(['RED', 'GREEN'])], next: color(['RED'], { default: 'RED' }), compatible: true },
  { name: 'widen a field to a union', level: 'BACKWARD', history: [withField('string')], next: withField(['null', 'string']), compatible: true },
  { name: 'narrow a union to one branch', level: 'BACKWARD', history: [withField(['null', 'string'], { default: null })], next: withField('string'), compatible: false },
  { name: 'add a union branch', level: 'BACKWARD', history: [withField(['null', 'string'], { default: null })], next: withField(['null', 'string', 'int'], { default: null }), compatible: true },
  { name: 'remove a union branch', level: 'BACKWARD', history: [withField(['null', 'string', 'int'], { default: null })], next: withField(['null', 'string'], { default: null }), compatible: false },
  { name: 'int into a union with long (promotion inside the union)', level: 'BACKWARD', history: [withField('int')], next: withField(['null', 'long']), compatible: true },
  { name: 'rename a field with an alias', level: 'BACKWARD', history: [withField('int')], next: rec([NAME, f('years', 'int', { aliases: ['age'] })]), compatible: true },
  { name: 'rename a field without an alias', level: 'BACKWARD', history: [withField('int')], next: rec([NAME, f('years', 'int')]), compatible: false },
  { name: 'rename the record with an alias', level: 'BACKWARD', history: [V1], next: rec([NAME], 'Person', { aliases: ['User'] }), compatible: true },
  { name: 'rename the record without an alias', level: 'BACKWARD', history: [V1], next: rec([NAME], 'Person'), compatible: false },
  { name: 'change a fixed size', level: 'BACKWARD', history: [withField({ type: 'fixed', name: 'Id', size: 16 })], next: withField({ type: 'fixed', name: 'Id', size: 8 }), compatible: false },
  { name: 'array items promoted int to long', level: 'BACKWARD', history: [withField({ type: 'array', items: 'int' })], next: withField({ type: 'array', items: 'long' }), compatible: true },
  { name: 'map values int to string', level: 'BACKWARD', history: [withField({ type: 'map', values: 'int' })], next: withField({ type: 'map', values: 'string' }), compatible: false },
  { name: 'add a field without a default inside a nested record', level: 'BACKWARD', history: [rec([f('address', rec([f('city', 'string')], 'Address'))])], next: rec([f('address', rec([f('city', 'string'), f('zip', 'string')], 'Address'))]), compatible: false },
  { name: 'recursive record gains a field with a default', level: 'BACKWARD',
    history: [{ type: 'record', name: 'Node', fields: [f('value', 'int'), f('next', ['null', 'Node'], { default: null })] }],
    next: { type: 'record', name: 'Node', fields: [f('value', 'int'), f('next', ['null', 'Node'], { default: null }), f('label', 'string', { default: '' })] }, compatible: true },
  { name: 'primitive to record', level: 'BACKWARD', history: ['"string"'], next: V1, compatible: false },
  // FORWARD: the latest schema reads data written with the new one
  { name: 'forward: add a field without a default', level: 'FORWARD', history: [V1], next: withField('int'), compatible: true },
  { name: 'forward: remove a field that had no default', level: 'FORWARD', history: [withField('int')], next: V1, compatible: false },
  { name: 'forward: remove a field that had a default', level: 'FORWARD', history: [withField('int', { default: 0 })], next: V1, compatible: true },
  { name: 'forward: add an enum symbol', level: 'FORWARD', history: [color(['RED', 'GREEN'])], next: color(['RED', 'GREEN', 'BLUE']), compatible: false },
  { name: 'forward: remove an enum symbol', level: 'FORWARD', history: [color(['RED', 'GREEN'])], next: color(['RED']), compatible: true },
  { name: 'forward: promote int to long', level: 'FORWARD', history: [withField('int')], next: withField('long'), compatible: false },
  { name: 'forward: narrow long to int', level: 'FORWARD', history: [withField('long')], next: withField('int'), compatible: true },
  // FULL: both
  { name: 'full: add a field with a default', level: 'FULL', history: [V1], next: withField('int', { default: 0 }), compatible: true },
  { name: 'full: add a field without a default', level: 'FULL', history: [V1], next: withField('int'), compatible: false },
  { name: 'full: remove a field with a default', level: 'FULL', history: [withField('int', { default: 0 })], next: V1, compatible: true },
  { name: 'full: remove a field without a default', level: 'FULL', history: [withField('int')], next: V1, compatible: false },
  { name: 'full: promote int to long', level: 'FULL', history: [withField('int')], next: withField('long'), compatible: false },
  // NONE
  { name: 'none: change a field type', level: 'NONE', history: [withField('int')], next: withField('string'), compatible: true },
  { name: 'none: a different record altogether', level: 'NONE', history: [V1], next: rec([f('x', 'int')], 'Other'), compatible: true },
  // Transitive levels: compatible with the latest, not with an earlier version
  { name: 'backward: checks the latest only', level: 'BACKWARD', history: [V1, withField('int', { default: 0 })], next: withField('int'), compatible: true },
  { name: 'backward transitive: checks every version', level: 'BACKWARD_TRANSITIVE', history: [V1, withField('int', { default: 0 })], next: withField('int'), compatible: false },
  { name: 'backward transitive: compatible with all', level: 'BACKWARD_TRANSITIVE', history: [V1, withField('int', { default: 0 })], next: rec([NAME, f('age', 'long', { default: 0 })]), compatible: true },
  { name: 'forward: checks the latest only', level: 'FORWARD', history: [withField('int'), withField('int', { default: 0 })], next: V1, compatible: true },
  { name: 'forward transitive: checks every version', level: 'FORWARD_TRANSITIVE', history: [withField('int'), withField('int', { default: 0 })], next: V1, compatible: false },
  { name: 'full: checks the latest only', level: 'FULL', history: [withField('int'), withField('int', { default: 1 })], next: V1, compatible: true },
  { name: 'full transitive: checks every version', level: 'FULL_TRANSITIVE', history: [withField('int'), withField('int', { default: 1 })], next: V1, compatible: false },
  { name: 'full transitive: add an optional field', level: 'FULL_TRANSITIVE', history: [V1, withField(['null', 'int'], { default: null })], next: rec([NAME, f('age', ['null', 'int'], { default: null }), f('email', ['null', 'string'], { default: null })]), compatible: true },
]

const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'object', properties, ...extra })
const closed = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => obj(properties, { additionalProperties: false, ...extra })
const S = { type: 'string' }
const I = { type: 'integer' }

const json: Case[] = ([
  { name: 'json: add an optional property to a closed content model', level: 'BACKWARD', history: [closed({ a: S })], next: closed({ a: S, b: I }), compatible: true },
  { name: 'json: add a property to an open content model', level: 'BACKWARD', history: [obj({ a: S })], next: obj({ a: S, b: I }), compatible: false },
  { name: 'json: remove a property from an open content model', level: 'BACKWARD', history: [obj({ a: S, b: I })], next: obj({ a: S }), compatible: true },
  { name: 'json: remove a property from a closed content model', level: 'BACKWARD', history: [closed({ a: S, b: I })], next: closed({ a: S }), compatible: false },
  { name: 'json: add a required property', level: 'BACKWARD', history: [closed({ a: S })], next: closed({ a: S, b: I }, { required: ['b'] }), compatible: false },
  { name: 'json: add a required property with a default', level: 'BACKWARD', history: [closed({ a: S })], next: closed({ a: S, b: { type: 'integer', default: 0 } }, { required: ['b'] }), compatible: true },
  { name: 'json: widen integer to number', level: 'BACKWARD', history: [closed({ a: I })], next: closed({ a: { type: 'number' } }), compatible: true },
  { name: 'json: narrow number to integer', level: 'BACKWARD', history: [closed({ a: { type: 'number' } })], next: closed({ a: I }), compatible: false },
  { name: 'json: change string to integer', level: 'BACKWARD', history: [closed({ a: S })], next: closed({ a: I }), compatible: false },
  { name: 'json: extend an enum', level: 'BACKWARD', history: [closed({ a: { enum: ['x', 'y'] } })], next: closed({ a: { enum: ['x', 'y', 'z'] } }), compatible: true },
  { name: 'json: narrow an enum', level: 'BACKWARD', history: [closed({ a: { enum: ['x', 'y'] } })], next: closed({ a: { enum: ['x'] } }), compatible: false },
  { name: 'json: raise maxLength', level: 'BACKWARD', history: [closed({ a: { type: 'string', maxLength: 10 } })], next: closed({ a: { type: 'string', maxLength: 20 } }), compatible: true },
  { name: 'json: lower maxLength', level: 'BACKWARD', history: [closed({ a: { type: 'string', maxLength: 20 } })], next: closed({ a: { type: 'string', maxLength: 10 } }), compatible: false },
  { name: 'json: widen a type to a union of types', level: 'BACKWARD', history: [closed({ a: S })], next: closed({ a: { type: ['string', 'null'] } }), compatible: true },
  { name: 'json: open a closed content model', level: 'BACKWARD', history: [closed({ a: S })], next: obj({ a: S }), compatible: true },
  { name: 'json: close an open content model', level: 'BACKWARD', history: [obj({ a: S })], next: closed({ a: S }), compatible: false },
  { name: 'json forward: add a required property (open models)', level: 'FORWARD', history: [obj({ a: S })], next: obj({ a: S, b: I }, { required: ['b'] }), compatible: true },
  { name: 'json forward: narrow an enum', level: 'FORWARD', history: [closed({ a: { enum: ['x', 'y'] } })], next: closed({ a: { enum: ['x'] } }), compatible: true },
  { name: 'json full: extend an enum', level: 'FULL', history: [closed({ a: { enum: ['x', 'y'] } })], next: closed({ a: { enum: ['x', 'y', 'z'] } }), compatible: false },
  { name: 'json none: anything', level: 'NONE', history: [closed({ a: S })], next: closed({ a: I }), compatible: true },
] as Case[]).map((c) => ({ ...c, type: 'JSON' as const }))

const text = (s: Schema) => (typeof s === 'string' ? s : JSON.stringify(s))

async function registryOf(): Promise<SchemaRegistry> {
  return new SchemaRegistry(new LocalBroker({ storage: new MemoryStorage() }))
}

describe('compatibility table: typical changes × the seven levels', () => {
  const all = [...avro, ...json]
  it('has at least 40 cases, every level among them, both verdicts', () => {
    expect(all.length).toBeGreaterThanOrEqual(40)
    expect(new Set(all.map((c) => c.level)).size).toBe(7)
    expect(all.some((c) => c.compatible) && all.some((c) => !c.compatible)).toBe(true)
  })

  it.each(all.map((c) => [`${c.level} ${c.type ?? 'AVRO'}: ${c.name} → ${c.compatible ? 'compatible' : 'incompatible'}`, c] as const))('%s', async (_name, c) => {
    const registry = await registryOf()
    const subject = 'case-value'
    const schemaType = c.type === 'JSON' ? 'JSON' : undefined
    await registry.setConfig(subject, 'NONE')
    for (const s of c.history) await registry.register(subject, { schema: text(s), schemaType })
    await registry.setConfig(subject, c.level)
    const before = await registry.versions(subject)

    const check = await registry.testCompatibility(subject, undefined, { schema: text(c.next), schemaType }, { verbose: true })
    expect(check.is_compatible, check.messages?.join('\n')).toBe(c.compatible)

    const outcome = await registry.register(subject, { schema: text(c.next), schemaType }).then(() => 'registered', (e) => e)
    if (c.compatible) {
      expect(outcome).toBe('registered')
      expect(await registry.versions(subject)).toEqual([...before, before.length + 1])
    } else {
      expect(isSchemaRegistryError(outcome, 'INCOMPATIBLE_SCHEMA'), String(outcome)).toBe(true)
      expect(outcome.errorCode).toBe(409)
      expect(await registry.versions(subject)).toEqual(before)
    }
  })
})
