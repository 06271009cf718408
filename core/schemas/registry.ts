/**
 * `SchemaRegistry`: Confluent Schema Registry's behaviour over the log (any Broker: in
 * process, IndexedDB in a Web Worker, the edge). Every method answers what the matching REST
 * call answers (worker/http/schema-registry.ts maps them one to one) and refuses with a
 * SchemaRegistryError carrying Confluent's error code; nothing is stored on a refusal.
 */
import type { Broker } from '../broker.ts'
import { SchemaRegistryError } from './errors.ts'
import {
  checkCompatibility, compatibilityLevelOf, DEFAULT_COMPATIBILITY, parseSchema, type CompatibilityLevel, type ParsedSchema,
  type ReferenceResolver, type SchemaInput, type SchemaReference,
} from './schema-types.ts'
import { RegistryState, SchemaStore, type RegistryRecord, type SchemaStoreOptions, type StoredVersion } from './store.ts'

const INT32_MAX = 0x7fffffff

/** GET /subjects/{s}/versions/{v} and the lookup's answer. */
export interface SubjectVersion {
  subject: string
  id: number
  version: number
  schema: string
  schemaType?: string
  references?: SchemaReference[]
}

/** GET /schemas/ids/{id}. */
export interface SchemaById {
  schema: string
  schemaType?: string
  references?: SchemaReference[]
}

export interface CompatibilityResult {
  is_compatible: boolean
  messages?: string[]
}

export interface SchemaRegistryOptions extends SchemaStoreOptions {}

export class SchemaRegistry {
  readonly store: SchemaStore
  private readonly parsed = new Map<number, ParsedSchema>()

  constructor(broker: Broker, options: SchemaRegistryOptions = {}) {
    this.store = new SchemaStore(broker, options)
  }

  // ------------------------------------------------------------------ reads

  private async state(): Promise<RegistryState> {
    return this.store.refresh()
  }

  async subjects(options: { deleted?: boolean; subjectPrefix?: string } = {}): Promise<string[]> {
    const state = await this.state()
    const out: string[] = []
    for (const [subject, versions] of state.subjects) {
      if (options.subjectPrefix && !subject.startsWith(options.subjectPrefix)) continue
      if (options.deleted || [...versions.values()].some((v) => !v.deleted)) out.push(subject)
    }
    return out.sort()
  }

  async versions(subject: string, options: { deleted?: boolean } = {}): Promise<number[]> {
    return versionsOf(await this.state(), subject, options.deleted === true).map((v) => v.version)
  }

  async getVersion(subject: string, version: string | number, options: { deleted?: boolean } = {}): Promise<SubjectVersion> {
    return view(findVersion(await this.state(), subject, version, options.deleted === true))
  }

  async schemaById(id: number | string): Promise<SchemaById> {
    const n = idOf(id)
    const state = await this.state()
    const found = state.versionsWithId(n)[0]
    if (!found) throw new SchemaRegistryError('SCHEMA_NOT_FOUND', `Schema ${n} not found`)
    return { schema: found.schema, ...(found.schemaType && found.schemaType !== 'AVRO' ? { schemaType: found.schemaType } : {}), ...(found.references?.length ? { references: found.references } : {}) }
  }

  /** GET /schemas/ids/{id}/versions: the subject-versions using the schema. */
  async idVersions(id: number | string, options: { deleted?: boolean } = {}): Promise<Array<{ subject: string; version: number }>> {
    const n = idOf(id)
    const all = (await this.state()).versionsWithId(n)
    if (all.length === 0) throw new SchemaRegistryError('SCHEMA_NOT_FOUND', `Schema ${n} not found`)
    return all.filter((v) => options.deleted || !v.deleted).map((v) => ({ subject: v.subject, version: v.version }))
      .sort((a, b) => a.subject.localeCompare(b.subject) || a.version - b.version)
  }

  async idSubjects(id: number | string, options: { deleted?: boolean } = {}): Promise<string[]> {
    return [...new Set((await this.idVersions(id, options)).map((v) => v.subject))]
  }

  /** POST /subjects/{s}: is this schema registered under the subject? */
  async lookup(subject: string, input: SchemaInput, options: { deleted?: boolean } = {}): Promise<SubjectVersion> {
    checkSubject(subject)
    const state = await this.state()
    const versions = versionsOf(state, subject, options.deleted === true)
    const parsed = parseSchema(input, resolverOf(state))
    const match = [...versions].reverse().find((v) => this.parse(state, v).identity === parsed.identity)
    if (!match) throw new SchemaRegistryError('SCHEMA_NOT_FOUND', `Schema not found under subject '${subject}'`)
    return view(match)
  }

  /** GET /subjects/{s}/versions/{v}/referencedby: ids of the schemas that reference this version. */
  async referencedBy(subject: string, version: string | number): Promise<number[]> {
    const state = await this.state()
    const target = findVersion(state, subject, version, false)
    return [...new Set(referrers(state, target.subject, target.version).map((v) => v.id))].sort((a, b) => a - b)
  }

  async getConfig(subject?: string, options: { defaultToGlobal?: boolean } = {}): Promise<{ compatibilityLevel: CompatibilityLevel }> {
    const state = await this.state()
    const global = state.configs.get(null) ?? DEFAULT_COMPATIBILITY
    if (subject === undefined) return { compatibilityLevel: global }
    const own = state.configs.get(subject)
    if (own) return { compatibilityLevel: own }
    if (options.defaultToGlobal) return { compatibilityLevel: global }
    throw new SchemaRegistryError('SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED', `Subject '${subject}' does not have subject-level compatibility configured`)
  }

  async testCompatibility(subject: string, version: string | number | undefined, input: SchemaInput, options: { verbose?: boolean } = {}): Promise<CompatibilityResult> {
    checkSubject(subject)
    const state = await this.state()
    const parsed = parseSchema(input, resolverOf(state))
    const level = levelOf(state, subject)
    let against: StoredVersion[]
    if (version === undefined) {
      against = versionsOf(state, subject, false, true)
    } else {
      against = [findVersion(state, subject, version, false)]
    }
    const messages = checkCompatibility(level === 'NONE' ? 'NONE' : version === undefined ? level : transitiveOf(level), parsed, against.map((v) => this.parse(state, v)))
    return { is_compatible: messages.length === 0, ...(options.verbose ? { messages } : {}) }
  }

  // ------------------------------------------------------------------ writes

  /** POST /subjects/{s}/versions: the schema's id (the existing one when already registered under the subject). */
  async register(subject: string, input: SchemaInput): Promise<{ id: number }> {
    checkSubject(subject)
    // Parse once against the current state to refuse bad input before anything else.
    const first = parseSchema(input, resolverOf(await this.state()))
    return this.store.write((state) => {
      const parsed = first.references.length === 0 ? first : parseSchema(input, resolverOf(state))
      const all = [...(state.subjects.get(subject)?.values() ?? [])].sort((a, b) => a.version - b.version)
      const live = all.filter((v) => !v.deleted)
      const same = live.find((v) => this.parse(state, v).identity === parsed.identity)
      if (same) return { records: [], result: { id: same.id } }
      const messages = checkCompatibility(levelOf(state, subject), parsed, live.map((v) => this.parse(state, v)))
      if (messages.length > 0) {
        throw new SchemaRegistryError('INCOMPATIBLE_SCHEMA', `Schema being registered is incompatible with an earlier schema for subject "${subject}", details: [${messages.join(', ')}]`)
      }
      const existing = this.findId(state, parsed)
      const id = existing ?? state.maxId + 1
      const version = (all.length === 0 ? 0 : all[all.length - 1].version) + 1
      const value: StoredVersion = {
        subject, version, id, schema: parsed.text, deleted: false,
        ...(parsed.type !== 'AVRO' ? { schemaType: parsed.type } : {}),
        ...(parsed.references.length > 0 ? { references: parsed.references } : {}),
      }
      return { records: [{ kind: 'schema', subject, version, value }], result: { id } }
    })
  }

  /** PUT /config[/{s}]. */
  async setConfig(subject: string | undefined, level: unknown): Promise<{ compatibility: CompatibilityLevel }> {
    if (subject !== undefined) checkSubject(subject)
    const compatibilityLevel = compatibilityLevelOf(level)
    return this.store.write((state) => ({
      records: state.configs.get(subject ?? null) === compatibilityLevel ? [] : [{ kind: 'config', subject: subject ?? null, value: { compatibilityLevel } }],
      result: { compatibility: compatibilityLevel },
    }))
  }

  /** DELETE /config[/{s}]: the level that was set (the global one goes back to BACKWARD). */
  async deleteConfig(subject?: string): Promise<{ compatibilityLevel: CompatibilityLevel }> {
    return this.store.write((state) => {
      const key = subject ?? null
      const own = state.configs.get(key)
      if (subject !== undefined && !own && !state.subjects.has(subject)) throw new SchemaRegistryError('SUBJECT_NOT_FOUND', `Subject '${subject}' not found.`)
      const previous = own ?? state.configs.get(null) ?? DEFAULT_COMPATIBILITY
      return { records: own ? [{ kind: 'config', subject: key, value: null }] : [], result: { compatibilityLevel: previous } }
    })
  }

  /** DELETE /subjects/{s}[?permanent=true]: the versions deleted. */
  async deleteSubject(subject: string, options: { permanent?: boolean } = {}): Promise<number[]> {
    checkSubject(subject)
    return this.store.write((state) => {
      const all = [...(state.subjects.get(subject)?.values() ?? [])].sort((a, b) => a.version - b.version)
      if (all.length === 0) throw new SchemaRegistryError('SUBJECT_NOT_FOUND', `Subject '${subject}' not found.`)
      const live = all.filter((v) => !v.deleted)
      if (!options.permanent) {
        if (live.length === 0) throw new SchemaRegistryError('SUBJECT_SOFT_DELETED', `Subject '${subject}' was soft deleted. Set permanent=true to delete permanently`)
        for (const v of live) refuseIfReferenced(state, v)
        return { records: live.map((v): RegistryRecord => ({ kind: 'schema', subject, version: v.version, value: { ...v, deleted: true } })), result: live.map((v) => v.version) }
      }
      if (live.length > 0) throw new SchemaRegistryError('SUBJECT_NOT_SOFT_DELETED', `Subject '${subject}' was not deleted first before being permanently deleted`)
      const records: RegistryRecord[] = all.map((v) => ({ kind: 'schema', subject, version: v.version, value: null }))
      records.push({ kind: 'idHigh', id: state.maxId })
      if (state.configs.has(subject)) records.push({ kind: 'config', subject, value: null })
      return { records, result: all.map((v) => v.version) }
    })
  }

  /** DELETE /subjects/{s}/versions/{v}[?permanent=true]: the version deleted. */
  async deleteVersion(subject: string, version: string | number, options: { permanent?: boolean } = {}): Promise<number> {
    checkSubject(subject)
    return this.store.write((state) => {
      const target = findVersion(state, subject, version, options.permanent === true)
      if (!options.permanent) {
        refuseIfReferenced(state, target)
        return { records: [{ kind: 'schema', subject, version: target.version, value: { ...target, deleted: true } }], result: target.version }
      }
      if (!target.deleted) throw new SchemaRegistryError('VERSION_NOT_SOFT_DELETED', `Subject '${subject}' Version ${target.version} was not deleted first before being permanently deleted`)
      return { records: [{ kind: 'schema', subject, version: target.version, value: null }, { kind: 'idHigh', id: state.maxId }], result: target.version }
    })
  }

  // ------------------------------------------------------------------ helpers

  /** The parsed form of a stored version (cached by id: an id always means the same schema). */
  private parse(state: RegistryState, v: StoredVersion): ParsedSchema {
    let p = this.parsed.get(v.id)
    if (!p) {
      p = parseSchema({ schema: v.schema, schemaType: v.schemaType, references: v.references }, resolverOf(state))
      if (this.parsed.size > 10_000) this.parsed.clear()
      this.parsed.set(v.id, p)
    }
    return p
  }

  private findId(state: RegistryState, parsed: ParsedSchema): number | undefined {
    for (const versions of state.subjects.values()) {
      for (const v of versions.values()) {
        if ((v.schemaType ?? 'AVRO') === parsed.type) {
          if (this.parse(state, v).identity === parsed.identity) return v.id
        }
      }
    }
    return undefined
  }
}

function view(v: StoredVersion): SubjectVersion {
  return {
    subject: v.subject, version: v.version, id: v.id, schema: v.schema,
    ...(v.schemaType && v.schemaType !== 'AVRO' ? { schemaType: v.schemaType } : {}),
    ...(v.references?.length ? { references: v.references } : {}),
  }
}

export function checkSubject(subject: unknown): asserts subject is string {
  // eslint-disable-next-line no-control-regex
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > 1024 || /[\u0000-\u001f]/.test(subject)) {
    throw new SchemaRegistryError('INVALID_REQUEST', `Invalid subject name ${JSON.stringify(subject)}`)
  }
}

function idOf(raw: number | string): number {
  const n = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < 0) throw new SchemaRegistryError('SCHEMA_NOT_FOUND', `Schema ${raw} not found`)
  return n
}

/** A subject's versions in order (live ones; all with `deleted`); 40401 when there are none. */
function versionsOf(state: RegistryState, subject: string, deleted: boolean, allowEmpty = false): StoredVersion[] {
  const all = [...(state.subjects.get(subject)?.values() ?? [])].filter((v) => deleted || !v.deleted).sort((a, b) => a.version - b.version)
  if (all.length === 0 && !allowEmpty) throw new SchemaRegistryError('SUBJECT_NOT_FOUND', `Subject '${subject}' not found.`)
  return all
}

/** Confluent's version ids: 1 … 2^31-1, "latest" or -1. */
export function parseVersion(raw: string | number): number | 'latest' {
  if (raw === 'latest' || raw === -1 || raw === '-1') return 'latest'
  const n = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isInteger(n) || n < 1 || n > INT32_MAX) {
    throw new SchemaRegistryError('INVALID_VERSION', `The specified version '${raw}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`)
  }
  return n
}

function findVersion(state: RegistryState, subject: string, raw: string | number, deleted: boolean): StoredVersion {
  const version = parseVersion(raw)
  const versions = versionsOf(state, subject, deleted)
  if (version === 'latest') return versions[versions.length - 1]
  const found = state.subjects.get(subject)?.get(version)
  if (!found) throw new SchemaRegistryError('VERSION_NOT_FOUND', `Version ${version} not found.`)
  if (found.deleted && !deleted) throw new SchemaRegistryError('VERSION_NOT_FOUND', `Version ${version} not found.`)
  return found
}

function levelOf(state: RegistryState, subject: string): CompatibilityLevel {
  return state.configs.get(subject) ?? state.configs.get(null) ?? DEFAULT_COMPATIBILITY
}

/** Checking against one given version: the level's direction, that version only. */
function transitiveOf(level: CompatibilityLevel): CompatibilityLevel {
  return level.replace('_TRANSITIVE', '') as CompatibilityLevel
}

function resolverOf(state: RegistryState): ReferenceResolver {
  return (ref) => {
    const versions = state.subjects.get(ref.subject)
    const found = ref.version === -1 ? [...(versions?.values() ?? [])].filter((v) => !v.deleted).sort((a, b) => b.version - a.version)[0] : versions?.get(ref.version)
    if (!found || found.deleted) throw new SchemaRegistryError('INVALID_SCHEMA', `Invalid schema: reference '${ref.name}' to subject '${ref.subject}' version ${ref.version} not found`)
    return found
  }
}

function referrers(state: RegistryState, subject: string, version: number): StoredVersion[] {
  const out: StoredVersion[] = []
  for (const versions of state.subjects.values()) {
    for (const v of versions.values()) if (!v.deleted && v.references?.some((r) => r.subject === subject && r.version === version)) out.push(v)
  }
  return out
}

function refuseIfReferenced(state: RegistryState, target: StoredVersion): void {
  const by = referrers(state, target.subject, target.version)
  if (by.length > 0) throw new SchemaRegistryError('REFERENCE_EXISTS', `One or more references exist to the schema {subject=${target.subject}, version=${target.version}} (ids ${by.map((v) => v.id).join(', ')})`)
}
