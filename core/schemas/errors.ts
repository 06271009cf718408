/**
 * The schema registry's typed errors: Confluent Schema Registry's error codes (`error_code` in
 * its REST answers) with a stable name, so that code, CLI and HTTP all say what failed.
 */
export const SCHEMA_ERRORS = {
  UNAUTHENTICATED: { errorCode: 40101, status: 401 },
  FORBIDDEN: { errorCode: 40301, status: 403 },
  SUBJECT_NOT_FOUND: { errorCode: 40401, status: 404 },
  VERSION_NOT_FOUND: { errorCode: 40402, status: 404 },
  SCHEMA_NOT_FOUND: { errorCode: 40403, status: 404 },
  SUBJECT_SOFT_DELETED: { errorCode: 40404, status: 404 },
  SUBJECT_NOT_SOFT_DELETED: { errorCode: 40405, status: 404 },
  VERSION_SOFT_DELETED: { errorCode: 40406, status: 404 },
  VERSION_NOT_SOFT_DELETED: { errorCode: 40407, status: 404 },
  SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED: { errorCode: 40408, status: 404 },
  NOT_FOUND: { errorCode: 404, status: 404 },
  INCOMPATIBLE_SCHEMA: { errorCode: 409, status: 409 },
  INVALID_SCHEMA: { errorCode: 42201, status: 422 },
  INVALID_VERSION: { errorCode: 42202, status: 422 },
  INVALID_COMPATIBILITY_LEVEL: { errorCode: 42203, status: 422 },
  INVALID_MODE: { errorCode: 42204, status: 422 },
  OPERATION_NOT_PERMITTED: { errorCode: 42205, status: 422 },
  REFERENCE_EXISTS: { errorCode: 42206, status: 422 },
  /** edgelog's own (no Confluent code): a request body that is not the expected JSON. */
  INVALID_REQUEST: { errorCode: 400, status: 400 },
  STORE_ERROR: { errorCode: 50001, status: 500 },
  OPERATION_TIMEOUT: { errorCode: 50002, status: 500 },
  /** Client side (serde): a record whose bytes are not Confluent's wire format. */
  UNKNOWN_MAGIC_BYTE: { errorCode: -2001, status: 400 },
  /** Client side (serde): a value that does not match its schema. */
  INVALID_VALUE: { errorCode: -2002, status: 400 },
} as const

export type SchemaErrorCode = keyof typeof SCHEMA_ERRORS

export class SchemaRegistryError extends Error {
  override readonly name = 'SchemaRegistryError'
  readonly code: SchemaErrorCode
  /** Confluent's `error_code` (40401, 42201, …). */
  readonly errorCode: number
  readonly status: number
  readonly retriable: boolean

  constructor(code: SchemaErrorCode, message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.errorCode = SCHEMA_ERRORS[code].errorCode
    this.status = SCHEMA_ERRORS[code].status
    this.retriable = options?.retriable ?? false
  }

  /** Confluent's error body. */
  toJSON(): { error_code: number; message: string } {
    return { error_code: this.errorCode, message: this.message }
  }
}

export function isSchemaRegistryError(e: unknown, code?: SchemaErrorCode): e is SchemaRegistryError {
  const shaped = e instanceof SchemaRegistryError ||
    (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'SchemaRegistryError' && typeof (e as { code?: unknown }).code === 'string')
  return shaped && (code === undefined || (e as SchemaRegistryError).code === code)
}

/** Rebuilds the typed error from a Confluent error body (`{ error_code, message }`). */
export function schemaErrorFromBody(status: number, body: { error_code?: number; message?: string } | undefined): SchemaRegistryError {
  const errorCode = body?.error_code ?? status
  const found = Object.entries(SCHEMA_ERRORS).find(([, d]) => d.errorCode === errorCode)
  const code = (found?.[0] ?? (status >= 500 ? 'STORE_ERROR' : status === 404 ? 'NOT_FOUND' : 'INVALID_REQUEST')) as SchemaErrorCode
  return new SchemaRegistryError(code, body?.message ?? `HTTP ${status}`, { retriable: status >= 500 })
}
