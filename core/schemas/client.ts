/**
 * `RegistryClient`: a small fetch-based client of a Confluent-compatible registry (edgelog's
 * Worker, or Confluent's own), with the same method names as SchemaRegistry, so the serde and
 * the CLI run against either. Errors come back typed (SchemaRegistryError with error_code).
 */
import { schemaErrorFromBody, SchemaRegistryError } from './errors.ts'
import type { CompatibilityResult, SchemaById, SubjectVersion } from './registry.ts'
import type { CompatibilityLevel, SchemaInput } from './schema-types.ts'

export const REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json'

export interface RegistryClientOptions {
  url: string
  /** A bearer token (edgelog's tokens), sent as Authorization: Bearer. */
  token?: string
  fetch?: typeof fetch
}

export class RegistryClient {
  private readonly base: string
  private readonly doFetch: typeof fetch

  constructor(private readonly options: RegistryClientOptions) {
    this.base = options.url.replace(/\/+$/, '')
    this.doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: REGISTRY_CONTENT_TYPE }
    if (body !== undefined) headers['Content-Type'] = REGISTRY_CONTENT_TYPE
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`
    let res: Response
    try {
      res = await this.doFetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch (e) {
      throw new SchemaRegistryError('STORE_ERROR', `Cannot reach the registry at ${this.base}: ${(e as Error).message}`, { cause: e, retriable: true })
    }
    const text = await res.text()
    let json: unknown
    try { json = text === '' ? undefined : JSON.parse(text) } catch { json = undefined }
    if (!res.ok) throw schemaErrorFromBody(res.status, json as { error_code?: number; message?: string })
    return json as T
  }

  private static s(subject: string): string { return encodeURIComponent(subject) }

  subjects(options: { deleted?: boolean } = {}): Promise<string[]> {
    return this.call('GET', `/subjects${options.deleted ? '?deleted=true' : ''}`)
  }
  versions(subject: string, options: { deleted?: boolean } = {}): Promise<number[]> {
    return this.call('GET', `/subjects/${RegistryClient.s(subject)}/versions${options.deleted ? '?deleted=true' : ''}`)
  }
  getVersion(subject: string, version: number | string = 'latest'): Promise<SubjectVersion> {
    return this.call('GET', `/subjects/${RegistryClient.s(subject)}/versions/${version}`)
  }
  schemaById(id: number | string): Promise<SchemaById> {
    return this.call('GET', `/schemas/ids/${id}`)
  }
  register(subject: string, input: SchemaInput): Promise<{ id: number }> {
    return this.call('POST', `/subjects/${RegistryClient.s(subject)}/versions`, input)
  }
  lookup(subject: string, input: SchemaInput): Promise<SubjectVersion> {
    return this.call('POST', `/subjects/${RegistryClient.s(subject)}`, input)
  }
  testCompatibility(subject: string, version: number | string | undefined, input: SchemaInput, options: { verbose?: boolean } = {}): Promise<CompatibilityResult> {
    const v = version === undefined ? '' : `/${version}`
    return this.call('POST', `/compatibility/subjects/${RegistryClient.s(subject)}/versions${v}${options.verbose ? '?verbose=true' : ''}`, input)
  }
  getConfig(subject?: string, options: { defaultToGlobal?: boolean } = {}): Promise<{ compatibilityLevel: CompatibilityLevel }> {
    return this.call('GET', `/config${subject === undefined ? '' : `/${RegistryClient.s(subject)}`}${options.defaultToGlobal ? '?defaultToGlobal=true' : ''}`)
  }
  setConfig(subject: string | undefined, level: CompatibilityLevel): Promise<{ compatibility: CompatibilityLevel }> {
    return this.call('PUT', `/config${subject === undefined ? '' : `/${RegistryClient.s(subject)}`}`, { compatibility: level })
  }
  deleteSubject(subject: string, options: { permanent?: boolean } = {}): Promise<number[]> {
    return this.call('DELETE', `/subjects/${RegistryClient.s(subject)}${options.permanent ? '?permanent=true' : ''}`)
  }
  deleteVersion(subject: string, version: number | string, options: { permanent?: boolean } = {}): Promise<number> {
    return this.call('DELETE', `/subjects/${RegistryClient.s(subject)}/versions/${version}${options.permanent ? '?permanent=true' : ''}`)
  }
}
