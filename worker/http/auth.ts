/**
 * Access control: bearer tokens with Kafka-ACL-like permissions per topic and group.
 *
 * EDGELOG_TOKENS (a Worker secret) is JSON:
 *   { "<token>": { "topics": { "orders": ["read", "write"], "logs-*": ["read"], "*": ["admin"] },
 *                  "groups": { "billing-*": ["read"] },
 *                  "subjects": { "orders-value": ["read", "write"] },
 *                  "cluster": ["admin"] } }
 * Patterns: an exact name, a prefix ending in `*`, or `*` for everything. Operations: `read`,
 * `write`, `admin`, and `all` (the three). As in Kafka, any permission on a resource lets the
 * token see it exists (describe). With no tokens configured the API is open only when
 * EDGELOG_ALLOW_OPEN is "true", or when it is unset and the request came to a loopback host
 * (wrangler dev on 127.0.0.1/localhost: a deployed Worker is never reached under those names).
 */
import { EdgelogError } from '../../core/errors.ts'
import type { EdgelogEnv } from '../env.ts'

export type Operation = 'read' | 'write' | 'admin'
export type Access = Operation | 'describe'
type Rules = Record<string, string[]>

interface TokenGrant {
  topics?: Rules
  groups?: Rules
  /** Schema registry subjects (worker/http/schema-registry.ts). */
  subjects?: Rules
  cluster?: string[]
}

export interface Principal {
  /** "open" when no tokens are configured (local mode), else "token". */
  readonly kind: 'open' | 'token'
  topic(name: string, access: Access): boolean
  group(name: string, access: Access): boolean
  /** A schema registry subject (its own grants; the registry also honours the topic of `<topic>-value`). */
  subject(name: string, access: Access): boolean
  cluster(access: Access): boolean
  /** Whether the token may write to some topic (idempotent producer ids). */
  writesAnyTopic(): boolean
}

const OPEN: Principal = {
  kind: 'open',
  topic: () => true,
  group: () => true,
  subject: () => true,
  cluster: () => true,
  writesAnyTopic: () => true,
}

function allows(ops: string[] | undefined, access: Access): boolean {
  if (!Array.isArray(ops)) return false
  if (ops.includes('all')) return true
  if (access === 'describe') return ops.length > 0
  return ops.includes(access)
}

function matches(rules: Rules | undefined, name: string, access: Access): boolean {
  if (!rules) return false
  for (const [pattern, ops] of Object.entries(rules)) {
    const hit = pattern === '*' || pattern === name || (pattern.endsWith('*') && name.startsWith(pattern.slice(0, -1)))
    if (hit && allows(ops, access)) return true
  }
  return false
}

function principalOf(grant: TokenGrant): Principal {
  return {
    kind: 'token',
    topic: (name, access) => matches(grant.topics, name, access),
    group: (name, access) => matches(grant.groups, name, access),
    subject: (name, access) => matches(grant.subjects, name, access),
    cluster: (access) => allows(grant.cluster, access),
    writesAnyTopic: () => Object.values(grant.topics ?? {}).some((ops) => allows(ops, 'write')) || allows(grant.cluster, 'admin'),
  }
}

interface Parsed { tokens: Array<{ digest: Uint8Array; grant: TokenGrant }> }
const parsedCache = new Map<string, Promise<Parsed>>()

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
}

function parseTokens(raw: string): Promise<Parsed> {
  let cached = parsedCache.get(raw)
  if (!cached) {
    cached = (async () => {
      let json: unknown
      try {
        json = JSON.parse(raw)
      } catch {
        throw new EdgelogError('INVALID_CONFIG', 'EDGELOG_TOKENS is not valid JSON')
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new EdgelogError('INVALID_CONFIG', 'EDGELOG_TOKENS must be a JSON object of token → permissions')
      const tokens = await Promise.all(Object.entries(json).map(async ([token, grant]) => ({ digest: await sha256(token), grant: (grant ?? {}) as TokenGrant })))
      return { tokens }
    })()
    parsedCache.set(raw, cached)
    cached.catch(() => parsedCache.delete(raw))
  }
  return cached
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  const subtle = crypto.subtle as SubtleCrypto & { timingSafeEqual?: (a: ArrayBufferView, b: ArrayBufferView) => boolean }
  if (typeof subtle.timingSafeEqual === 'function') return a.byteLength === b.byteLength && subtle.timingSafeEqual(a, b)
  let diff = a.byteLength ^ b.byteLength
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i]
  return diff === 0
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

/** Who is calling: the open principal (local mode), a token's grant, or 401 UNAUTHENTICATED. */
export async function authenticate(env: EdgelogEnv, request: Request, queryToken?: string): Promise<Principal> {
  const raw = env.EDGELOG_TOKENS?.trim()
  if (!raw) {
    const open = env.EDGELOG_ALLOW_OPEN
    if (open === 'true') return OPEN
    if (open === undefined || open === '') {
      if (LOOPBACK.has(new URL(request.url).hostname)) return OPEN
    }
    throw new EdgelogError('UNAUTHENTICATED', 'No access tokens are configured (EDGELOG_TOKENS), and the API is open only on a local wrangler dev (or with EDGELOG_ALLOW_OPEN=true)')
  }
  const header = request.headers.get('authorization')
  let presented: string | undefined
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!m) throw new EdgelogError('UNAUTHENTICATED', 'Authorization must be "Bearer <token>"')
    presented = m[1]
  } else {
    presented = queryToken
  }
  if (!presented) throw new EdgelogError('UNAUTHENTICATED', 'A bearer token is required (Authorization: Bearer <token>)')
  const { tokens } = await parseTokens(raw)
  const digest = await sha256(presented)
  let found: TokenGrant | undefined
  for (const t of tokens) if (equal(t.digest, digest) && !found) found = t.grant
  if (!found) throw new EdgelogError('UNAUTHENTICATED', 'Unknown bearer token')
  return principalOf(found)
}

export function requireTopic(p: Principal, name: string, access: Access): void {
  if (!p.topic(name, access)) throw new EdgelogError('TOPIC_AUTHORIZATION_FAILED', `Not authorized to ${access} topic '${name}'`)
}

export function requireGroup(p: Principal, name: string, access: Access): void {
  if (!p.group(name, access)) throw new EdgelogError('GROUP_AUTHORIZATION_FAILED', `Not authorized to ${access} group '${name}'`)
}

export function requireCluster(p: Principal, access: Access): void {
  if (!p.cluster(access)) throw new EdgelogError('CLUSTER_AUTHORIZATION_FAILED', `Not authorized to ${access} the cluster`)
}
