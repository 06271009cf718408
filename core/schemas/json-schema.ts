/**
 * JSON Schema without a library (ajv compiles validators with `new Function`, which workerd
 * refuses): a structural check of the schema, a validator for the keywords records use
 * (draft-04 to 2020-12: type, enum, const, properties, required, additionalProperties,
 * patternProperties, items/prefixItems, bounds, lengths, pattern, allOf/anyOf/oneOf/not,
 * if/then/else, local $ref), and compatibility as Confluent documents it for JSON Schema:
 * a reader accepts every instance the writer accepted (open and closed content models,
 * narrowed and widened types, required properties, enums, bounds).
 */
import { SchemaRegistryError } from './errors.ts'
import type { Incompatibility } from './avro.ts'

export type JsonSchema = boolean | { [k: string]: unknown }

const TYPES = ['null', 'boolean', 'object', 'array', 'number', 'string', 'integer']

function invalid(message: string): never {
  throw new SchemaRegistryError('INVALID_SCHEMA', `Invalid JSON schema: ${message}`)
}

/** Parses and checks a JSON Schema (the text or its value). */
export function parseJsonSchema(schema: string | unknown): JsonSchema {
  let json: unknown = schema
  if (typeof schema === 'string') {
    try { json = JSON.parse(schema) } catch (e) { invalid(`not JSON (${(e as Error).message})`) }
  }
  checkSchema(json, '#', json as JsonSchema)
  return json as JsonSchema
}

const SUBSCHEMA_MAPS = ['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas']
const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems']
const SUBSCHEMAS = ['additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'additionalItems', 'unevaluatedProperties', 'unevaluatedItems']

function checkSchema(s: unknown, at: string, root: JsonSchema): void {
  if (typeof s === 'boolean') return
  if (typeof s !== 'object' || s === null || Array.isArray(s)) invalid(`${at} must be an object or a boolean`)
  const o = s as Record<string, unknown>
  if (o.type !== undefined) {
    const list = Array.isArray(o.type) ? o.type : [o.type]
    if (list.length === 0 || list.some((t) => typeof t !== 'string' || !TYPES.includes(t))) invalid(`${at}/type ${JSON.stringify(o.type)} is not a JSON Schema type`)
  }
  if (o.required !== undefined && typeof o.required !== 'boolean' && (!Array.isArray(o.required) || o.required.some((r) => typeof r !== 'string'))) invalid(`${at}/required must be an array of names`)
  if (o.enum !== undefined && !Array.isArray(o.enum)) invalid(`${at}/enum must be an array`)
  if (o.pattern !== undefined) {
    if (typeof o.pattern !== 'string') invalid(`${at}/pattern must be a string`)
    try { new RegExp(o.pattern, 'u') } catch { invalid(`${at}/pattern is not a regular expression`) }
  }
  for (const k of ['minimum', 'maximum', 'multipleOf', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties']) {
    if (o[k] !== undefined && typeof o[k] !== 'number') invalid(`${at}/${k} must be a number`)
  }
  if (o.$ref !== undefined) {
    if (typeof o.$ref !== 'string') invalid(`${at}/$ref must be a string`)
    if (o.$ref.startsWith('#') && resolvePointer(root, o.$ref) === undefined) invalid(`${at}/$ref ${o.$ref} points nowhere`)
  }
  for (const k of SUBSCHEMA_MAPS) {
    if (o[k] === undefined) continue
    if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k])) invalid(`${at}/${k} must be an object of schemas`)
    for (const [name, sub] of Object.entries(o[k] as object)) checkSchema(sub, `${at}/${k}/${name}`, root)
  }
  for (const k of SUBSCHEMA_LISTS) {
    if (o[k] === undefined) continue
    if (!Array.isArray(o[k]) || (o[k] as unknown[]).length === 0) invalid(`${at}/${k} must be a non-empty array of schemas`)
    ;(o[k] as unknown[]).forEach((sub, i) => checkSchema(sub, `${at}/${k}/${i}`, root))
  }
  for (const k of SUBSCHEMAS) if (o[k] !== undefined) checkSchema(o[k], `${at}/${k}`, root)
  if (o.items !== undefined) {
    if (Array.isArray(o.items)) o.items.forEach((sub, i) => checkSchema(sub, `${at}/items/${i}`, root))
    else checkSchema(o.items, `${at}/items`, root)
  }
}

function resolvePointer(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (ref === '#') return root
  if (!ref.startsWith('#/')) return undefined
  let node: unknown = root
  for (const raw of ref.slice(2).split('/')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~')
    if (typeof node !== 'object' || node === null) return undefined
    node = (node as Record<string, unknown>)[part]
  }
  return typeof node === 'boolean' || (typeof node === 'object' && node !== null) ? node as JsonSchema : undefined
}

// ------------------------------------------------------------------------ validation

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a), kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

/** The reasons `value` does not match `schema` (empty when it does). */
export function jsonSchemaErrors(schema: JsonSchema, value: unknown, root: JsonSchema = schema): string[] {
  const out: string[] = []
  validate(schema, value, '$', root, out, 0)
  return out
}

function validate(s: JsonSchema, v: unknown, at: string, root: JsonSchema, out: string[], depth: number): void {
  if (depth > 64) return void out.push(`${at}: schema nesting too deep`)
  if (s === true) return
  if (s === false) return void out.push(`${at}: no value is allowed here`)
  const o = s as Record<string, unknown>
  if (typeof o.$ref === 'string') {
    const target = resolvePointer(root, o.$ref)
    if (target === undefined) out.push(`${at}: $ref ${o.$ref} cannot be resolved`)
    else validate(target, v, at, root, out, depth + 1)
  }
  const t = typeOf(v)
  if (o.type !== undefined) {
    const types = Array.isArray(o.type) ? o.type : [o.type]
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) out.push(`${at}: expected ${types.join(' or ')}, got ${t}`)
  }
  if (Array.isArray(o.enum) && !o.enum.some((e) => deepEqual(e, v))) out.push(`${at}: not one of ${JSON.stringify(o.enum)}`)
  if (o.const !== undefined && !deepEqual(o.const, v)) out.push(`${at}: must be ${JSON.stringify(o.const)}`)
  if (typeof v === 'number') {
    if (typeof o.minimum === 'number' && (v < o.minimum || (o.exclusiveMinimum === true && v === o.minimum))) out.push(`${at}: below the minimum ${o.minimum}`)
    if (typeof o.maximum === 'number' && (v > o.maximum || (o.exclusiveMaximum === true && v === o.maximum))) out.push(`${at}: above the maximum ${o.maximum}`)
    if (typeof o.exclusiveMinimum === 'number' && v <= o.exclusiveMinimum) out.push(`${at}: not above ${o.exclusiveMinimum}`)
    if (typeof o.exclusiveMaximum === 'number' && v >= o.exclusiveMaximum) out.push(`${at}: not below ${o.exclusiveMaximum}`)
    if (typeof o.multipleOf === 'number' && Math.abs(v / o.multipleOf - Math.round(v / o.multipleOf)) > 1e-9) out.push(`${at}: not a multiple of ${o.multipleOf}`)
  }
  if (typeof v === 'string') {
    const length = [...v].length
    if (typeof o.minLength === 'number' && length < o.minLength) out.push(`${at}: shorter than ${o.minLength}`)
    if (typeof o.maxLength === 'number' && length > o.maxLength) out.push(`${at}: longer than ${o.maxLength}`)
    if (typeof o.pattern === 'string' && !new RegExp(o.pattern, 'u').test(v)) out.push(`${at}: does not match ${o.pattern}`)
  }
  if (Array.isArray(v)) {
    if (typeof o.minItems === 'number' && v.length < o.minItems) out.push(`${at}: fewer than ${o.minItems} items`)
    if (typeof o.maxItems === 'number' && v.length > o.maxItems) out.push(`${at}: more than ${o.maxItems} items`)
    if (o.uniqueItems === true && v.some((x, i) => v.findIndex((y) => deepEqual(x, y)) !== i)) out.push(`${at}: items are not unique`)
    const tuple = Array.isArray(o.prefixItems) ? o.prefixItems as JsonSchema[] : Array.isArray(o.items) ? o.items as JsonSchema[] : undefined
    const rest = tuple ? (Array.isArray(o.prefixItems) ? o.items : o.additionalItems) as JsonSchema | undefined : o.items as JsonSchema | undefined
    v.forEach((item, i) => {
      const sub = tuple && i < tuple.length ? tuple[i] : rest
      if (sub !== undefined) validate(sub, item, `${at}[${i}]`, root, out, depth + 1)
    })
  }
  if (t === 'object') {
    const obj = v as Record<string, unknown>
    const props = (o.properties ?? {}) as Record<string, JsonSchema>
    const patterns = Object.entries((o.patternProperties ?? {}) as Record<string, JsonSchema>).map(([p, sub]) => [new RegExp(p, 'u'), sub] as const)
    if (Array.isArray(o.required)) for (const r of o.required as string[]) if (!(r in obj)) out.push(`${at}: missing required property '${r}'`)
    const keys = Object.keys(obj)
    if (typeof o.minProperties === 'number' && keys.length < o.minProperties) out.push(`${at}: fewer than ${o.minProperties} properties`)
    if (typeof o.maxProperties === 'number' && keys.length > o.maxProperties) out.push(`${at}: more than ${o.maxProperties} properties`)
    for (const k of keys) {
      let matched = false
      if (Object.hasOwn(props, k)) { matched = true; validate(props[k], obj[k], `${at}.${k}`, root, out, depth + 1) }
      for (const [re, sub] of patterns) if (re.test(k)) { matched = true; validate(sub, obj[k], `${at}.${k}`, root, out, depth + 1) }
      if (!matched && o.additionalProperties !== undefined) {
        if (o.additionalProperties === false) out.push(`${at}: property '${k}' is not allowed`)
        else validate(o.additionalProperties as JsonSchema, obj[k], `${at}.${k}`, root, out, depth + 1)
      }
    }
  }
  if (Array.isArray(o.allOf)) for (const sub of o.allOf as JsonSchema[]) validate(sub, v, at, root, out, depth + 1)
  if (Array.isArray(o.anyOf) && !(o.anyOf as JsonSchema[]).some((sub) => jsonSchemaErrorsAt(sub, v, root, depth).length === 0)) out.push(`${at}: matches none of anyOf`)
  if (Array.isArray(o.oneOf)) {
    const n = (o.oneOf as JsonSchema[]).filter((sub) => jsonSchemaErrorsAt(sub, v, root, depth).length === 0).length
    if (n !== 1) out.push(`${at}: matches ${n} of oneOf, not exactly one`)
  }
  if (o.not !== undefined && jsonSchemaErrorsAt(o.not as JsonSchema, v, root, depth).length === 0) out.push(`${at}: matches the schema under not`)
  if (o.if !== undefined) {
    const branch = jsonSchemaErrorsAt(o.if as JsonSchema, v, root, depth).length === 0 ? o.then : o.else
    if (branch !== undefined) validate(branch as JsonSchema, v, at, root, out, depth + 1)
  }
}

function jsonSchemaErrorsAt(s: JsonSchema, v: unknown, root: JsonSchema, depth: number): string[] {
  const out: string[] = []
  validate(s, v, '$', root, out, depth + 1)
  return out
}

// ------------------------------------------------------------------------ compatibility

interface Side { schema: JsonSchema; root: JsonSchema }

function deref(side: Side, seen = 0): Side {
  const s = side.schema
  if (typeof s === 'object' && typeof s.$ref === 'string' && seen < 32) {
    const target = resolvePointer(side.root, s.$ref)
    if (target !== undefined) {
      const rest = Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$ref'))
      const merged = Object.keys(rest).length === 0 ? target : typeof target === 'object' ? { ...target, ...rest } : target
      return deref({ schema: merged, root: side.root }, seen + 1)
    }
  }
  return side
}

function typesOf(s: Record<string, unknown>): string[] | undefined {
  if (s.type === undefined) return Array.isArray(s.enum) ? [...new Set((s.enum as unknown[]).map(typeOf))] : s.const !== undefined ? [typeOf(s.const)] : undefined
  return Array.isArray(s.type) ? s.type as string[] : [s.type as string]
}

const sub = (side: Side, schema: unknown): Side => ({ schema: (schema ?? true) as JsonSchema, root: side.root })

/**
 * Does every instance valid under `writer` also validate under `reader`? Conservative: when a
 * rule cannot be shown to hold (a changed pattern, say), it is reported as incompatible.
 */
export function jsonSchemaReadable(reader: JsonSchema, writer: JsonSchema): Incompatibility[] {
  const out: Incompatibility[] = []
  subset({ schema: writer, root: writer }, { schema: reader, root: reader }, '#', out, 0)
  return out
}

function subset(wSide: Side, rSide: Side, at: string, out: Incompatibility[], depth: number): void {
  const fail = (type: string, message: string) => out.push({ type, location: at, message })
  if (depth > 48) return
  const w = deref(wSide), r = deref(rSide)
  const ws = w.schema, rs = r.schema
  if (rs === true || ws === false) return
  if (rs === false) return void fail('SCHEMA_NARROWED', `${at}: the reader allows nothing where the writer allowed values`)
  const wo = (ws === true ? {} : ws) as Record<string, unknown>
  const ro = rs as Record<string, unknown>
  // Combinators
  if (Array.isArray(wo.anyOf) || Array.isArray(wo.oneOf)) {
    const branches = (wo.anyOf ?? wo.oneOf) as unknown[]
    const rest = Object.fromEntries(Object.entries(wo).filter(([k]) => k !== 'anyOf' && k !== 'oneOf'))
    branches.forEach((b, i) => subset({ schema: typeof b === 'object' && b !== null ? { ...rest, ...b } : b as JsonSchema, root: w.root }, r, `${at}/${wo.anyOf ? 'anyOf' : 'oneOf'}/${i}`, out, depth + 1))
    return
  }
  if (Array.isArray(ro.anyOf) || Array.isArray(ro.oneOf)) {
    const branches = (ro.anyOf ?? ro.oneOf) as unknown[]
    const ok = branches.some((b) => { const o: Incompatibility[] = []; subset(w, sub(r, b), at, o, depth + 1); return o.length === 0 })
    if (!ok) fail(ro.anyOf ? 'SUM_TYPE_NARROWED' : 'COMBINED_TYPE_SUBSCHEMAS_CHANGED', `${at}: no branch of the reader's ${ro.anyOf ? 'anyOf' : 'oneOf'} accepts what the writer allowed`)
    const rest = Object.fromEntries(Object.entries(ro).filter(([k]) => k !== 'anyOf' && k !== 'oneOf'))
    if (Object.keys(rest).length > 0) subset(w, sub(r, rest), at, out, depth + 1)
    return
  }
  if (Array.isArray(ro.allOf)) {
    ;(ro.allOf as unknown[]).forEach((b) => subset(w, sub(r, b), at, out, depth + 1))
    const rest = Object.fromEntries(Object.entries(ro).filter(([k]) => k !== 'allOf'))
    if (Object.keys(rest).length > 0) subset(w, sub(r, rest), at, out, depth + 1)
    return
  }
  if (Array.isArray(wo.allOf)) {
    // The writer's instances match every allOf branch: the reader is satisfied if it accepts what the merge allows.
    const merged = (wo.allOf as unknown[]).reduce<Record<string, unknown>>((m, b) => (typeof b === 'object' && b !== null ? mergeSchemas(m, b as Record<string, unknown>) : m), Object.fromEntries(Object.entries(wo).filter(([k]) => k !== 'allOf')))
    return subset({ schema: merged, root: w.root }, r, at, out, depth + 1)
  }
  if (ro.not !== undefined && !deepEqual(ro.not, wo.not)) fail('NOT_TYPE_EXTENDED', `${at}: the reader's 'not' changed`)
  // Types
  const wt = typesOf(wo), rt = typesOf(ro)
  if (rt) {
    if (!wt) return void fail('TYPE_NARROWED', `${at}: the reader allows only ${rt.join(', ')}, the writer any type`)
    const missing = wt.filter((t) => !rt.includes(t) && !(t === 'integer' && rt.includes('number')))
    if (missing.length > 0) fail(wt.length === 1 && rt.length === 1 ? 'TYPE_CHANGED' : 'TYPE_NARROWED', `${at}: the writer allowed ${missing.join(', ')}, the reader does not`)
  }
  // Values
  if (Array.isArray(ro.enum)) {
    if (!Array.isArray(wo.enum) && wo.const === undefined) fail('ENUM_ARRAY_NARROWED', `${at}: the reader restricts values to an enum`)
    else {
      const values = (Array.isArray(wo.enum) ? wo.enum : [wo.const]) as unknown[]
      const lost = values.filter((v) => !(ro.enum as unknown[]).some((e) => deepEqual(e, v)))
      if (lost.length > 0) fail('ENUM_ARRAY_NARROWED', `${at}: the reader's enum lacks ${JSON.stringify(lost)}`)
    }
  }
  if (ro.const !== undefined && !deepEqual(ro.const, wo.const) && !(Array.isArray(wo.enum) && wo.enum.length === 1 && deepEqual(wo.enum[0], ro.const))) fail('CONST_CHANGED', `${at}: the reader's const differs`)
  const lower = (k: string, what: string) => {
    if (typeof ro[k] !== 'number') return
    if (typeof wo[k] !== 'number' || (wo[k] as number) < (ro[k] as number)) fail(`${what}_ADDED_OR_INCREASED`, `${at}: ${k} is ${ro[k]} in the reader, ${wo[k] ?? 'absent'} in the writer`)
  }
  const upper = (k: string, what: string) => {
    if (typeof ro[k] !== 'number') return
    if (typeof wo[k] !== 'number' || (wo[k] as number) > (ro[k] as number)) fail(`${what}_ADDED_OR_DECREASED`, `${at}: ${k} is ${ro[k]} in the reader, ${wo[k] ?? 'absent'} in the writer`)
  }
  lower('minimum', 'MINIMUM'); upper('maximum', 'MAXIMUM')
  lower('exclusiveMinimum', 'EXCLUSIVE_MINIMUM'); upper('exclusiveMaximum', 'EXCLUSIVE_MAXIMUM')
  lower('minLength', 'MIN_LENGTH'); upper('maxLength', 'MAX_LENGTH')
  lower('minItems', 'MIN_ITEMS'); upper('maxItems', 'MAX_ITEMS')
  lower('minProperties', 'MIN_PROPERTIES'); upper('maxProperties', 'MAX_PROPERTIES')
  if (typeof ro.multipleOf === 'number' && !(typeof wo.multipleOf === 'number' && Math.abs(wo.multipleOf / ro.multipleOf - Math.round(wo.multipleOf / ro.multipleOf)) < 1e-9)) fail('MULTIPLE_OF_CHANGED', `${at}: multipleOf ${ro.multipleOf} in the reader`)
  if (typeof ro.pattern === 'string' && ro.pattern !== wo.pattern) fail('PATTERN_ADDED_OR_CHANGED', `${at}: the reader's pattern ${ro.pattern} differs from the writer's ${wo.pattern ?? '(none)'}`)
  if (ro.uniqueItems === true && wo.uniqueItems !== true) fail('UNIQUE_ITEMS_ADDED', `${at}: the reader requires unique items`)
  const applies = (t: string) => !wt || wt.includes(t) || (t === 'number' && wt.includes('integer'))
  // Objects: each property the reader describes must accept what the writer allowed for it.
  if (applies('object')) {
    const wp = (wo.properties ?? {}) as Record<string, unknown>, rp = (ro.properties ?? {}) as Record<string, unknown>
    const wAdd = wo.additionalProperties ?? true, rAdd = ro.additionalProperties ?? true
    const wRequired = new Set(Array.isArray(wo.required) ? wo.required as string[] : [])
    for (const name of Array.isArray(ro.required) ? ro.required as string[] : []) {
      const described = ((ro.properties ?? {}) as Record<string, unknown>)[name]
      const withDefault = typeof described === 'object' && described !== null && Object.hasOwn(described, 'default')
      if (!wRequired.has(name) && !withDefault) fail('REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL', `${at}: property '${name}' is required by the reader, not by the writer`)
    }
    for (const [name, rsub] of Object.entries(rp)) {
      const wsub = Object.hasOwn(wp, name) ? wp[name] : patternFor(wo, name) ?? wAdd
      if (!Object.hasOwn(wp, name) && wsub !== false) {
        const o: Incompatibility[] = []
        subset(sub(w, wsub), sub(r, rsub), `${at}/properties/${name}`, o, depth + 1)
        if (o.length > 0) fail(wsub === true ? 'PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL' : 'PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL', `${at}: the reader adds property '${name}', which the writer's open content model let be anything`)
      } else {
        subset(sub(w, wsub), sub(r, rsub), `${at}/properties/${name}`, out, depth + 1)
      }
    }
    for (const [name, wsub] of Object.entries(wp)) {
      if (Object.hasOwn(rp, name)) continue
      const rsub = patternFor(ro, name) ?? rAdd
      const o: Incompatibility[] = []
      subset(sub(w, wsub), sub(r, rsub), `${at}/properties/${name}`, o, depth + 1)
      if (o.length > 0) fail(rsub === false ? 'PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL' : 'PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL', `${at}: the reader removes property '${name}' and its content model does not accept the writer's values for it`)
    }
    if (!deepEqual(wo.patternProperties, ro.patternProperties) && ro.patternProperties !== undefined) fail('PATTERN_PROPERTIES_CHANGED', `${at}: patternProperties changed`)
    const o: Incompatibility[] = []
    subset(sub(w, wAdd), sub(r, rAdd), `${at}/additionalProperties`, o, depth + 1)
    if (o.length > 0) fail(rAdd === false ? 'ADDITIONAL_PROPERTIES_REMOVED' : 'ADDITIONAL_PROPERTIES_NARROWED', `${at}: the reader's additionalProperties accept less than the writer's`)
  }
  if (applies('array')) {
    const wi = wo.prefixItems ?? wo.items, ri = ro.prefixItems ?? ro.items
    if (Array.isArray(wi) || Array.isArray(ri)) {
      const wl = Array.isArray(wi) ? wi : [], rl = Array.isArray(ri) ? ri : []
      const wRest = Array.isArray(wi) ? (wo.prefixItems ? wo.items : wo.additionalItems) : wi
      const rRest = Array.isArray(ri) ? (ro.prefixItems ? ro.items : ro.additionalItems) : ri
      const n = Math.max(wl.length, rl.length)
      for (let i = 0; i < n; i++) subset(sub(w, i < wl.length ? wl[i] : wRest), sub(r, i < rl.length ? rl[i] : rRest), `${at}/items/${i}`, out, depth + 1)
      subset(sub(w, wRest), sub(r, rRest), `${at}/additionalItems`, out, depth + 1)
    } else if (ri !== undefined) {
      subset(sub(w, wi), sub(r, ri), `${at}/items`, out, depth + 1)
    }
  }
}

function patternFor(o: Record<string, unknown>, name: string): unknown {
  for (const [p, s] of Object.entries((o.patternProperties ?? {}) as Record<string, unknown>)) if (new RegExp(p, 'u').test(name)) return s
  return undefined
}

function mergeSchemas(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a }
  for (const [k, v] of Object.entries(b)) {
    if (k === 'properties' && typeof out.properties === 'object') out.properties = { ...(out.properties as object), ...(v as object) }
    else if (k === 'required' && Array.isArray(out.required)) out.required = [...new Set([...(out.required as string[]), ...(v as string[])])]
    else out[k] = v
  }
  return out
}
